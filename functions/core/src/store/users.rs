//! Users, their delivery settings (time zone, quiet hours), and the watch a call about one acts
//! on: the one-ticker API's `User` is a user with one of its watches (see [`watches`]). A user
//! starts unconfirmed (see [`crate::access`]) and is found for a call by its access token's
//! hash.

use sqlx::{Any, AnyConnection, Executor, Row};

use crate::access::TokenHash;
use crate::domain::{Cooldown, Email, QuietHours, Thresholds, Ticker, WatchRules, ZoneName};
use crate::error::{Error, Result};
use crate::store::{history, watches, Backend, Store};

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
    /// The watch's percent-move rule (`None`: none) and cooldown between alert e-mails.
    pub move_percent: Option<f64>,
    pub cooldown_ms: i64,
    /// The user's IANA time zone (`UTC` unless set), in which its quiet hours are read.
    pub time_zone: String,
    /// `None`: alerts are mailed at once, at any hour.
    pub quiet_hours: Option<QuietHours>,
}

/// For `users u JOIN subscriptions s`: what [`from_row`] reads. Updated is the later of the
/// user's last change (its time zone, quiet hours) and its watch's.
const USER_COLUMNS: &str = "u.id, s.id, u.email, s.ticker, s.min_price, s.max_price, \
     u.created_at_ms, \
     CASE WHEN u.updated_at_ms > s.updated_at_ms THEN u.updated_at_ms ELSE s.updated_at_ms END, \
     u.confirmed_at_ms, u.unsubscribed_at_ms, \
     s.move_percent, s.cooldown_ms, u.time_zone, u.quiet_start_min, u.quiet_end_min";

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
        move_percent: row.try_get(10)?,
        cooldown_ms: row.try_get(11)?,
        time_zone: row.try_get(12)?,
        quiet_hours: QuietHours::from_stored(row.try_get(13)?, row.try_get(14)?)
            .map_err(|e| sqlx::Error::Decode(e.to_string().into()))?,
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
    rules: WatchRules,
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
            // What was recorded of the expired registration's alerts is not the new owner's.
            history::delete_user_alerts(conn, email.as_str()).await?;
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
        watches::insert_subscription(conn, user_id, ticker, thresholds, rules, now_ms).await?;
    // No read-back: the transaction knows every field it just wrote.
    Ok(super::registration::new_user(
        (user_id, subscription_id),
        email,
        ticker,
        thresholds,
        rules,
        now_ms,
    ))
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

/// Drops unconfirmed registrations made before `before_ms`, at most `batch` at a time (one
/// short transaction), with the alerts made for them meanwhile (evaluate records those too,
/// suppressed): the address's next owner must not find them in their history. Returns how many
/// registrations went.
pub async fn purge_unconfirmed(store: &Store, before_ms: i64, batch: i64) -> Result<u64> {
    let mut tx = store.begin().await?;
    let sql = format!(
        "SELECT email FROM users WHERE confirmed_at_ms IS NULL AND created_at_ms < ? \
         ORDER BY id LIMIT ?{}",
        store.backend().for_update()
    );
    let expired: Vec<String> = sqlx::query_scalar(&sql)
        .bind(before_ms)
        .bind(batch)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| Error::db("find expired registrations", e))?;
    let mut purged = 0;
    for email in &expired {
        history::delete_user_alerts(&mut tx, email).await?;
        // Subscriptions and codes go with the user (ON DELETE CASCADE).
        purged += sqlx::query("DELETE FROM users WHERE email = ? AND confirmed_at_ms IS NULL")
            .bind(email)
            .execute(&mut *tx)
            .await
            .map_err(|e| Error::db("purge an unconfirmed user", e))?
            .rows_affected();
    }
    tx.commit()
        .await
        .map_err(|e| Error::db("commit a purge of unconfirmed users", e))?;
    Ok(purged)
}

/// The user by e-mail, or `None`.
pub async fn find<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    email: &Email,
) -> Result<Option<User>> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users u JOIN subscriptions s ON s.user_id = u.id \
         WHERE u.email = ? ORDER BY s.id LIMIT 1"
    );
    let row = sqlx::query(&sql)
        .bind(email.as_str())
        .fetch_optional(ex)
        .await
        .map_err(|e| Error::db("load a user", e))?;
    row.as_ref()
        .map(from_row)
        .transpose()
        .map_err(|e| Error::db("read a user row", e))
}

/// Which watch a call about a user acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which<'t> {
    /// The one watching this ticker.
    Named(&'t Ticker),
    /// The user's only watch: FAILED_PRECONDITION when it watches several.
    Only,
    /// The oldest: for a change to the user alone (its time zone, its quiet hours), which needs
    /// no choice of watch.
    First,
}

