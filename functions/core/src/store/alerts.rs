//! The alerts outbox, and what notify has handled.

use sqlx::{Any, Executor, Row};

use crate::error::{Error, Result};
use crate::events::ThresholdCrossed;
use crate::store::Backend;

/// What notify needs of an alert, in one read: the stored alert (the source of truth for what
/// is sent, whatever an event says) and whether it was already handled. `None`: no alert with
/// this id was ever stored.
pub struct StoredAlert {
    pub alert: ThresholdCrossed,
    pub handled: bool,
}

pub async fn find<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    alert_id: &str,
) -> Result<Option<StoredAlert>> {
    let row = sqlx::query(
        "SELECT a.payload, s.outcome FROM alerts a \
         LEFT JOIN sent_alerts s ON s.alert_id = a.alert_id WHERE a.alert_id = ?",
    )
    .bind(alert_id)
    .fetch_optional(ex)
    .await
    .map_err(|e| Error::db("load an alert", e))?;
    let Some(row) = row else { return Ok(None) };
    let read = || -> std::result::Result<(String, Option<String>), sqlx::Error> {
        Ok((row.try_get(0)?, row.try_get(1)?))
    };
    let (payload, outcome) = read().map_err(|e| Error::db("read an alert row", e))?;
    Ok(Some(StoredAlert {
        alert: parse_payload(&payload)?,
        handled: outcome.is_some(),
    }))
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
    alert_ids: &[&str],
    now_ms: i64,
) -> Result<()> {
    if alert_ids.is_empty() {
        return Ok(());
    }
    let marks = vec!["?"; alert_ids.len()].join(", ");
    let sql = format!("UPDATE alerts SET published_at_ms = ? WHERE alert_id IN ({marks})");
    let mut query = sqlx::query(&sql).bind(now_ms);
    for id in alert_ids {
        query = query.bind(*id);
    }
    query
        .execute(ex)
        .await
        .map(|_| ())
        .map_err(|e| Error::db("mark alerts published", e))
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
