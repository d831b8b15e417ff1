-- Same as migrations/mysql/20261127000003_access.sql, in SQLite's dialect: consent and
-- ownership. Users registered before stay confirmed, without a token until they ask for one.

ALTER TABLE users ADD COLUMN confirmed_at_ms INTEGER NULL;
ALTER TABLE users ADD COLUMN token_hash BLOB NULL;
ALTER TABLE users ADD COLUMN unsubscribed_at_ms INTEGER NULL;
CREATE UNIQUE INDEX IF NOT EXISTS users_token ON users (token_hash);
CREATE INDEX IF NOT EXISTS users_unconfirmed ON users (confirmed_at_ms, created_at_ms);

UPDATE users SET confirmed_at_ms = created_at_ms WHERE confirmed_at_ms IS NULL;

CREATE TABLE IF NOT EXISTS access_codes (
    user_id         INTEGER NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    email           TEXT    NOT NULL,
    nonce           TEXT    NOT NULL,
    purpose         TEXT    NOT NULL,
    expires_at_ms   INTEGER NOT NULL,
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    used_at_ms      INTEGER NULL,
    window_start_ms INTEGER NOT NULL,
    sends           INTEGER NOT NULL,
    created_at_ms   INTEGER NOT NULL,
    published_at_ms INTEGER NULL,
    mailed_at_ms    INTEGER NULL
);

CREATE INDEX IF NOT EXISTS access_codes_outbox ON access_codes (published_at_ms, created_at_ms);
