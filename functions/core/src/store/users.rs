//! Users and the ticker each watches. A user has one subscription today; the table is keyed by
//! (user, ticker) so that watching several tickers needs no schema change. A user starts
//! unconfirmed (see [`crate::access`]) and is found for a call by its access token's hash.

use sqlx::{Any, AnyConnection, Executor, Row};

use crate::access::TokenHash;
use crate::domain::{Email, Thresholds, Ticker};
use crate::error::{Error, Result};
use crate::store::{watches, Backend};

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: i64,
    pub subscription_id: i64,
    pub email: String,
    pub ticker: String,
    pub min_price: Option<f64>,
    pub max_price: Option<f64>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// `None` until the address is confirmed: no alert e-mail goes to it before.
    pub confirmed_at_ms: Option<i64>,
    /// Set by the unsubscribe link: no alert e-mail until the address is confirmed again.
    pub unsubscribed_at_ms: Option<i64>,
}

const SELECT_USER: &str = "SELECT u.id, s.id, u.email, s.ticker, s.min_price, s.max_price, \
     u.created_at_ms, s.updated_at_ms, u.confirmed_at_ms, u.unsubscribed_at_ms \
     FROM users u JOIN subscriptions s ON s.user_id = u.id \
     WHERE u.email = ? ORDER BY s.id LIMIT 1";

fn from_row(row: &sqlx::any::AnyRow) -> std::result::Result<User, sqlx::Error> {
    Ok(User {
        id: row.try_get(0)?,
        subscription_id: row.try_get(1)?,
        email: row.try_get(2)?,
        ticker: row.try_get(3)?,
        min_price: row.try_get(4)?,
        max_price: row.try_get(5)?,
        created_at_ms: row.try_get(6)?,
        updated_at_ms: row.try_get(7)?,
        confirmed_at_ms: row.try_get(8)?,
        unsubscribed_at_ms: row.try_get(9)?,
    })
}

pub fn thresholds_of(user: &User) -> Result<Thresholds> {
    // Stored before the price bounds existed, a threshold may lie outside them: it is kept.
    Thresholds::from_stored(user.min_price, user.max_price)
        .map_err(|e| Error::Internal(format!("stored thresholds are invalid: {e}")))
}

/// A new, unconfirmed user watching `ticker`. An unconfirmed registration of the same address
/// older than `unconfirmed_before_ms` is dropped and made anew; any other → ALREADY_EXISTS.
pub async fn insert(
    conn: &mut AnyConnection,
    email: &Email,
    ticker: &Ticker,
    thresholds: Thresholds,
    now_ms: i64,
    unconfirmed_before_ms: i64,
) -> Result<User> {
    let insert_user = || {
        sqlx::query("INSERT INTO users (email, created_at_ms, updated_at_ms) VALUES (?, ?, ?)")
            .bind(email.as_str())
            .bind(now_ms)
            .bind(now_ms)
    };
    let taken = || Error::AlreadyExists(format!("a user with email {email} is already registered"));
    let inserted = match insert_user().execute(&mut *conn).await {
        Ok(done) => done,
        Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
            // Subscriptions and codes go with the user (ON DELETE CASCADE).
            let expired = sqlx::query(
                "DELETE FROM users WHERE email = ? AND confirmed_at_ms IS NULL AND created_at_ms < ?",
            )
            .bind(email.as_str())
            .bind(unconfirmed_before_ms)
            .execute(&mut *conn)
            .await
            .map_err(|e| Error::db("drop an expired registration", e))?;
            if expired.rows_affected() == 0 {
                return Err(taken());
            }
            insert_user()
                .execute(&mut *conn)
                .await
                .map_err(|e| Error::db("insert a user", e))?
        }
        Err(other) => return Err(Error::db("insert a user", other)),
    };
    let user_id = match inserted.last_insert_id() {
        Some(id) => id,
        // SQLite through `Any` reports no insert id; the row is visible in this transaction.
        None => sqlx::query_scalar("SELECT id FROM users WHERE email = ?")
            .bind(email.as_str())
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| Error::db("read a new user id", e))?,
    };
    let subscription_id =
        watches::insert_subscription(conn, user_id, ticker, thresholds, now_ms).await?;
    // No read-back: the transaction knows every field it just wrote.
    Ok(User {
        id: user_id,
        subscription_id,
        email: email.as_str().to_owned(),
        ticker: ticker.as_str().to_owned(),
        min_price: thresholds.min(),
        max_price: thresholds.max(),
        created_at_ms: now_ms,
        updated_at_ms: now_ms,
        confirmed_at_ms: None,
        unsubscribed_at_ms: None,
    })
}

/// The e-mail of the user an access token belongs to, or `None` for a token nobody holds.
pub async fn email_of_token<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    token: &TokenHash,
) -> Result<Option<String>> {
    sqlx::query_scalar("SELECT email FROM users WHERE token_hash = ?")
        .bind(token.as_bytes().to_vec())
        .fetch_optional(ex)
        .await
        .map_err(|e| Error::db("look up an access token", e))
}

/// Whether alert e-mails may go to an address, and the user's id for its unsubscribe link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub user_id: i64,
    pub confirmed: bool,
    pub unsubscribed: bool,
}

/// The user an alert e-mail would go to, or `None` when no user has that address (any more).
pub async fn recipient<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    email: &str,
) -> Result<Option<Recipient>> {
    let row =
        sqlx::query("SELECT id, confirmed_at_ms, unsubscribed_at_ms FROM users WHERE email = ?")
            .bind(email)
            .fetch_optional(ex)
            .await
            .map_err(|e| Error::db("look up an alert's recipient", e))?;
    row.map(|row| -> std::result::Result<_, sqlx::Error> {
        Ok(Recipient {
            user_id: row.try_get(0)?,
            confirmed: row.try_get::<Option<i64>, _>(1)?.is_some(),
            unsubscribed: row.try_get::<Option<i64>, _>(2)?.is_some(),
        })
    })
    .transpose()
    .map_err(|e| Error::db("read a recipient row", e))
}