/// The user with the watch `which` picks, locked for the rest of the transaction (MySQL);
/// NOT_FOUND, or FAILED_PRECONDITION when it watches several and none is named
/// ([`watches::pick`]).
pub async fn lock(
    conn: &mut AnyConnection,
    backend: Backend,
    email: &Email,
    which: Which<'_>,
) -> Result<User> {
    let (filter, limit) = match which {
        Which::Named(_) => (" AND s.ticker = ?", 2),
        Which::Only => ("", 2),
        Which::First => ("", 1),
    };
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users u JOIN subscriptions s ON s.user_id = u.id \
         WHERE u.email = ?{filter} ORDER BY s.id LIMIT {limit}{}",
        backend.for_update()
    );
    let mut query = sqlx::query(&sql).bind(email.as_str());
    let wanted = match which {
        Which::Named(t) => Some(t),
        Which::Only | Which::First => None,
    };
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

/// What an update leaves a watch with.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchChange {
    pub ticker: Ticker,
    pub thresholds: Thresholds,
    pub move_percent: Option<f64>,
    pub cooldown: Cooldown,
}

/// What an update leaves the user with: its quiet hours, its time zone (`None`: as it is),
/// and its watch unless `watch` is `None` (a change to the user alone leaves the watch's row
/// as it is).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub watch: Option<WatchChange>,
    pub time_zone: Option<ZoneName>,
    pub quiet_hours: Option<QuietHours>,
}

/// Stores `change` for the user [`lock`] returned: the user as it is now.
pub async fn update(
    conn: &mut AnyConnection,
    user: &User,
    change: &Change,
    now_ms: i64,
) -> Result<User> {
    let mut updated = user.clone();
    if let Some(watch) = &change.watch {
        update_watch(conn, user, watch, now_ms).await?;
        updated.ticker = watch.ticker.as_str().to_owned();
        updated.min_price = watch.thresholds.min();
        updated.max_price = watch.thresholds.max();
        updated.move_percent = watch.move_percent;
        updated.cooldown_ms = watch.cooldown.as_ms();
    }
    let time_zone = match &change.time_zone {
        Some(zone) => zone.as_str().to_owned(),
        None => user.time_zone.clone(),
    };
    let (start, end) = match change.quiet_hours {
        Some(q) => (Some(i64::from(q.start_min())), Some(i64::from(q.end_min()))),
        None => (None, None),
    };
    sqlx::query(
        "UPDATE users SET time_zone = ?, quiet_start_min = ?, quiet_end_min = ?, \
         updated_at_ms = ? WHERE id = ?",
    )
    .bind(time_zone.as_str())
    .bind(start)
    .bind(end)
    .bind(now_ms)
    .bind(user.id)
    .execute(&mut *conn)
    .await
    .map_err(|e| Error::db("update a user", e))?;
    updated.time_zone = time_zone;
    updated.quiet_hours = change.quiet_hours;
    updated.updated_at_ms = now_ms;
    Ok(updated)
}

async fn update_watch(
    conn: &mut AnyConnection,
    user: &User,
    watch: &WatchChange,
    now_ms: i64,
) -> Result<()> {
    // A changed ticker, threshold or move rule re-arms the alert: a new rule that the price
    // already breaks alerts once on the next quote. An update that changes none leaves the
    // alert where it is (re-arming would mail the same crossing again); a cooldown is about
    // the e-mails, not the crossing, so changing it does not re-arm. The row is locked (or
    // SQLite's one writer holds it), so `user` is what is stored.
    let changed = user.ticker != watch.ticker.as_str()
        || user.min_price != watch.thresholds.min()
        || user.max_price != watch.thresholds.max()
        || user.move_percent != watch.move_percent;
    let rearm = if changed {
        ", alert_state = 'armed', evaluated_market_time_ms = NULL"
    } else {
        ""
    };
    let ticker = &watch.ticker;
    sqlx::query(&format!(
        "UPDATE subscriptions SET ticker = ?, min_price = ?, max_price = ?, move_percent = ?, \
         cooldown_ms = ?, updated_at_ms = ?{rearm} WHERE id = ?"
    ))
    .bind(ticker.as_str())
    .bind(watch.thresholds.min())
    .bind(watch.thresholds.max())
    .bind(watch.move_percent)
    .bind(watch.cooldown.as_ms())
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
    Ok(())
}

/// Deletes the user and its subscriptions, or answers `NOT_FOUND`.
pub async fn delete(conn: &mut AnyConnection, email: &Email) -> Result<()> {
    // Multi-table on MySQL: MariaDB before 11.1 runs the `IN (SELECT …)` form of a
    // single-table DELETE as a scan of every subscription, each locked until the commit (and
    // evaluate reads them all the time).
    let sql = if Backend::of(conn) == Backend::MySql {
        "DELETE s FROM subscriptions s JOIN users u ON u.id = s.user_id WHERE u.email = ?"
    } else {
        "DELETE FROM subscriptions WHERE user_id IN (SELECT id FROM users WHERE email = ?)"
    };
    sqlx::query(sql)
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
