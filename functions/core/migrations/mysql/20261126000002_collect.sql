-- The collector: quotes are an outbox for their events (published_at_ms stays NULL until the
-- quote's event is handed to the broker), simulated prices are marked, and symbols Yahoo does
-- not know are recorded.

ALTER TABLE quotes
    ADD COLUMN simulated       BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN published_at_ms BIGINT NULL,
    ADD KEY quotes_unpublished (published_at_ms);

CREATE TABLE IF NOT EXISTS unknown_symbols (
    ticker     VARCHAR(16) NOT NULL,
    seen_at_ms BIGINT      NOT NULL,
    PRIMARY KEY (ticker)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
