//! A user's watchlist: the tickers it watches (rows of `subscriptions`, one per ticker), each
//! with its own thresholds and alert state. The first watch is what the one-ticker API
//! (`User`) shows.

use sqlx::{Any, AnyConnection, Executor, Row};

use crate::domain::{Email, Thresholds, Ticker, WatchRules};
use crate::error::{Error, Result};
use crate::store::quotes::Quote;
use crate::store::Backend;

/// The most tickers one user watches, unless configured (`TICKERMESH_MAX_WATCHES`).
pub const DEFAULT_MAX_WATCHES: u32 = 100;

#[derive(Debug, Clone, PartialEq)]
pub struct Watch {
    pub id: i64,
    pub ticker: String,
    pub min_price: Option<f64>,
    pub max_price: Option<f64>,
    pub alert_state: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// The percent-move rule (`None`: none) and the cooldown between alert e-mails (0: none).
    pub move_percent: Option<f64>,
    pub cooldown_ms: i64,
}

/// How many columns [`columns`] selects: what a query selects after them starts here.
const WATCH_COLUMNS: usize = 9;

/// For `subscriptions s LEFT JOIN quote_evaluations e ON e.ticker = s.ticker`: the alert state
/// as the edge-triggered rules see it (`evaluation::ALERT_STATE_SQL`).
fn columns() -> String {
    format!(
        "s.id, s.ticker, s.min_price, s.max_price, {}, s.created_at_ms, s.updated_at_ms, \
         s.move_percent, s.cooldown_ms",
        super::evaluation::ALERT_STATE_SQL
    )
}

fn from_row(row: &sqlx::any::AnyRow) -> std::result::Result<Watch, sqlx::Error> {
    Ok(Watch {
        id: row.try_get(0)?,
        ticker: row.try_get(1)?,
        min_price: row.try_get(2)?,
        max_price: row.try_get(3)?,
        alert_state: row.try_get(4)?,
        created_at_ms: row.try_get(5)?,
        updated_at_ms: row.try_get(6)?,
        move_percent: row.try_get(7)?,
        cooldown_ms: row.try_get(8)?,
    })
}

/// The user's id (locked for the transaction on MySQL), or `NOT_FOUND`.
pub async fn lock_user(conn: &mut AnyConnection, backend: Backend, email: &Email) -> Result<i64> {
    let sql = format!(
        "SELECT id FROM users WHERE email = ?{}",
        backend.for_update()
    );
    sqlx::query_scalar(&sql)
        .bind(email.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| Error::db("lock a user", e))?
        .ok_or_else(|| super::users::not_found(email))
}

/// Adds `ticker` to the user's watchlist: ALREADY_EXISTS when it is on it, FAILED_PRECONDITION
/// when the list is full. Call with the user locked ([`lock_user`]), so two adds cannot both
/// pass the cap.
pub async fn add(
    conn: &mut AnyConnection,
    user_id: i64,
    ticker: &Ticker,
    thresholds: Thresholds,
    rules: WatchRules,
    max_watches: u32,
    now_ms: i64,
) -> Result<Watch> {
    let count = count(conn, user_id).await?;
    if count >= i64::from(max_watches) {
        return Err(Error::FailedPrecondition(format!(
            "a user watches at most {max_watches} tickers; remove one first"
        )));
    }
    let id = insert_subscription(conn, user_id, ticker, thresholds, rules, now_ms).await?;
    Ok(Watch {
        id,
        ticker: ticker.as_str().to_owned(),
        min_price: thresholds.min(),
        max_price: thresholds.max(),
        alert_state: "armed".into(),
        created_at_ms: now_ms,
        updated_at_ms: now_ms,
        move_percent: rules.move_percent(),
        cooldown_ms: rules.cooldown.as_ms(),
    })
}

async fn count(conn: &mut AnyConnection, user_id: i64) -> Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM subscriptions WHERE user_id = ?")
        .bind(user_id)
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| Error::db("count a user's watches", e))
}

