//! Users and the ticker each watches. A user has one subscription today; the table is keyed by
//! (user, ticker) so that watching several tickers needs no schema change.

use sqlx::{Any, AnyConnection, Executor, Row};

use crate::domain::{Email, Thresholds, Ticker};
use crate::error::{Error, Result};
use crate::store::Backend;

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
}

const SELECT_USER: &str = "SELECT u.id, s.id, u.email, s.ticker, s.min_price, s.max_price, \
     u.created_at_ms, s.updated_at_ms \
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
    })
}

pub fn thresholds_of(user: &User) -> Result<Thresholds> {
    // Stored before the price bounds existed, a threshold may lie outside them: it is kept.
    Thresholds::from_stored(user.min_price, user.max_price)
        .map_err(|e| Error::Internal(format!("stored thresholds are invalid: {e}")))
}

pub async fn insert(
    conn: &mut AnyConnection,
    email: &Email,
    ticker: &Ticker,
    thresholds: Thresholds,
    now_ms: i64,
) -> Result<User> {
    let inserted =
        sqlx::query("INSERT INTO users (email, created_at_ms, updated_at_ms) VALUES (?, ?, ?)")
            .bind(email.as_str())
            .bind(now_ms)
            .bind(now_ms)
            .execute(&mut *conn)
            .await
            .map_err(|e| match e {
                sqlx::Error::Database(db) if db.is_unique_violation() => {
                    Error::AlreadyExists(format!("a user with email {email} is already registered"))
                }
                other => Error::db("insert a user", other),
            })?;
    let user_id = match inserted.last_insert_id() {
        Some(id) => id,
        // SQLite through `Any` reports no insert id; the row is visible in this transaction.
        None => sqlx::query_scalar("SELECT id FROM users WHERE email = ?")
            .bind(email.as_str())
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| Error::db("read a new user id", e))?,
    };
    let subscribed = sqlx::query(
        "INSERT INTO subscriptions (user_id, ticker, min_price, max_price, created_at_ms, updated_at_ms) \
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(user_id)
    .bind(ticker.as_str())
    .bind(thresholds.min())
    .bind(thresholds.max())
    .bind(now_ms)
    .bind(now_ms)
    .execute(&mut *conn)
    .await
    .map_err(|e| Error::db("insert a subscription", e))?;
    let subscription_id = match subscribed.last_insert_id() {
        Some(id) => id,
        None => sqlx::query_scalar("SELECT id FROM subscriptions WHERE user_id = ?")
            .bind(user_id)
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| Error::db("read a new subscription id", e))?,
    };
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
    })
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

/// The user, locked for the rest of the transaction (MySQL), or `NOT_FOUND`.
pub async fn lock(conn: &mut AnyConnection, backend: Backend, email: &Email) -> Result<User> {
    let sql = format!("{SELECT_USER}{}", backend.for_update());
    let row = sqlx::query(&sql)
        .bind(email.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| Error::db("lock a user", e))?;
    match row {
        Some(row) => from_row(&row).map_err(|e| Error::db("read a user row", e)),
        None => Err(not_found(email)),
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
    .map_err(|e| Error::db("update a subscription", e))?;
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
