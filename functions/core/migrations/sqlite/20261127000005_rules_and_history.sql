-- More kinds of alert, per-user delivery settings, and the alert history. See the MySQL
-- migration of the same name for what each column is for.

ALTER TABLE subscriptions ADD COLUMN move_percent REAL NULL;
ALTER TABLE subscriptions ADD COLUMN cooldown_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE subscriptions ADD COLUMN last_mailed_at_ms INTEGER NULL;
CREATE INDEX subscriptions_state_move ON subscriptions (ticker, alert_state, move_percent, user_id);

ALTER TABLE users ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';
ALTER TABLE users ADD COLUMN quiet_start_min INTEGER NULL;
ALTER TABLE users ADD COLUMN quiet_end_min INTEGER NULL;

ALTER TABLE quotes ADD COLUMN previous_close REAL NULL;

ALTER TABLE quote_evaluations ADD COLUMN reference REAL NULL;

ALTER TABLE alerts ADD COLUMN subscription_id INTEGER NULL;
ALTER TABLE alerts ADD COLUMN reference REAL NULL;
CREATE INDEX alerts_user ON alerts (email, created_at_ms);

ALTER TABLE sent_alerts ADD COLUMN due_at_ms INTEGER NULL;
CREATE INDEX sent_alerts_due ON sent_alerts (outcome, due_at_ms);