/// Stores a watch: its id. ALREADY_EXISTS when the user watches `ticker` already.
pub(crate) async fn insert_subscription(
    conn: &mut AnyConnection,
    user_id: i64,
    ticker: &Ticker,
    thresholds: Thresholds,
    rules: WatchRules,
    now_ms: i64,
) -> Result<i64> {
    let inserted = sqlx::query(
        "INSERT INTO subscriptions (user_id, ticker, min_price, max_price, move_percent, \
         cooldown_ms, created_at_ms, updated_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(user_id)
    .bind(ticker.as_str())
    .bind(thresholds.min())
    .bind(thresholds.max())
    .bind(rules.move_percent())
    .bind(rules.cooldown.as_ms())
    .bind(now_ms)
    .bind(now_ms)
    .execute(&mut *conn)
    .await
    .map_err(|e| match e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            Error::AlreadyExists(format!("the user already watches {ticker}"))
        }
        other => Error::db("add a watch", other),
    })?;
    match inserted.last_insert_id() {
        Some(id) => Ok(id),
        // SQLite through `Any` reports no insert id; the row is visible in this transaction.
        None => sqlx::query_scalar("SELECT id FROM subscriptions WHERE user_id = ? AND ticker = ?")
            .bind(user_id)
            .bind(ticker.as_str())
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| Error::db("read a new watch id", e)),
    }
}

/// Removes `ticker` from the user's watchlist: NOT_FOUND when it is not on it,
/// FAILED_PRECONDITION for the last one (a user watches at least one ticker). Call with the
/// user locked.
pub async fn remove(conn: &mut AnyConnection, user_id: i64, ticker: &Ticker) -> Result<()> {
    let count = count(conn, user_id).await?;
    let removed = if count > 1 {
        sqlx::query("DELETE FROM subscriptions WHERE user_id = ? AND ticker = ?")
            .bind(user_id)
            .bind(ticker.as_str())
            .execute(&mut *conn)
            .await
            .map_err(|e| Error::db("remove a watch", e))?
            .rows_affected()
    } else {
        0
    };
    if removed == 1 {
        return Ok(());
    }
    let watched: Option<i64> =
        sqlx::query_scalar("SELECT id FROM subscriptions WHERE user_id = ? AND ticker = ?")
            .bind(user_id)
            .bind(ticker.as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| Error::db("find a watch", e))?;
    match watched {
        None => Err(not_watched(ticker.as_str())),
        Some(_) => Err(Error::FailedPrecondition(format!(
            "{ticker} is the user's only watch; delete the user to stop watching it"
        ))),
    }
}

pub fn not_watched(ticker: &str) -> Error {
    Error::NotFound(format!("the user does not watch {ticker}"))
}

/// Every watch of the user, oldest first, with the newest quote of each ticker and whether the
/// market said it does not know the symbol (since the watch was last changed); `None` for no
/// such user.
pub async fn list<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    email: &Email,
) -> Result<Option<Vec<(Watch, Option<Quote>, bool)>>> {
    // The user row LEFT JOINs its watches, so an existing user is told apart from none.
    let sql = format!(
        "SELECT {}, q.price, q.currency, q.market_time_ms, q.collected_at_ms, q.simulated, \
         n.seen_at_ms \
         FROM users u LEFT JOIN subscriptions s ON s.user_id = u.id \
         LEFT JOIN quote_evaluations e ON e.ticker = s.ticker \
         LEFT JOIN unknown_symbols n ON n.ticker = s.ticker AND n.seen_at_ms >= s.updated_at_ms \
         LEFT JOIN quotes q ON q.ticker = s.ticker AND q.market_time_ms = \
             (SELECT m.market_time_ms FROM quotes m WHERE m.ticker = s.ticker \
              ORDER BY m.market_time_ms DESC LIMIT 1) \
         WHERE u.email = ? ORDER BY s.id",
        columns()
    );
    let rows = sqlx::query(&sql)
        .bind(email.as_str())
        .fetch_all(ex)
        .await
        .map_err(|e| Error::db("list a user's watches", e))?;
    if rows.is_empty() {
        return Ok(None);
    }
    let read = |row: &sqlx::any::AnyRow| -> std::result::Result<_, sqlx::Error> {
        let Some(_) = row.try_get::<Option<i64>, _>(0)? else {
            return Ok(None);
        };
        let watch = from_row(row)?;
        let q = WATCH_COLUMNS;
        let quote = match row.try_get::<Option<f64>, _>(q)? {
            None => None,
            Some(price) => Some(Quote {
                ticker: watch.ticker.clone(),
                price,
                currency: row.try_get(q + 1)?,
                market_time_ms: row.try_get(q + 2)?,
                collected_at_ms: row.try_get(q + 3)?,
                simulated: row.try_get::<i64, _>(q + 4)? != 0,
                previous_close: None,
            }),
        };
        let unknown = row.try_get::<Option<i64>, _>(q + 5)?.is_some();
        Ok(Some((watch, quote, unknown)))
    };
    let mut watches = Vec::with_capacity(rows.len());
    for row in &rows {
        if let Some(w) = read(row).map_err(|e| Error::db("read a watch row", e))? {
            watches.push(w);
        }
    }
    Ok(Some(watches))
}

