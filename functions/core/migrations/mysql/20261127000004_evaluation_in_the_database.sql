-- Evaluation computed by the database (functions/core/src/store/evaluation.rs).
--
-- Each ticker keeps the price of its last evaluated quote. A subscription evaluated at that
-- price is `tracking`: where it stands is where that price stands, so a new quote alerts it
-- when one of its thresholds lies between the two prices (a range scan of the existing
-- (ticker, alert_state, threshold) indexes), and moving back inside writes nothing. `armed`
-- (set by a change of ticker or thresholds) and the `above`/`below` of rows evaluated
-- before this migration are evaluated against that state once more, then become tracking.
-- Existing quote_evaluations rows take the price of the quote they name. The two indexes
-- also hold what the alerts are made of (user_id, and max_price for the lower side), so a
-- crossing reads no subscription row.
--
-- Alerts become columns instead of a JSON payload, so a quote's alerts are stored by
-- INSERT … SELECT and the outbox is read without parsing; existing alerts keep what their
-- payload said. Price and threshold are NULL where the value was not a finite number (JSON
-- has no NaN); such a row is refused when read, as its payload was. The index on
-- published_at_ms alone goes: alerts_outbox starts with that column, and one index fewer is
-- one write fewer for every alert stored and published.

ALTER TABLE quote_evaluations ADD COLUMN price DOUBLE NULL;

UPDATE quote_evaluations e
    JOIN quotes q ON q.ticker = e.ticker AND q.market_time_ms = e.market_time_ms
    SET e.price = q.price;

ALTER TABLE subscriptions
    DROP INDEX subscriptions_state_max,
    DROP INDEX subscriptions_state_min,
    ADD INDEX subscriptions_state_max (ticker, alert_state, max_price, user_id),
    ADD INDEX subscriptions_state_min (ticker, alert_state, min_price, max_price, user_id);

ALTER TABLE alerts
    ADD COLUMN price          DOUBLE      NULL,
    ADD COLUMN currency       VARCHAR(16) NOT NULL DEFAULT '',
    ADD COLUMN threshold      DOUBLE      NULL,
    ADD COLUMN direction      VARCHAR(8)  NOT NULL DEFAULT '',
    ADD COLUMN market_time_ms BIGINT      NOT NULL DEFAULT 0,
    ADD COLUMN simulated      BIGINT      NOT NULL DEFAULT 0;

-- JSON_VALUE gives NULL for a JSON null; a boolean is compared as JSON text, which reads the
-- same on MariaDB and MySQL.
UPDATE alerts SET
    price          = JSON_VALUE(payload, '$.price') + 0e0,
    currency       = COALESCE(JSON_VALUE(payload, '$.currency'), ''),
    threshold      = JSON_VALUE(payload, '$.threshold') + 0e0,
    direction      = COALESCE(JSON_VALUE(payload, '$.direction'), ''),
    market_time_ms = COALESCE(CAST(JSON_VALUE(payload, '$.market_time_ms') AS SIGNED), 0),
    simulated      = COALESCE(JSON_UNQUOTE(JSON_EXTRACT(payload, '$.simulated')) = 'true', 0);

ALTER TABLE alerts DROP COLUMN payload, DROP INDEX alerts_unpublished;
