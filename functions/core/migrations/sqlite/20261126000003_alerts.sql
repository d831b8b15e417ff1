-- Same as migrations/mysql/20261126000003_alerts.sql.

ALTER TABLE subscriptions ADD COLUMN alert_state TEXT NOT NULL DEFAULT 'armed';
ALTER TABLE subscriptions ADD COLUMN evaluated_market_time_ms INTEGER NULL;

CREATE TABLE IF NOT EXISTS alerts (
    alert_id        TEXT    NOT NULL PRIMARY KEY,
    email           TEXT    NOT NULL,
    ticker          TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    created_at_ms   INTEGER NOT NULL,
    published_at_ms INTEGER NULL
);
CREATE INDEX IF NOT EXISTS alerts_unpublished ON alerts (published_at_ms);

CREATE TABLE IF NOT EXISTS sent_alerts (
    alert_id      TEXT    NOT NULL PRIMARY KEY,
    outcome       TEXT    NOT NULL,
    detail        TEXT    NULL,
    handled_at_ms INTEGER NOT NULL
);
