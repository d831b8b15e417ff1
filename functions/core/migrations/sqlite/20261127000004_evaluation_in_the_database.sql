-- Same as migrations/mysql/20261127000004_evaluation_in_the_database.sql.

ALTER TABLE quote_evaluations ADD COLUMN price REAL NULL;

UPDATE quote_evaluations SET price = (
    SELECT q.price FROM quotes q
    WHERE q.ticker = quote_evaluations.ticker AND q.market_time_ms = quote_evaluations.market_time_ms
);

DROP INDEX IF EXISTS subscriptions_state_max;
DROP INDEX IF EXISTS subscriptions_state_min;
CREATE INDEX subscriptions_state_max ON subscriptions (ticker, alert_state, max_price, user_id);
CREATE INDEX subscriptions_state_min ON subscriptions (ticker, alert_state, min_price, max_price, user_id);

ALTER TABLE alerts ADD COLUMN price REAL NULL;
ALTER TABLE alerts ADD COLUMN currency TEXT NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN threshold REAL NULL;
ALTER TABLE alerts ADD COLUMN direction TEXT NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN market_time_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE alerts ADD COLUMN simulated INTEGER NOT NULL DEFAULT 0;

UPDATE alerts SET
    price          = json_extract(payload, '$.price'),
    currency       = COALESCE(json_extract(payload, '$.currency'), ''),
    threshold      = json_extract(payload, '$.threshold'),
    direction      = COALESCE(json_extract(payload, '$.direction'), ''),
    market_time_ms = COALESCE(json_extract(payload, '$.market_time_ms'), 0),
    simulated      = COALESCE(json_extract(payload, '$.simulated'), 0);

DROP INDEX IF EXISTS alerts_unpublished;
ALTER TABLE alerts DROP COLUMN payload;
