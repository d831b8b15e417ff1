//! Stopping a user's alert e-mails from the one-click unsubscribe link (owned by the
//! unsubscribe function). The link names a user by id and is signed over the id and the address
//! (`signing::SigningKey::unsubscribe_token`), so the address is read here to check it, and the
//! update matches both: a link never stops the alerts of a later user who got the same id
//! (SQLite may hand out the id of the newest row again once it is deleted).

use sqlx::Row;

use crate::error::{Error, Result};
use crate::store::Store;

/// The user an unsubscribe link names, as far as the link needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub email: String,
    /// Alerts are already stopped (`users.unsubscribed_at_ms` is set).
    pub unsubscribed: bool,
}

/// The user with this id, or `None` when there is none (deleted, or never registered).
pub async fn recipient(store: &Store, user_id: i64) -> Result<Option<Recipient>> {
    let row = sqlx::query("SELECT email, unsubscribed_at_ms FROM users WHERE id = ?")
        .bind(user_id)
        .fetch_optional(store.pool())
        .await
        .map_err(|e| Error::db("read the user of an unsubscribe link", e))?;
    let Some(row) = row else {
        return Ok(None);
    };
    let read = || -> std::result::Result<Recipient, sqlx::Error> {
        Ok(Recipient {
            email: row.try_get(0)?,
            unsubscribed: row.try_get::<Option<i64>, _>(1)?.is_some(),
        })
    };
    read()
        .map(Some)
        .map_err(|e| Error::db("read the user of an unsubscribe link", e))
}

/// Stops the alert e-mails of the user with this id and address, at `now_ms`. True when this
/// call stopped them; false when they were already stopped or the user is gone (nothing to do
/// either way). The first time is kept: a second call changes nothing.
pub async fn stop_alerts(store: &Store, user_id: i64, email: &str, now_ms: i64) -> Result<bool> {
    let mut tx = store.begin().await?;
    let done = sqlx::query(
        "UPDATE users SET unsubscribed_at_ms = ? \
         WHERE id = ? AND email = ? AND unsubscribed_at_ms IS NULL",
    )
    .bind(now_ms)
    .bind(user_id)
    .bind(email)
    .execute(&mut *tx)
    .await
    .map_err(|e| Error::db("stop a user's alerts", e))?;
    tx.commit()
        .await
        .map_err(|e| Error::db("commit stopping a user's alerts", e))?;
    Ok(done.rows_affected() == 1)
}
