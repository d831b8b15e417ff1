//! Alert state per subscription, the alerts outbox, and what notify has handled.

use sqlx::{Any, AnyConnection, Executor, Row};

use crate::error::{Error, Result};
use crate::events::ThresholdCrossed;
use crate::store::Backend;

/// A subscription to a ticker with at least one threshold: someone to evaluate a quote for.
#[derive(Debug, Clone, PartialEq)]
pub struct Watcher {
    pub subscription_id: i64,
    pub email: String,
    pub ticker: String,
    pub min_price: Option<f64>,
    pub max_price: Option<f64>,
    /// `armed` (inside the band), `above` or `below`: where the last evaluated price stood.
    pub alert_state: String,
    pub evaluated_market_time_ms: Option<i64>,
}

pub async fn watchers<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    ticker: &str,
) -> Result<Vec<Watcher>> {
    let rows = sqlx::query(
        "SELECT s.id, u.email, s.ticker, s.min_price, s.max_price, s.alert_state, \
         s.evaluated_market_time_ms \
         FROM subscriptions s JOIN users u ON u.id = s.user_id \
         WHERE s.ticker = ? AND (s.min_price IS NOT NULL OR s.max_price IS NOT NULL) \
         ORDER BY s.id",
    )
    .bind(ticker)
    .fetch_all(ex)
    .await
    .map_err(|e| Error::db("load the watchers of a ticker", e))?;
    rows.iter()
        .map(|row| {
            Ok(Watcher {
                subscription_id: row.try_get(0)?,
                email: row.try_get(1)?,
                ticker: row.try_get(2)?,
                min_price: row.try_get(3)?,
                max_price: row.try_get(4)?,
                alert_state: row.try_get(5)?,
                evaluated_market_time_ms: row.try_get(6)?,
            })
        })
        .collect::<std::result::Result<_, sqlx::Error>>()
        .map_err(|e| Error::db("read a watcher row", e))
}

/// Moves a subscription from `from` to `to` for a quote at `market_time_ms`, unless another
/// evaluation got there first (a replica, a redelivery) or a newer quote was already seen.
/// `true` when this call made the move.
pub async fn transition(
    conn: &mut AnyConnection,
    subscription_id: i64,
    from: &str,
    to: &str,
    market_time_ms: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE subscriptions SET alert_state = ?, evaluated_market_time_ms = ? \
         WHERE id = ? AND alert_state = ? \
         AND (evaluated_market_time_ms IS NULL OR evaluated_market_time_ms < ?)",
    )
    .bind(to)
    .bind(market_time_ms)
    .bind(subscription_id)
    .bind(from)
    .bind(market_time_ms)
    .execute(&mut *conn)
    .await
    .map_err(|e| Error::db("move an alert state", e))?;
    Ok(done.rows_affected() == 1)
}

pub async fn insert_alert(
    conn: &mut AnyConnection,
    backend: Backend,
    alert: &ThresholdCrossed,
    now_ms: i64,
) -> Result<()> {
    let payload = serde_json::to_string(alert)
        .map_err(|e| Error::Internal(format!("alert does not serialise: {e}")))?;
    let sql = format!(
        "{} INTO alerts (alert_id, email, ticker, payload, created_at_ms) VALUES (?, ?, ?, ?, ?)",
        backend.insert_ignore()
    );
    sqlx::query(&sql)
        .bind(&alert.alert_id)
        .bind(&alert.email)
        .bind(&alert.ticker)
        .bind(payload)
        .bind(now_ms)
        .execute(&mut *conn)
        .await
        .map(|_| ())
        .map_err(|e| Error::db("store an alert", e))
}

/// The stored alert with this id: the source of truth for what notify sends, whatever an
/// event says.
pub async fn find<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    alert_id: &str,
) -> Result<Option<ThresholdCrossed>> {
    let payload: Option<String> =
        sqlx::query_scalar("SELECT payload FROM alerts WHERE alert_id = ?")
            .bind(alert_id)
            .fetch_optional(ex)
            .await
            .map_err(|e| Error::db("load an alert", e))?;
    payload.as_deref().map(parse_payload).transpose()
}

fn parse_payload(payload: &str) -> Result<ThresholdCrossed> {
    serde_json::from_str(payload)
        .map_err(|e| Error::Internal(format!("stored alert does not parse: {e}")))
}

/// Alerts whose event has not been handed to the broker yet, oldest first.
pub async fn unpublished<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    limit: u32,
) -> Result<Vec<ThresholdCrossed>> {
    let payloads: Vec<String> = sqlx::query_scalar(
        "SELECT payload FROM alerts WHERE published_at_ms IS NULL ORDER BY created_at_ms, alert_id LIMIT ?",
    )
    .bind(i64::from(limit))
    .fetch_all(ex)
    .await
    .map_err(|e| Error::db("load unpublished alerts", e))?;
    payloads.iter().map(|p| parse_payload(p)).collect()
}

pub async fn mark_published<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    alert_id: &str,
    now_ms: i64,
) -> Result<()> {
    sqlx::query("UPDATE alerts SET published_at_ms = ? WHERE alert_id = ?")
        .bind(now_ms)
        .bind(alert_id)
        .execute(ex)
        .await
        .map(|_| ())
        .map_err(|e| Error::db("mark an alert published", e))
}

/// Ids of alerts handed to the in-process bus before `before_ms` that notify never handled:
/// the bus keeps nothing across a restart, so these are delivered again from here.
pub async fn published_unhandled<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    before_ms: i64,
) -> Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT a.alert_id FROM alerts a LEFT JOIN sent_alerts s ON s.alert_id = a.alert_id \
         WHERE s.alert_id IS NULL AND a.published_at_ms IS NOT NULL AND a.published_at_ms < ? \
         ORDER BY a.created_at_ms, a.alert_id",
    )
    .bind(before_ms)
    .fetch_all(ex)
    .await
    .map_err(|e| Error::db("load undelivered alerts", e))
}

/// How notify handled an alert (`sent`, `dead_letter`), if it did.
pub async fn handled<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    alert_id: &str,
) -> Result<Option<String>> {
    sqlx::query_scalar("SELECT outcome FROM sent_alerts WHERE alert_id = ?")
        .bind(alert_id)
        .fetch_optional(ex)
        .await
        .map_err(|e| Error::db("look up a handled alert", e))
}

pub async fn record_handled<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    backend: Backend,
    alert_id: &str,
    outcome: &str,
    detail: Option<&str>,
    now_ms: i64,
) -> Result<()> {
    let sql = format!(
        "{} INTO sent_alerts (alert_id, outcome, detail, handled_at_ms) VALUES (?, ?, ?, ?)",
        backend.insert_ignore()
    );
    sqlx::query(&sql)
        .bind(alert_id)
        .bind(outcome)
        .bind(detail)
        .bind(now_ms)
        .execute(ex)
        .await
        .map(|_| ())
        .map_err(|e| Error::db("record a handled alert", e))
}
