-- Same as migrations/mysql/20261127000002_set_based_evaluation.sql.

CREATE TABLE IF NOT EXISTS quote_evaluations (
    ticker         TEXT    NOT NULL PRIMARY KEY,
    market_time_ms INTEGER NOT NULL
);

CREATE INDEX IF NOT EXISTS subscriptions_state_max ON subscriptions (ticker, alert_state, max_price);
CREATE INDEX IF NOT EXISTS subscriptions_state_min ON subscriptions (ticker, alert_state, min_price);

CREATE INDEX IF NOT EXISTS alerts_outbox ON alerts (published_at_ms, created_at_ms, alert_id);
