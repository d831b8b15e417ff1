//! Access codes: each user's one live code (its nonce, expiry, tries and the hourly count of
//! codes sent), which is also the outbox of the code's e-mail. See [`crate::access`].

use sqlx::{Any, AnyConnection, Executor, Row};

use crate::access::{next_send, random_nonce, AccessPolicy, SendWindow, StoredCode};
use crate::error::{Error, Result};
use crate::store::Backend;

/// Why a code is sent; the e-mail says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The first code of a registration.
    Confirm,
    /// A new code asked for with RequestAccess.
    Access,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirm => "confirm",
            Self::Access => "access",
        }
    }
}

/// A code whose e-mail is to be sent: what its event carries.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingCode {
    pub user_id: i64,
    pub email: String,
    pub nonce: String,
    pub purpose: String,
    pub expires_at_ms: i64,
}

/// A code just issued: what its e-mail event names, and when it expires.
#[derive(Debug, Clone, PartialEq)]
pub struct Issued {
    pub user_id: i64,
    pub nonce: String,
    pub expires_at_ms: i64,
}

/// Issues a new code for the user (replacing any earlier one, which stops working), unless the
/// address had its codes for this hour: then RESOURCE_EXHAUSTED with the wait. `fresh`: the
/// user was created in this transaction, so it has no code yet.
#[allow(clippy::too_many_arguments)]
pub async fn issue(
    conn: &mut AnyConnection,
    backend: Backend,
    user_id: i64,
    email: &str,
    purpose: Purpose,
    fresh: bool,
    policy: &AccessPolicy,
    now_ms: i64,
) -> Result<Issued> {
    let previous = if fresh {
        None
    } else {
        let sql = format!(
            "SELECT window_start_ms, sends FROM access_codes WHERE user_id = ?{}",
            backend.for_update()
        );
        sqlx::query(&sql)
            .bind(user_id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| Error::db("read an access code", e))?
            .map(|row| -> std::result::Result<_, sqlx::Error> {
                Ok(SendWindow {
                    start_ms: row.try_get(0)?,
                    sends: row.try_get::<i64, _>(1)?,
                })
            })
            .transpose()
            .map_err(|e| Error::db("read an access code row", e))?
    };
    let window = next_send(previous, now_ms, policy.codes_per_hour).map_err(|wait| {
        Error::ResourceExhausted {
            what: crate::access::CODES_PER_ADDRESS.into(),
            retry_after: wait,
        }
    })?;
    let nonce = random_nonce()?;
    let expires_at_ms = now_ms.saturating_add(policy.code_ttl_ms());
    if previous.is_some() {
        // The earlier code stops working with its row; one way to write a code, for both.
        sqlx::query("DELETE FROM access_codes WHERE user_id = ?")
            .bind(user_id)
            .execute(&mut *conn)
            .await
            .map_err(|e| Error::db("replace an access code", e))?;
    }
    sqlx::query(
        "INSERT INTO access_codes (user_id, email, nonce, purpose, expires_at_ms, \
         failed_attempts, used_at_ms, window_start_ms, sends, created_at_ms) \
         VALUES (?, ?, ?, ?, ?, 0, NULL, ?, ?, ?)",
    )
    .bind(user_id)
    .bind(email)
    .bind(&nonce)
    .bind(purpose.as_str())
    .bind(expires_at_ms)
    .bind(window.start_ms)
    .bind(window.sends)
    .bind(now_ms)
    .execute(&mut *conn)
    .await
    .map_err(|e| Error::db("store an access code", e))?;
    Ok(Issued {
        user_id,
        nonce,
        expires_at_ms,
    })
}

