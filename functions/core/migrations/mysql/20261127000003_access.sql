-- Consent and ownership. A user is unconfirmed until a code from a confirmation e-mail is
-- given back; confirming gives an access token, of which only the SHA-256 is kept. Users
-- registered before this migration had been receiving alerts: they stay confirmed (every alert
-- e-mail now carries a one-click unsubscribe), but hold no token until they ask for one by
-- e-mail (RequestAccess, then ConfirmEmail), which proves they own the address.

ALTER TABLE users
    ADD COLUMN confirmed_at_ms    BIGINT        NULL,
    ADD COLUMN token_hash         VARBINARY(32) NULL,
    ADD COLUMN unsubscribed_at_ms BIGINT        NULL,
    ADD UNIQUE KEY users_token (token_hash),
    -- Unconfirmed registrations expire: found by creation time.
    ADD KEY users_unconfirmed (confirmed_at_ms, created_at_ms);

UPDATE users SET confirmed_at_ms = created_at_ms WHERE confirmed_at_ms IS NULL;

-- The one live access code of a user (a new one replaces it), which is also the outbox of its
-- e-mail. The code itself is stored nowhere, not even hashed: it is an HMAC of `nonce` under the
-- deployment's signing key, derived by the access function to check it and by notify to mail
-- it, so a copy of this table gives no code. `sends`/`window_start_ms` count the codes sent in
-- the current hour: the limit against mail bombing an address.
CREATE TABLE IF NOT EXISTS access_codes (
    user_id         BIGINT       NOT NULL,
    email           VARCHAR(254) NOT NULL,
    nonce           VARCHAR(64)  NOT NULL,
    purpose         VARCHAR(16)  NOT NULL,
    expires_at_ms   BIGINT       NOT NULL,
    failed_attempts INT          NOT NULL DEFAULT 0,
    used_at_ms      BIGINT       NULL,
    window_start_ms BIGINT       NOT NULL,
    sends           INT          NOT NULL,
    created_at_ms   BIGINT       NOT NULL,
    published_at_ms BIGINT       NULL,
    mailed_at_ms    BIGINT       NULL,
    PRIMARY KEY (user_id),
    KEY access_codes_outbox (published_at_ms, created_at_ms),
    CONSTRAINT access_codes_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
