//! A user's alerts as they look back on them: what each was about and what became of its
//! e-mail; and the removal of them all with the user. Alerts are keyed by e-mail (the address
//! they were for), not by user id, so both go through the `alerts_user (email, created_at_ms)`
//! index.

use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Executor, Row};

use crate::domain::{Email, Ticker};
use crate::error::{Error, Result};
use crate::store::Backend;

/// One alert with the row notify left for it, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct PastAlert {
    pub alert_id: String,
    pub ticker: String,
    /// "above", "below", "up", "down".
    pub direction: String,
    /// NULL (not finite when stored) reads as `None`.
    pub price: Option<f64>,
    pub currency: String,
    pub threshold: Option<f64>,
    /// The previous close a percent move is measured against.
    pub reference: Option<f64>,
    pub market_time_ms: i64,
    pub created_at_ms: i64,
    pub simulated: bool,
    /// `None` while notify has not handled it.
    pub handled: Option<Handled>,
}

/// What notify recorded for an alert (`sent_alerts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    /// "sent", "dead_letter", "suppressed", "cooldown", "held".
    pub outcome: String,
    pub detail: Option<String>,
    pub at_ms: i64,
    /// For "held": when the quiet hours end.
    pub due_at_ms: Option<i64>,
}

/// The user's alerts, newest first (by creation, then id: a stable order for alerts made in
/// the same millisecond), of one ticker when given, at most `limit`. A range of `alerts_user`
/// read backwards, each joined to its `sent_alerts` row by primary key.
pub async fn list<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    email: &Email,
    ticker: Option<&Ticker>,
    limit: u32,
) -> Result<Vec<PastAlert>> {
    let filter = if ticker.is_some() {
        " AND a.ticker = ?"
    } else {
        ""
    };
    let sql = format!(
        "SELECT a.alert_id, a.ticker, a.direction, a.price, a.currency, a.threshold, \
         a.reference, a.market_time_ms, a.created_at_ms, a.simulated, \
         s.outcome, s.detail, s.handled_at_ms, s.due_at_ms \
         FROM alerts a LEFT JOIN sent_alerts s ON s.alert_id = a.alert_id \
         WHERE a.email = ?{filter} \
         ORDER BY a.created_at_ms DESC, a.alert_id DESC LIMIT ?"
    );
    let mut query = sqlx::query(&sql).bind(email.as_str());
    if let Some(t) = ticker {
        query = query.bind(t.as_str());
    }
    let rows = query
        .bind(i64::from(limit))
        .fetch_all(ex)
        .await
        .map_err(|e| Error::db("load the alerts of a user", e))?;
    rows.iter()
        .map(from_row)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::db("read an alert row", e))
}

fn from_row(row: &AnyRow) -> std::result::Result<PastAlert, sqlx::Error> {
    let outcome: Option<String> = row.try_get(10)?;
    let handled = match outcome {
        None => None,
        Some(outcome) => Some(Handled {
            outcome,
            detail: row.try_get(11)?,
            at_ms: row.try_get(12)?,
            due_at_ms: row.try_get(13)?,
        }),
    };
    Ok(PastAlert {
        alert_id: row.try_get(0)?,
        ticker: row.try_get(1)?,
        direction: row.try_get(2)?,
        price: row.try_get(3)?,
        currency: row.try_get(4)?,
        threshold: row.try_get(5)?,
        reference: row.try_get(6)?,
        market_time_ms: row.try_get(7)?,
        created_at_ms: row.try_get(8)?,
        simulated: row.try_get::<i64, _>(9)? != 0,
        handled,
    })
}

/// Removes every alert made for `email` and notify's record of each: the personal data a
/// deleted user leaves in the alert tables. Run in the transaction that deletes the user. An
/// alert still on its way to notify is then unknown to it, and dropped without an e-mail.
/// Returns how many alerts went.
pub async fn delete_user_alerts(conn: &mut AnyConnection, email: &str) -> Result<u64> {
    // The records first, found through the alerts they belong to. MariaDB before 11.1 runs a
    // single-table `DELETE … WHERE alert_id IN (SELECT …)` as a scan of all of `sent_alerts`
    // (locking each row it reads until the commit), so MySQL gets the multi-table form, which
    // starts from the user's alerts (`alerts_user`) and looks their records up by key.
    let sql = if Backend::of(conn) == Backend::MySql {
        "DELETE s FROM sent_alerts s JOIN alerts a ON a.alert_id = s.alert_id WHERE a.email = ?"
    } else {
        "DELETE FROM sent_alerts WHERE alert_id IN (SELECT alert_id FROM alerts WHERE email = ?)"
    };
    sqlx::query(sql)
        .bind(email)
        .execute(&mut *conn)
        .await
        .map_err(|e| Error::db("delete the delivery records of a user's alerts", e))?;
    let deleted = sqlx::query("DELETE FROM alerts WHERE email = ?")
        .bind(email)
        .execute(&mut *conn)
        .await
        .map_err(|e| Error::db("delete a user's alerts", e))?;
    Ok(deleted.rows_affected())
}
