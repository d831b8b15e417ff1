-- Idempotency keys compare byte for byte: under a PAD SPACE collation ("k" = "k ") two
-- different keys were one, so a client's second command could replay another's response.
ALTER TABLE idempotency_keys MODIFY idem_key VARBINARY(128) NOT NULL;
