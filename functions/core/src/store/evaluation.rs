//! Evaluation by sets: a quote costs work in proportion to the watchers whose state it
//! changes, not to all watchers of its ticker. In one transaction: the ticker's last
//! evaluated market time moves forward by compare-and-set (a redelivered or late quote is
//! ignored as a whole, and of two replicas evaluating one quote only one proceeds); the
//! watchers whose state changes are found by index range scans of their thresholds, per
//! state; their states move in a few statements (each still a compare-and-set on the state);
//! the alerts are stored in multi-row statements.

use sqlx::{AnyConnection, Row};

use crate::error::{Error, Result};
use crate::events::ThresholdCrossed;
use crate::store::Backend;

/// A subscription whose state a quote changes: who to alert, and where it stood.
#[derive(Debug, Clone, PartialEq)]
pub struct Watcher {
    pub subscription_id: i64,
    pub email: String,
    pub min_price: Option<f64>,
    pub max_price: Option<f64>,
    /// `armed` (inside the band), `above` or `below`: where the last evaluated price stood.
    pub alert_state: String,
}

/// Rows per multi-row statement: well inside SQLite's 32,766 bound parameters.
const CHUNK: usize = 1_000;

/// Claims the evaluation of `ticker` at `market_time_ms`: `false` when a quote as new or newer
/// was already evaluated (a redelivery, a late quote, another replica).
pub async fn claim(
    conn: &mut AnyConnection,
    backend: Backend,
    ticker: &str,
    market_time_ms: i64,
) -> Result<bool> {
    // The usual case first: the ticker was evaluated before. (MySQL counts the rows a WHERE
    // matched, as sqlx asks it to, so the condition must be in the WHERE.)
    let moved = sqlx::query(
        "UPDATE quote_evaluations SET market_time_ms = ? WHERE ticker = ? AND market_time_ms < ?",
    )
    .bind(market_time_ms)
    .bind(ticker)
    .bind(market_time_ms)
    .execute(&mut *conn)
    .await
    .map_err(|e| Error::db("claim a quote's evaluation", e))?;
    if moved.rows_affected() > 0 {
        return Ok(true);
    }
    // Its first quote, unless one was evaluated already (then that one is as new or newer).
    let sql = format!(
        "{} INTO quote_evaluations (ticker, market_time_ms) VALUES (?, ?)",
        backend.insert_ignore()
    );
    let inserted = sqlx::query(&sql)
        .bind(ticker)
        .bind(market_time_ms)
        .execute(&mut *conn)
        .await
        .map_err(|e| Error::db("claim a quote's evaluation", e))?;
    Ok(inserted.rows_affected() > 0)
}

/// The watchers of `ticker` whose state a price of `price` changes: armed ones now outside
/// their band, and those above or below that are no longer there. Each part is a range scan
/// of an index on (ticker, state, threshold).
pub async fn changing_watchers(
    conn: &mut AnyConnection,
    ticker: &str,
    price: f64,
) -> Result<Vec<Watcher>> {
    const COLUMNS: &str = "s.id, u.email, s.min_price, s.max_price, s.alert_state \
                           FROM subscriptions s JOIN users u ON u.id = s.user_id \
                           WHERE s.ticker = ?";
    let sql = format!(
        // The parts are disjoint (by state; min < max keeps the first two apart).
        "SELECT {COLUMNS} AND s.alert_state = 'armed' AND s.max_price < ? \
         UNION ALL SELECT {COLUMNS} AND s.alert_state = 'armed' AND s.min_price > ? \
         UNION ALL SELECT {COLUMNS} AND s.alert_state = 'above' \
               AND (s.max_price >= ? OR s.max_price IS NULL) \
         UNION ALL SELECT {COLUMNS} AND s.alert_state = 'below' \
               AND (s.min_price <= ? OR s.min_price IS NULL)"
    );
    let mut query = sqlx::query(&sql);
    for _ in 0..4 {
        query = query.bind(ticker).bind(price);
    }
    let rows = query
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| Error::db("load the watchers a quote moves", e))?;
    rows.iter()
        .map(|row| {
            Ok(Watcher {
                subscription_id: row.try_get(0)?,
                email: row.try_get(1)?,
                min_price: row.try_get(2)?,
                max_price: row.try_get(3)?,
                alert_state: row.try_get(4)?,
            })
        })
        .collect::<std::result::Result<_, sqlx::Error>>()
        .map_err(|e| Error::db("read a watcher row", e))
}

/// Moves the subscriptions `ids` from state `from` to `to` for the quote at
/// `market_time_ms`; each still by compare-and-set on `from`. Returns how many moved.
pub async fn move_states(
    conn: &mut AnyConnection,
    ids: &[i64],
    from: &str,
    to: &str,
    market_time_ms: i64,
) -> Result<u64> {
    let mut moved = 0;
    for chunk in ids.chunks(CHUNK) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let sql = format!(
            "UPDATE subscriptions SET alert_state = ?, evaluated_market_time_ms = ? \
             WHERE alert_state = ? AND id IN ({marks})"
        );
        let mut query = sqlx::query(&sql).bind(to).bind(market_time_ms).bind(from);
        for id in chunk {
            query = query.bind(*id);
        }
        let done = query
            .execute(&mut *conn)
            .await
            .map_err(|e| Error::db("move alert states", e))?;
        moved += done.rows_affected();
    }
    Ok(moved)
}

/// Stores alerts (the outbox of their events), many per statement; an id already stored is
/// left as it is.
pub async fn insert_alerts(
    conn: &mut AnyConnection,
    backend: Backend,
    alerts: &[ThresholdCrossed],
    now_ms: i64,
) -> Result<()> {
    for chunk in alerts.chunks(CHUNK / 5) {
        let rows = vec!["(?, ?, ?, ?, ?)"; chunk.len()].join(", ");
        let sql = format!(
            "{} INTO alerts (alert_id, email, ticker, payload, created_at_ms) VALUES {rows}",
            backend.insert_ignore()
        );
        let mut query = sqlx::query(&sql);
        for alert in chunk {
            let payload = serde_json::to_string(alert)
                .map_err(|e| Error::Internal(format!("alert does not serialise: {e}")))?;
            query = query
                .bind(alert.alert_id.clone())
                .bind(alert.email.clone())
                .bind(alert.ticker.clone())
                .bind(payload)
                .bind(now_ms);
        }
        query
            .execute(&mut *conn)
            .await
            .map_err(|e| Error::db("store alerts", e))?;
    }
    Ok(())
}
