-- More kinds of alert, per-user delivery settings, and the alert history.
--
-- Percent move: a watch may alert when the price moved at least `move_percent` % up or down
-- against the previous close the market data service reports with each quote (kept on the
-- quote, and on the ticker's last evaluation beside its price, so a tracking subscription's
-- last position is known as for the price thresholds). An index per state finds the crossing
-- ones by range, like the thresholds' indexes.
--
-- Cooldown: at most one alert e-mail per watch per `cooldown_ms` (0: none); notify claims the
-- watch's `last_mailed_at_ms` by compare-and-set before it mails, so replicas agree.
--
-- Quiet hours: minutes of the day [start, end) in the user's IANA time zone, during which
-- alerts are held (sent_alerts outcome `held`, due at the end) and then mailed as one digest.
--
-- History: alerts name their subscription and reference price, and are found per user,
-- newest first. A held alert is found by when it is due.

ALTER TABLE subscriptions
    ADD COLUMN move_percent      DOUBLE NULL,
    ADD COLUMN cooldown_ms       BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN last_mailed_at_ms BIGINT NULL,
    ADD INDEX subscriptions_state_move (ticker, alert_state, move_percent, user_id);

ALTER TABLE users
    ADD COLUMN time_zone       VARCHAR(64) NOT NULL DEFAULT 'UTC',
    ADD COLUMN quiet_start_min INT NULL,
    ADD COLUMN quiet_end_min   INT NULL;

ALTER TABLE quotes ADD COLUMN previous_close DOUBLE NULL;

ALTER TABLE quote_evaluations ADD COLUMN reference DOUBLE NULL;

ALTER TABLE alerts
    ADD COLUMN subscription_id BIGINT NULL,
    ADD COLUMN reference       DOUBLE NULL,
    ADD INDEX alerts_user (email, created_at_ms);

ALTER TABLE sent_alerts
    ADD COLUMN due_at_ms BIGINT NULL,
    ADD INDEX sent_alerts_due (outcome, due_at_ms);
