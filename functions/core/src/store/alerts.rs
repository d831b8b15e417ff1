//! The alerts outbox, and what notify has handled. An alert is stored as columns (no JSON to
//! write or parse), so evaluate stores a quote's alerts with `INSERT … SELECT`.

use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

use crate::error::{Error, Result};
use crate::events::{Direction, ThresholdCrossed};
use crate::store::deliveries::{read_recipient, Recipient, RECIPIENT_COLUMNS};

/// What notify needs of an alert, in one read: the stored alert (the source of truth for what
/// is sent, whatever an event says) and whether it was already handled (recorded; a claim of a
/// notify still sending it is not). `None`: no alert with this id was ever stored.
pub struct StoredAlert {
    pub alert: ThresholdCrossed,
    pub handled: bool,
}

/// The columns of an alert, in the order [`read`] takes them.
const COLUMNS: &str = "a.alert_id, a.email, a.ticker, a.price, a.currency, a.threshold, \
                       a.direction, a.market_time_ms, a.simulated, a.subscription_id, \
                       a.reference";
/// How many [`COLUMNS`] there are: the index of the first column after them.
const AFTER_COLUMNS: usize = 11;

pub async fn find<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    alert_id: &str,
) -> Result<Option<StoredAlert>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS}, s.outcome FROM alerts a \
         LEFT JOIN sent_alerts s ON s.alert_id = a.alert_id WHERE a.alert_id = ?"
    ))
    .bind(alert_id)
    .fetch_optional(ex)
    .await
    .map_err(|e| Error::db("load an alert", e))?;
    let Some(row) = row else { return Ok(None) };
    let outcome: Option<String> = row
        .try_get(AFTER_COLUMNS)
        .map_err(|e| Error::db("read an alert row", e))?;
    Ok(Some(StoredAlert {
        alert: read(&row)?,
        handled: outcome.is_some_and(|o| o != "sending"),
    }))
}

/// A stored alert and its recipient (the user with its address, and the watch `watch` names
/// when the alert does not name one), in one read; `None`: no alert with this id is stored.
/// notify reads this once it has claimed the alert.
pub async fn find_with_recipient<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    alert_id: &str,
    watch: Option<i64>,
) -> Result<Option<(ThresholdCrossed, Option<Recipient>)>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS}, {RECIPIENT_COLUMNS} FROM alerts a \
         LEFT JOIN users u ON u.email = a.email \
         LEFT JOIN subscriptions s ON s.id = COALESCE(a.subscription_id, ?) \
         AND s.user_id = u.id WHERE a.alert_id = ?"
    ))
    .bind(watch)
    .bind(alert_id)
    .fetch_optional(ex)
    .await
    .map_err(|e| Error::db("load an alert and its recipient", e))?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some((read(&row)?, read_recipient(&row, AFTER_COLUMNS)?)))
}

/// An alert row. A price or threshold stored as NULL (not a finite number), an unknown
/// direction, or a move without the previous close it was measured from is a row no e-mail
/// can be made of: an internal error, as a payload that did not parse was before alerts had
/// columns.
fn read(row: &AnyRow) -> Result<ThresholdCrossed> {
    type Cols = (
        String,
        String,
        String,
        Option<f64>,
        String,
        Option<f64>,
        String,
        i64,
        i64,
        Option<i64>,
        Option<f64>,
    );
    let cols = || -> std::result::Result<Cols, sqlx::Error> {
        Ok((
            row.try_get(0)?,
            row.try_get(1)?,
            row.try_get(2)?,
            row.try_get(3)?,
            row.try_get(4)?,
            row.try_get(5)?,
            row.try_get(6)?,
            row.try_get(7)?,
            row.try_get(8)?,
            row.try_get(9)?,
            row.try_get(10)?,
        ))
    };
    let (
        alert_id,
        email,
        ticker,
        price,
        currency,
        threshold,
        direction,
        time,
        simulated,
        subscription_id,
        reference,
    ) = cols().map_err(|e| Error::db("read an alert row", e))?;
    let Some(direction) = Direction::parse(&direction) else {
        return Err(Error::Internal(format!(
            "stored alert {alert_id} has direction {direction:?}"
        )));
    };
    let (Some(price), Some(threshold)) = (price, threshold) else {
        return Err(Error::Internal(format!(
            "stored alert {alert_id} has no price or threshold"
        )));
    };
    if direction.is_move() && reference.is_none() {
        return Err(Error::Internal(format!(
            "stored alert {alert_id} is a move without a previous close"
        )));
    }
    Ok(ThresholdCrossed {
        alert_id,
        email,
        ticker,
        price,
        currency,
        threshold,
        direction,
        market_time_ms: time,
        simulated: simulated != 0,
        subscription_id,
        reference,
    })
}

/// Where a read of the outbox stopped: the last alert read, in outbox order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxCursor {
    created_at_ms: i64,
    alert_id: String,
}

/// Up to `limit` alerts whose event has not been handed to the broker yet, oldest first (in
/// the order of the `alerts_outbox` index: no sort), after `after` when given; and the
/// cursor of the last one. Reading on from a cursor does not wait for the batch before it to
/// be marked published (an alert that commits behind a cursor is found by a read from the
/// start).
pub async fn unpublished<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    after: Option<&OutboxCursor>,
    limit: u32,
) -> Result<(Vec<ThresholdCrossed>, Option<OutboxCursor>)> {
    let from = if after.is_some() {
        "AND (a.created_at_ms > ? OR (a.created_at_ms = ? AND a.alert_id > ?))"
    } else {
        ""
    };
    let sql = format!(
        "SELECT {COLUMNS}, a.created_at_ms FROM alerts a WHERE a.published_at_ms IS NULL {from} \
         ORDER BY a.created_at_ms, a.alert_id LIMIT ?"
    );
    let mut query = sqlx::query(&sql);
    if let Some(c) = after {
        query = query
            .bind(c.created_at_ms)
            .bind(c.created_at_ms)
            .bind(c.alert_id.as_str());
    }
    let rows = query
        .bind(i64::from(limit))
        .fetch_all(ex)
        .await
        .map_err(|e| Error::db("load unpublished alerts", e))?;
    let alerts = rows.iter().map(read).collect::<Result<Vec<_>>>()?;
    let cursor = match (rows.last(), alerts.last()) {
        (Some(row), Some(alert)) => Some(OutboxCursor {
            created_at_ms: row
                .try_get(AFTER_COLUMNS)
                .map_err(|e| Error::db("read an alert row", e))?,
            alert_id: alert.alert_id.clone(),
        }),
        _ => None,
    };
    Ok((alerts, cursor))
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
/// Ids of alerts handed to the in-process bus before `before_ms` that notify never handled
/// (none recorded, or only claimed by a run that stopped while mailing them): the bus keeps
/// nothing across a restart, so these are delivered again from here.
pub async fn published_unhandled<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    before_ms: i64,
) -> Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT a.alert_id FROM alerts a LEFT JOIN sent_alerts s ON s.alert_id = a.alert_id \
         WHERE (s.alert_id IS NULL OR (s.outcome = 'sending' AND s.due_at_ms IS NULL)) \
         AND a.published_at_ms IS NOT NULL AND a.published_at_ms < ? \
         ORDER BY a.created_at_ms, a.alert_id",
    )
    .bind(before_ms)
    .fetch_all(ex)
    .await
    .map_err(|e| Error::db("load undelivered alerts", e))
}
