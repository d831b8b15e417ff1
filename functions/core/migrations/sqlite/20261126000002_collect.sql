-- Same as migrations/mysql/20261126000002_collect.sql.

ALTER TABLE quotes ADD COLUMN simulated INTEGER NOT NULL DEFAULT 0;
ALTER TABLE quotes ADD COLUMN published_at_ms INTEGER NULL;
CREATE INDEX IF NOT EXISTS quotes_unpublished ON quotes (published_at_ms);

CREATE TABLE IF NOT EXISTS unknown_symbols (
    ticker     TEXT    NOT NULL PRIMARY KEY,
    seen_at_ms INTEGER NOT NULL
);