/// Drops unconfirmed registrations made before `before_ms`, at most `batch` at a time (short
/// statements, short locks); returns how many went.
pub async fn purge_unconfirmed<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    before_ms: i64,
    batch: i64,
) -> Result<u64> {
    // A subquery with LIMIT is refused by MariaDB in `IN (…)`; a derived table is not.
    sqlx::query(
        "DELETE FROM users WHERE id IN (SELECT id FROM (SELECT id FROM users \
         WHERE confirmed_at_ms IS NULL AND created_at_ms < ? LIMIT ?) AS expired)",
    )
    .bind(before_ms)
    .bind(batch)
    .execute(ex)
    .await
    .map(|r| r.rows_affected())
    .map_err(|e| Error::db("purge unconfirmed users", e))
}

/// The user by e-mail, or `None`.
pub async fn find<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    email: &Email,
) -> Result<Option<User>> {
    let row = sqlx::query(SELECT_USER)
        .bind(email.as_str())
        .fetch_optional(ex)
        .await
        .map_err(|e| Error::db("load a user", e))?;
    row.as_ref()
        .map(from_row)
        .transpose()
        .map_err(|e| Error::db("read a user row", e))
}

/// The user with the watch `wanted` names (or its only watch), locked for the rest of the
/// transaction (MySQL); NOT_FOUND, or FAILED_PRECONDITION when it watches several and none is
/// named ([`watches::pick`]).
pub async fn lock(
    conn: &mut AnyConnection,
    backend: Backend,
    email: &Email,
    wanted: Option<&Ticker>,
) -> Result<User> {
    let filter = if wanted.is_some() {
        " AND s.ticker = ?"
    } else {
        ""
    };
    let sql = format!(
        "SELECT u.id, s.id, u.email, s.ticker, s.min_price, s.max_price, \
         u.created_at_ms, s.updated_at_ms, u.confirmed_at_ms, u.unsubscribed_at_ms \
         FROM users u JOIN subscriptions s ON s.user_id = u.id \
         WHERE u.email = ?{filter} ORDER BY s.id LIMIT 2{}",
        backend.for_update()
    );
    let mut query = sqlx::query(&sql).bind(email.as_str());
    if let Some(t) = wanted {
        query = query.bind(t.as_str());
    }
    let rows = query
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| Error::db("lock a user", e))?;
    match rows.as_slice() {
        [row] => from_row(row).map_err(|e| Error::db("read a user row", e)),
        // None (no user, or not that watch) or several: the reason, from the watchlist.
        _ => {
            let tickers = watches::tickers_of(&mut *conn, email)
                .await?
                .ok_or_else(|| not_found(email))?;
            watches::pick(&tickers, wanted)?;
            Err(Error::Aborted(
                "the watchlist changed meanwhile; retry".into(),
            ))
        }
    }
}

pub async fn update_subscription(
    conn: &mut AnyConnection,
    user: &User,
    ticker: &Ticker,
    thresholds: Thresholds,
    now_ms: i64,
) -> Result<User> {
    // A changed ticker or threshold re-arms the alert: a new threshold that the price already
    // breaches alerts once on the next quote. An update that changes neither leaves the alert
    // where it is (re-arming would mail the same crossing again). The row is locked (or
    // SQLite's one writer holds it), so `user` is what is stored.
    let changed = user.ticker != ticker.as_str()
        || user.min_price != thresholds.min()
        || user.max_price != thresholds.max();
    let rearm = if changed {
        ", alert_state = 'armed', evaluated_market_time_ms = NULL"
    } else {
        ""
    };
    sqlx::query(&format!(
        "UPDATE subscriptions SET ticker = ?, min_price = ?, max_price = ?, updated_at_ms = ?\
         {rearm} WHERE id = ?"
    ))
    .bind(ticker.as_str())
    .bind(thresholds.min())
    .bind(thresholds.max())
    .bind(now_ms)
    .bind(user.subscription_id)
    .execute(&mut *conn)
    .await
    .map_err(|e| match e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            Error::AlreadyExists(format!("the user already watches {ticker}"))
        }
        other => Error::db("update a subscription", other),
    })?;
    sqlx::query("UPDATE users SET updated_at_ms = ? WHERE id = ?")
        .bind(now_ms)
        .bind(user.id)
        .execute(&mut *conn)
        .await
        .map_err(|e| Error::db("update a user", e))?;
    Ok(User {
        ticker: ticker.as_str().to_owned(),
        min_price: thresholds.min(),
        max_price: thresholds.max(),
        updated_at_ms: now_ms,
        ..user.clone()
    })
}

/// Deletes the user and its subscriptions, or answers `NOT_FOUND`.
pub async fn delete(conn: &mut AnyConnection, email: &Email) -> Result<()> {
    sqlx::query(
        "DELETE FROM subscriptions WHERE user_id IN (SELECT id FROM users WHERE email = ?)",
    )
    .bind(email.as_str())
    .execute(&mut *conn)
    .await
    .map_err(|e| Error::db("delete subscriptions", e))?;
    let deleted = sqlx::query("DELETE FROM users WHERE email = ?")
        .bind(email.as_str())
        .execute(&mut *conn)
        .await
        .map_err(|e| Error::db("delete a user", e))?;
    if deleted.rows_affected() == 0 {
        return Err(not_found(email));
    }
    Ok(())
}

pub fn not_found(email: &Email) -> Error {
    Error::NotFound(format!("no user with email {email}"))
}
