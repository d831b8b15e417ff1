-- Users, their subscriptions (one per user today; the table allows several later),
-- collected quotes, and the idempotency records of commands.

CREATE TABLE IF NOT EXISTS users (
    id            BIGINT       NOT NULL AUTO_INCREMENT,
    email         VARCHAR(254) NOT NULL,
    created_at_ms BIGINT       NOT NULL,
    updated_at_ms BIGINT       NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY users_email (email)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS subscriptions (
    id            BIGINT      NOT NULL AUTO_INCREMENT,
    user_id       BIGINT      NOT NULL,
    ticker        VARCHAR(16) NOT NULL,
    min_price     DOUBLE      NULL,
    max_price     DOUBLE      NULL,
    created_at_ms BIGINT      NOT NULL,
    updated_at_ms BIGINT      NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY subscriptions_user_ticker (user_id, ticker),
    KEY subscriptions_ticker (ticker),
    CONSTRAINT subscriptions_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Clustered on (ticker, market time): "latest" and "last N" of a ticker are one backward
-- range scan of the primary key, and a repeated market time is rejected by the key itself.
CREATE TABLE IF NOT EXISTS quotes (
    ticker          VARCHAR(16) NOT NULL,
    market_time_ms  BIGINT      NOT NULL,
    price           DOUBLE      NOT NULL,
    currency        VARCHAR(8)  NOT NULL,
    collected_at_ms BIGINT      NOT NULL,
    PRIMARY KEY (ticker, market_time_ms)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS idempotency_keys (
    idem_key      VARCHAR(128) NOT NULL,
    method        VARCHAR(64)  NOT NULL,
    request_hash  CHAR(64)     NOT NULL,
    response      BLOB         NULL,
    created_at_ms BIGINT       NOT NULL,
    expires_at_ms BIGINT       NOT NULL,
    PRIMARY KEY (idem_key),
    KEY idempotency_keys_expires (expires_at_ms)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