/// The tickers the user watches, oldest first, at most six (enough to say which exist when a
/// call must name one); `None` for no such user.
pub async fn tickers_of<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    email: &Email,
) -> Result<Option<Vec<String>>> {
    let rows: Vec<(Option<String>,)> = sqlx::query_as(
        "SELECT s.ticker FROM users u LEFT JOIN subscriptions s ON s.user_id = u.id \
         WHERE u.email = ? ORDER BY s.id LIMIT 6",
    )
    .bind(email.as_str())
    .fetch_all(ex)
    .await
    .map_err(|e| Error::db("list a user's tickers", e))?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(rows.into_iter().filter_map(|(t,)| t).collect()))
}

/// The ticker of the watch a call about the user acts on ([`pick`]): NOT_FOUND for no such
/// user or no such watch.
pub async fn resolve(
    pool: &sqlx::AnyPool,
    email: &Email,
    wanted: Option<&Ticker>,
) -> Result<String> {
    let Some(wanted) = wanted else {
        let tickers = tickers_of(pool, email)
            .await?
            .ok_or_else(|| super::users::not_found(email))?;
        return pick(&tickers, None).map(str::to_owned);
    };
    // One row per user: the watch's ticker, or NULL when the user does not watch it.
    let row: Option<(Option<String>,)> = sqlx::query_as(
        "SELECT s.ticker FROM users u \
         LEFT JOIN subscriptions s ON s.user_id = u.id AND s.ticker = ? WHERE u.email = ?",
    )
    .bind(wanted.as_str())
    .bind(email.as_str())
    .fetch_optional(pool)
    .await
    .map_err(|e| Error::db("find a watch", e))?;
    match row {
        None => Err(super::users::not_found(email)),
        Some((None,)) => Err(not_watched(wanted.as_str())),
        Some((Some(ticker),)) => Ok(ticker),
    }
}

/// The watch a call about a user acts on: the one `wanted` names, or the only one. Several and
/// none named → FAILED_PRECONDITION listing them (a few) so the client can choose.
pub fn pick<'w>(watches: &'w [String], wanted: Option<&Ticker>) -> Result<&'w str> {
    match (wanted, watches) {
        (Some(t), _) => watches
            .iter()
            .find(|w| w.as_str() == t.as_str())
            .map(String::as_str)
            .ok_or_else(|| not_watched(t.as_str())),
        (None, [only]) => Ok(only),
        (None, []) => Err(Error::NotFound("the user watches no ticker".into())),
        (None, several) => {
            let shown: Vec<&str> = several.iter().take(5).map(String::as_str).collect();
            let more = if several.len() > 5 { ", …" } else { "" };
            Err(Error::FailedPrecondition(format!(
                "ticker: the user watches several tickers ({}{more}); name one",
                shown.join(", ")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watch_is_the_named_one_or_the_only_one() {
        let one = vec!["AAPL".to_owned()];
        let two = vec!["AAPL".to_owned(), "MSFT".to_owned()];
        let msft = Ticker::parse("ticker", "MSFT").unwrap();
        assert_eq!(pick(&one, None).unwrap(), "AAPL");
        assert_eq!(pick(&two, Some(&msft)).unwrap(), "MSFT");
        let err = pick(&two, None).unwrap_err();
        assert_eq!(err.code(), tonic::Code::FailedPrecondition);
        assert!(err.to_string().contains("AAPL, MSFT"), "{err}");
        assert_eq!(
            pick(&one, Some(&msft)).unwrap_err().code(),
            tonic::Code::NotFound
        );
        assert_eq!(pick(&[], None).unwrap_err().code(), tonic::Code::NotFound);
    }
}