/// The live code of the user with this e-mail, locked for the transaction (MySQL; SQLite's one
/// writer holds it), or `None` when there is no such user or no code.
pub async fn lock_code(
    conn: &mut AnyConnection,
    backend: Backend,
    email: &str,
) -> Result<Option<StoredCode>> {
    let sql = format!(
        "SELECT c.user_id, c.nonce, c.expires_at_ms, c.failed_attempts, c.used_at_ms \
         FROM access_codes c JOIN users u ON u.id = c.user_id WHERE u.email = ?{}",
        backend.for_update()
    );
    let row = sqlx::query(&sql)
        .bind(email)
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| Error::db("lock an access code", e))?;
    row.map(|row| -> std::result::Result<_, sqlx::Error> {
        Ok(StoredCode {
            user_id: row.try_get(0)?,
            nonce: row.try_get(1)?,
            expires_at_ms: row.try_get(2)?,
            failed_attempts: row.try_get::<i64, _>(3)?,
            used_at_ms: row.try_get(4)?,
        })
    })
    .transpose()
    .map_err(|e| Error::db("read an access code row", e))
}

/// Counts a wrong code.
pub async fn count_failure(conn: &mut AnyConnection, user_id: i64) -> Result<()> {
    sqlx::query("UPDATE access_codes SET failed_attempts = failed_attempts + 1 WHERE user_id = ?")
        .bind(user_id)
        .execute(&mut *conn)
        .await
        .map_err(|e| Error::db("count a wrong access code", e))?;
    Ok(())
}

/// Uses the code up and gives the user a new token (the old one stops working); the address is
/// confirmed, and alerts resume if they were stopped by the unsubscribe link.
pub async fn consume(
    conn: &mut AnyConnection,
    backend: Backend,
    user_id: i64,
    token_hash: &[u8],
    now_ms: i64,
) -> Result<()> {
    sqlx::query("UPDATE access_codes SET used_at_ms = ? WHERE user_id = ?")
        .bind(now_ms)
        .bind(user_id)
        .execute(&mut *conn)
        .await
        .map_err(|e| Error::db("use an access code", e))?;
    // The user's row is locked by `lock_code` (or SQLite's one writer holds it).
    let confirmed: Option<Option<i64>> =
        sqlx::query_scalar("SELECT confirmed_at_ms FROM users WHERE id = ?")
            .bind(user_id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| Error::db("read whether a user is confirmed", e))?;
    if confirmed == Some(None) {
        start_watching(conn, backend, user_id, now_ms).await?;
    }
    sqlx::query(
        "UPDATE users SET token_hash = ?, confirmed_at_ms = COALESCE(confirmed_at_ms, ?), \
         unsubscribed_at_ms = NULL, updated_at_ms = ? WHERE id = ?",
    )
    .bind(token_hash.to_vec())
    .bind(now_ms)
    .bind(now_ms)
    .bind(user_id)
    .execute(&mut *conn)
    .await
    .map_err(|e| Error::db("give a user a token", e))?;
    Ok(())
}

/// A first confirmation: the watches start from here. Until now nothing could be mailed, so a
/// crossing evaluated meanwhile was never told (or is still on its way to notify, which would
/// mail it now that the address is confirmed). Those alerts are recorded as suppressed, and
/// every watch is re-armed: the next quote judges each rule afresh, as for a new watch, and one
/// the price already breaks alerts once. So whether a tick fell between registering and
/// confirming no longer decides whether the first alert comes, and no crossing is told twice.
/// (Resuming after the unsubscribe link does not re-arm: what was crossed before it may have
/// been mailed already.)
async fn start_watching(
    conn: &mut AnyConnection,
    backend: Backend,
    user_id: i64,
    now_ms: i64,
) -> Result<()> {
    // An alert already handled, or being sent, keeps its record. Found by the address the
    // alerts carry (an index range of `alerts_user`, however long the history): nobody can
    // change it before confirming.
    let sql = format!(
        "{} INTO sent_alerts (alert_id, outcome, detail, handled_at_ms) \
         SELECT a.alert_id, 'suppressed', 'made before the address was confirmed', ? \
         FROM users u JOIN alerts a ON a.email = u.email WHERE u.id = ?",
        backend.insert_ignore()
    );
    sqlx::query(&sql)
        .bind(now_ms)
        .bind(user_id)
        .execute(&mut *conn)
        .await
        .map_err(|e| Error::db("suppress the alerts of an unconfirmed user", e))?;
    sqlx::query(
        "UPDATE subscriptions SET alert_state = 'armed', evaluated_market_time_ms = NULL \
         WHERE user_id = ?",
    )
    .bind(user_id)
    .execute(&mut *conn)
    .await
    .map_err(|e| Error::db("re-arm a new user's watches", e))?;
    Ok(())
}

