-- Same schema as migrations/mysql, in SQLite's dialect.

CREATE TABLE IF NOT EXISTS users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT    NOT NULL UNIQUE,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS subscriptions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    ticker        TEXT    NOT NULL,
    min_price     REAL    NULL,
    max_price     REAL    NULL,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    UNIQUE (user_id, ticker)
);

CREATE INDEX IF NOT EXISTS subscriptions_ticker ON subscriptions (ticker);

CREATE TABLE IF NOT EXISTS quotes (
    ticker          TEXT    NOT NULL,
    market_time_ms  INTEGER NOT NULL,
    price           REAL    NOT NULL,
    currency        TEXT    NOT NULL,
    collected_at_ms INTEGER NOT NULL,
    PRIMARY KEY (ticker, market_time_ms)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS idempotency_keys (
    idem_key      TEXT    NOT NULL PRIMARY KEY,
    method        TEXT    NOT NULL,
    request_hash  TEXT    NOT NULL,
    response      BLOB    NULL,
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL
);

CREATE INDEX IF NOT EXISTS idempotency_keys_expires ON idempotency_keys (expires_at_ms);
