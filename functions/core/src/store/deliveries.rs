//! How notify delivers an alert beyond consent: the watch's cooldown (at most one e-mail per
//! period, claimed by compare-and-set so replicas agree) and the user's quiet hours (alerts
//! held, `sent_alerts.outcome = 'held'` with `due_at_ms`, then mailed as one digest: see
//! [`super::sending`] for how a digest claims them).

use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

use crate::error::{Error, Result};

/// The recipient of an alert or a digest, with what decides how it is delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub user_id: i64,
    pub confirmed: bool,
    pub unsubscribed: bool,
    /// `users.time_zone`, as stored (an IANA name).
    pub time_zone: String,
    /// `users.quiet_start_min`, `users.quiet_end_min`: both or neither.
    pub quiet_start_min: Option<i64>,
    pub quiet_end_min: Option<i64>,
    /// The watch that alerted, when it was asked for and is still this user's.
    pub watch: Option<Watch>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watch {
    pub id: i64,
    /// 0: no cooldown.
    pub cooldown_ms: i64,
    pub last_mailed_at_ms: Option<i64>,
}

/// The columns of a recipient (`users u`, `subscriptions s`), in the order [`read_recipient`]
/// takes them.
pub(crate) const RECIPIENT_COLUMNS: &str =
    "u.id, u.confirmed_at_ms, u.unsubscribed_at_ms, u.time_zone, u.quiet_start_min, \
     u.quiet_end_min, s.id, s.cooldown_ms, s.last_mailed_at_ms";

/// The user with address `email` and, with `watch`, that watch of theirs; `None` when no user
/// has the address (any more). One read for everything notify decides on.
pub async fn recipient<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    email: &str,
    watch: Option<i64>,
) -> Result<Option<Recipient>> {
    let row = sqlx::query(&format!(
        "SELECT {RECIPIENT_COLUMNS} \
         FROM users u LEFT JOIN subscriptions s ON s.id = ? AND s.user_id = u.id \
         WHERE u.email = ?"
    ))
    .bind(watch)
    .bind(email)
    .fetch_optional(ex)
    .await
    .map_err(|e| Error::db("look up an alert's recipient", e))?;
    match row {
        Some(row) => read_recipient(&row, 0),
        None => Ok(None),
    }
}

/// The recipient in [`RECIPIENT_COLUMNS`] from column `at` on; `None` when the user is
/// missing (a NULL id: an outer join found nobody).
pub(crate) fn read_recipient(row: &AnyRow, at: usize) -> Result<Option<Recipient>> {
    let read = || -> std::result::Result<_, sqlx::Error> {
        let Some(user_id) = row.try_get::<Option<i64>, _>(at)? else {
            return Ok(None);
        };
        let watch = match row.try_get::<Option<i64>, _>(at + 6)? {
            Some(id) => Some(Watch {
                id,
                cooldown_ms: row.try_get(at + 7)?,
                last_mailed_at_ms: row.try_get(at + 8)?,
            }),
            None => None,
        };
        Ok(Some(Recipient {
            user_id,
            confirmed: row.try_get::<Option<i64>, _>(at + 1)?.is_some(),
            unsubscribed: row.try_get::<Option<i64>, _>(at + 2)?.is_some(),
            time_zone: row.try_get(at + 3)?,
            quiet_start_min: row.try_get(at + 4)?,
            quiet_end_min: row.try_get(at + 5)?,
            watch,
        }))
    };
    read().map_err(|e| Error::db("read a recipient row", e))
}

/// Claims the watch's next e-mail at `now_ms`: true when its cooldown has passed since the
/// last one (and it is marked mailed now), false when another alert of it was mailed within
/// the cooldown. One statement, so two replicas never both claim.
pub async fn claim_cooldown<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    watch: i64,
    now_ms: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE subscriptions SET last_mailed_at_ms = ? WHERE id = ? AND cooldown_ms > 0 \
         AND (last_mailed_at_ms IS NULL OR last_mailed_at_ms <= ? - cooldown_ms)",
    )
    .bind(now_ms)
    .bind(watch)
    .bind(now_ms)
    .execute(ex)
    .await
    .map_err(|e| Error::db("claim a watch's cooldown", e))?;
    Ok(done.rows_affected() == 1)
}

/// Gives back a claim made at `claimed_at_ms` whose e-mail could not go out (the mail server
/// away): the alert is delivered again later and must find the watch as before. A claim made
/// since by another alert is left alone.
pub async fn release_cooldown<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    watch: i64,
    claimed_at_ms: i64,
    previous_ms: Option<i64>,
) -> Result<()> {
    sqlx::query(
        "UPDATE subscriptions SET last_mailed_at_ms = ? WHERE id = ? AND last_mailed_at_ms = ?",
    )
    .bind(previous_ms)
    .bind(watch)
    .bind(claimed_at_ms)
    .execute(ex)
    .await
    .map(|_| ())
    .map_err(|e| Error::db("release a watch's cooldown", e))
}

/// Addresses with alerts held until `as_of_ms` or earlier (or claimed by a digest whose claim
/// ran out by then: its notify stopped), in order, after `after` when given, at most `limit`:
/// the digest function reads them in batches.
pub async fn due_recipients<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    as_of_ms: i64,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<String>> {
    let from = if after.is_some() {
        "AND a.email > ?"
    } else {
        ""
    };
    let sql = format!(
        "SELECT DISTINCT a.email FROM sent_alerts s JOIN alerts a ON a.alert_id = s.alert_id \
         WHERE s.due_at_ms <= ? \
         AND (s.outcome = 'held' OR (s.outcome = 'sending' AND s.lease_until_ms < ?)) \
         {from} ORDER BY a.email LIMIT ?"
    );
    let mut query = sqlx::query_scalar(&sql).bind(as_of_ms).bind(as_of_ms);
    if let Some(after) = after {
        query = query.bind(after);
    }
    query
        .bind(i64::from(limit))
        .fetch_all(ex)
        .await
        .map_err(|e| Error::db("load the addresses of due digests", e))
}
