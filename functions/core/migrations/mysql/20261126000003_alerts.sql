-- Edge-triggered alerts. Each subscription remembers where the last evaluated price stood
-- (armed = inside the band, above, below) and the market time it was evaluated at, so
-- redeliveries, restarts and replicas never alert twice. Alerts are an outbox for their
-- events; sent_alerts records what notify has handled, so a redelivered alert mails nobody.

ALTER TABLE subscriptions
    ADD COLUMN alert_state             VARCHAR(8) NOT NULL DEFAULT 'armed',
    ADD COLUMN evaluated_market_time_ms BIGINT    NULL;

CREATE TABLE IF NOT EXISTS alerts (
    alert_id        VARCHAR(64)  NOT NULL,
    email           VARCHAR(254) NOT NULL,
    ticker          VARCHAR(16)  NOT NULL,
    -- VARCHAR, not TEXT: sqlx's Any driver reads MySQL TEXT as bytes.
    payload         VARCHAR(4000) NOT NULL,
    created_at_ms   BIGINT       NOT NULL,
    published_at_ms BIGINT       NULL,
    PRIMARY KEY (alert_id),
    KEY alerts_unpublished (published_at_ms)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS sent_alerts (
    alert_id   VARCHAR(64) NOT NULL,
    outcome    VARCHAR(16) NOT NULL,
    detail     VARCHAR(1000) NULL,
    handled_at_ms BIGINT   NOT NULL,
    PRIMARY KEY (alert_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
