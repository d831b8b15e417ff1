-- Same version as migrations/mysql/20261127000001_binary_idempotency_keys.sql, so both
-- dialects keep one list of migrations. SQLite's default BINARY collation already compares
-- idempotency keys byte for byte ("k" and "k " are two keys): nothing to change.
SELECT 1;