/// Codes issued before `before_ms` whose e-mail has not gone out, oldest first. The function
/// that issues a code hands its event over right after the commit without writing anything
/// more; these are the ones that hand-over missed (or notify has not reached yet).
pub async fn pending<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    before_ms: i64,
    limit: i64,
) -> Result<Vec<PendingCode>> {
    let rows = sqlx::query(
        "SELECT user_id, email, nonce, purpose, expires_at_ms FROM access_codes \
         WHERE published_at_ms IS NULL AND created_at_ms < ? AND used_at_ms IS NULL \
         ORDER BY created_at_ms LIMIT ?",
    )
    .bind(before_ms)
    .bind(limit)
    .fetch_all(ex)
    .await
    .map_err(|e| Error::db("read the access code outbox", e))?;
    rows.iter()
        .map(|row| -> std::result::Result<_, sqlx::Error> {
            Ok(PendingCode {
                user_id: row.try_get(0)?,
                email: row.try_get(1)?,
                nonce: row.try_get(2)?,
                purpose: row.try_get(3)?,
                expires_at_ms: row.try_get(4)?,
            })
        })
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::db("read an access code row", e))
}

/// Marks a code's e-mail handed to the broker again by the upkeep (a code replaced meanwhile
/// stays pending).
pub async fn mark_published<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    code: &PendingCode,
    now_ms: i64,
) -> Result<()> {
    sqlx::query("UPDATE access_codes SET published_at_ms = ? WHERE user_id = ? AND nonce = ?")
        .bind(now_ms)
        .bind(code.user_id)
        .bind(&code.nonce)
        .execute(ex)
        .await
        .map_err(|e| Error::db("mark an access code published", e))?;
    Ok(())
}

/// What notify needs to mail a code: the live code with this nonce, or `None` when it was
/// replaced, used or the user is gone (then there is nothing to mail).
#[derive(Debug, Clone, PartialEq)]
pub struct CodeToMail {
    pub email: String,
    pub purpose: String,
    pub expires_at_ms: i64,
    pub mailed: bool,
}

pub async fn to_mail<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    user_id: i64,
    nonce: &str,
) -> Result<Option<CodeToMail>> {
    let row = sqlx::query(
        "SELECT email, purpose, expires_at_ms, mailed_at_ms FROM access_codes \
         WHERE user_id = ? AND nonce = ? AND used_at_ms IS NULL",
    )
    .bind(user_id)
    .bind(nonce)
    .fetch_optional(ex)
    .await
    .map_err(|e| Error::db("read an access code to mail", e))?;
    row.map(|row| -> std::result::Result<_, sqlx::Error> {
        Ok(CodeToMail {
            email: row.try_get(0)?,
            purpose: row.try_get(1)?,
            expires_at_ms: row.try_get(2)?,
            mailed: row.try_get::<Option<i64>, _>(3)?.is_some(),
        })
    })
    .transpose()
    .map_err(|e| Error::db("read an access code row", e))
}

/// Records that the code's e-mail went out (so also that its event was handed over: the
/// outbox's range stays short).
pub async fn mark_mailed<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    user_id: i64,
    nonce: &str,
    now_ms: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE access_codes SET mailed_at_ms = ?, published_at_ms = COALESCE(published_at_ms, ?) \
         WHERE user_id = ? AND nonce = ?",
    )
    .bind(now_ms)
    .bind(now_ms)
    .bind(user_id)
    .bind(nonce)
    .execute(ex)
    .await
    .map_err(|e| Error::db("mark an access code mailed", e))?;
    Ok(())
}
