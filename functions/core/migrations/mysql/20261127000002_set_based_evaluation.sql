-- Evaluation by sets: a quote touches only the watchers whose state it changes. Each ticker
-- keeps the market time of its last evaluated quote (a redelivered or late quote is ignored
-- as a whole, by compare-and-set on this row), and the watchers of a ticker are found by
-- range scans of their thresholds per state.

CREATE TABLE IF NOT EXISTS quote_evaluations (
    ticker         VARCHAR(16) NOT NULL,
    market_time_ms BIGINT      NOT NULL,
    PRIMARY KEY (ticker)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE INDEX subscriptions_state_max ON subscriptions (ticker, alert_state, max_price);
CREATE INDEX subscriptions_state_min ON subscriptions (ticker, alert_state, min_price);

-- The alerts outbox is read oldest first, 500 at a time: in index order, with no sort.
CREATE INDEX alerts_outbox ON alerts (published_at_ms, created_at_ms, alert_id);
