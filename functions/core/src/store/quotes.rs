//! Collected quotes. Every read is a range scan of the `(ticker, market_time_ms)` primary key.

use sqlx::{Any, Executor, Row};

use crate::domain::{Count, Email, Ticker};
use crate::error::{Error, Result};
use crate::store::Backend;

/// A stored quote is what its event says, field for field: one type for both.
pub use crate::events::QuoteCollected as Quote;

/// The average of the most recent quotes of a ticker.
#[derive(Debug, Clone, PartialEq)]
pub struct Average {
    pub average: f64,
    pub count: u32,
    pub from_ms: i64,
    pub to_ms: i64,
    pub currency: String,
}

const COLUMNS: &str =
    "ticker, price, currency, market_time_ms, collected_at_ms, simulated, previous_close";

fn from_row(row: &sqlx::any::AnyRow) -> std::result::Result<Quote, sqlx::Error> {
    Ok(Quote {
        ticker: row.try_get(0)?,
        price: row.try_get(1)?,
        currency: row.try_get(2)?,
        market_time_ms: row.try_get(3)?,
        collected_at_ms: row.try_get(4)?,
        simulated: row.try_get::<i64, _>(5)? != 0,
        previous_close: row.try_get(6)?,
    })
}

/// Stores a quote; `false` when the ticker already has a quote at that market time.
pub async fn insert<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    backend: Backend,
    quote: &Quote,
) -> Result<bool> {
    let sql = format!(
        "{} INTO quotes ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
        backend.insert_ignore()
    );
    let done = sqlx::query(&sql)
        .bind(&quote.ticker)
        .bind(quote.price)
        .bind(&quote.currency)
        .bind(quote.market_time_ms)
        .bind(quote.collected_at_ms)
        .bind(i64::from(quote.simulated))
        .bind(quote.previous_close.filter(|c| c.is_finite()))
        .execute(ex)
        .await
        .map_err(|e| Error::db("store a quote", e))?;
    Ok(done.rows_affected() > 0)
}

pub async fn latest<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    ticker: &Ticker,
) -> Result<Option<Quote>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM quotes WHERE ticker = ? ORDER BY market_time_ms DESC LIMIT 1"
    );
    one(ex, &sql, ticker.as_str(), None, "load the latest quote").await
}

/// The stored quote of `ticker` at `market_time_ms`: what an event about it may be checked
/// against.
pub async fn find<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    ticker: &str,
    market_time_ms: i64,
) -> Result<Option<Quote>> {
    let sql = format!("SELECT {COLUMNS} FROM quotes WHERE ticker = ? AND market_time_ms = ?");
    one(ex, &sql, ticker, Some(market_time_ms), "load a quote").await
}

/// At most one quote row of `sql`, bound to the ticker and, when given, a market time.
async fn one<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    sql: &str,
    ticker: &str,
    market_time_ms: Option<i64>,
    context: &'static str,
) -> Result<Option<Quote>> {
    let mut query = sqlx::query(sql).bind(ticker);
    if let Some(t) = market_time_ms {
        query = query.bind(t);
    }
    let row = query
        .fetch_optional(ex)
        .await
        .map_err(|e| Error::db(context, e))?;
    row.as_ref()
        .map(from_row)
        .transpose()
        .map_err(|e| Error::db("read a quote row", e))
}

/// The user's watched ticker and its newest quote — of the watch `wanted` names, or of every
/// watch when none is named, two at most (two mean the caller must ask which). One query: the
/// correlated subquery reads one row from the end of the ticker's primary-key range (a
/// correlated `MAX` would scan the whole range on MariaDB). Empty: no such user, or no such
/// watch.
pub async fn latest_for_user<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    email: &Email,
    wanted: Option<&Ticker>,
) -> Result<Vec<(String, Option<Quote>)>> {
    let filter = if wanted.is_some() {
        " AND s.ticker = ?"
    } else {
        ""
    };
    let sql = format!(
        "SELECT s.ticker, q.price, q.currency, q.market_time_ms, q.collected_at_ms, q.simulated, \
         q.previous_close FROM users u JOIN subscriptions s ON s.user_id = u.id \
         LEFT JOIN quotes q ON q.ticker = s.ticker AND q.market_time_ms = \
             (SELECT m.market_time_ms FROM quotes m WHERE m.ticker = s.ticker \
              ORDER BY m.market_time_ms DESC LIMIT 1) \
         WHERE u.email = ?{filter} ORDER BY s.id LIMIT 2"
    );
    let mut query = sqlx::query(&sql).bind(email.as_str());
    if let Some(t) = wanted {
        query = query.bind(t.as_str());
    }
    let rows = query
        .fetch_all(ex)
        .await
        .map_err(|e| Error::db("load the latest quote of a user", e))?;
    let read = |row: &sqlx::any::AnyRow| -> std::result::Result<_, sqlx::Error> {
        let ticker: String = row.try_get(0)?;
        let price: Option<f64> = row.try_get(1)?;
        let quote = match price {
            None => None,
            Some(price) => Some(Quote {
                ticker: ticker.clone(),
                price,
                currency: row.try_get(2)?,
                market_time_ms: row.try_get(3)?,
                collected_at_ms: row.try_get(4)?,
                simulated: row.try_get::<i64, _>(5)? != 0,
                previous_close: row.try_get(6)?,
            }),
        };
        Ok((ticker, quote))
    };
    rows.iter()
        .map(read)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::db("read a quote row", e))
}

/// Newest first, at most `limit`.
pub async fn history<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    ticker: &Ticker,
    limit: Count,
) -> Result<Vec<Quote>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM quotes WHERE ticker = ? ORDER BY market_time_ms DESC LIMIT ?"
    );
    let rows = sqlx::query(&sql)
        .bind(ticker.as_str())
        .bind(i64::from(limit.get()))
        .fetch_all(ex)
        .await
        .map_err(|e| Error::db("load quote history", e))?;
    rows.iter()
        .map(from_row)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::db("read a quote row", e))
}

/// The average of the `n` most recent quotes: the limit applies before the average, in a
/// derived table (`AVG(...) ... LIMIT n` would average every quote). `None` without quotes.
pub async fn average<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    ticker: &Ticker,
    n: Count,
) -> Result<Option<Average>> {
    let row = sqlx::query(
        "SELECT AVG(price), COUNT(*), MIN(market_time_ms), MAX(market_time_ms), MAX(currency) \
         FROM (SELECT price, market_time_ms, currency FROM quotes \
               WHERE ticker = ? ORDER BY market_time_ms DESC LIMIT ?) recent",
    )
    .bind(ticker.as_str())
    .bind(i64::from(n.get()))
    .fetch_one(ex)
    .await
    .map_err(|e| Error::db("average recent quotes", e))?;
    let read = || -> std::result::Result<Option<Average>, sqlx::Error> {
        let count: i64 = row.try_get(1)?;
        if count == 0 {
            return Ok(None);
        }
        Ok(Some(Average {
            average: row.try_get(0)?,
            count: u32::try_from(count).unwrap_or(u32::MAX),
            from_ms: row.try_get(2)?,
            to_ms: row.try_get(3)?,
            currency: row.try_get(4)?,
        }))
    };
    read().map_err(|e| Error::db("read an average row", e))
}

/// Quotes whose event has not been handed to the broker yet, oldest first.
pub async fn unpublished<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    limit: u32,
) -> Result<Vec<Quote>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM quotes WHERE published_at_ms IS NULL ORDER BY market_time_ms LIMIT ?"
    );
    let rows = sqlx::query(&sql)
        .bind(i64::from(limit))
        .fetch_all(ex)
        .await
        .map_err(|e| Error::db("load unpublished quotes", e))?;
    rows.iter()
        .map(from_row)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::db("read a quote row", e))
}

pub async fn mark_published<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    quote: &Quote,
    now_ms: i64,
) -> Result<()> {
    sqlx::query("UPDATE quotes SET published_at_ms = ? WHERE ticker = ? AND market_time_ms = ?")
        .bind(now_ms)
        .bind(&quote.ticker)
        .bind(quote.market_time_ms)
        .execute(ex)
        .await
        .map(|_| ())
        .map_err(|e| Error::db("mark a quote published", e))
}

/// How long a symbol the market does not know is left alone before it is asked for again (it
/// may have been listed since), unless someone adds it again sooner.
pub const UNKNOWN_RECHECK_MS: i64 = 24 * 3_600_000;

/// The tickers to collect: every watched one, except those the market said it does not know —
/// until [`UNKNOWN_RECHECK_MS`] has passed, or a watch of it was added or changed since.
pub async fn watched_tickers<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    now_ms: i64,
) -> Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT DISTINCT s.ticker FROM subscriptions s \
         LEFT JOIN unknown_symbols u ON u.ticker = s.ticker \
         WHERE u.ticker IS NULL OR u.seen_at_ms < ? OR s.updated_at_ms > u.seen_at_ms \
         ORDER BY s.ticker",
    )
    .bind(now_ms.saturating_sub(UNKNOWN_RECHECK_MS))
    .fetch_all(ex)
    .await
    .map_err(|e| Error::db("load watched tickers", e))
}

/// The symbols the market said it does not know.
pub async fn unknown_symbols<'e, E: Executor<'e, Database = Any>>(ex: E) -> Result<Vec<String>> {
    sqlx::query_scalar("SELECT ticker FROM unknown_symbols")
        .fetch_all(ex)
        .await
        .map_err(|e| Error::db("load unknown symbols", e))
}

/// Forgets that the market did not know `ticker`: it answered with a price.
pub async fn forget_unknown<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    ticker: &str,
) -> Result<()> {
    sqlx::query("DELETE FROM unknown_symbols WHERE ticker = ?")
        .bind(ticker)
        .execute(ex)
        .await
        .map(|_| ())
        .map_err(|e| Error::db("forget an unknown symbol", e))
}

/// Whether the market said it does not know `ticker`.
pub async fn is_unknown<'e, E: Executor<'e, Database = Any>>(ex: E, ticker: &str) -> Result<bool> {
    let seen: Option<i64> =
        sqlx::query_scalar("SELECT seen_at_ms FROM unknown_symbols WHERE ticker = ?")
            .bind(ticker)
            .fetch_optional(ex)
            .await
            .map_err(|e| Error::db("look up an unknown symbol", e))?;
    Ok(seen.is_some())
}

/// Remembers that the market does not know `ticker` (latest sighting wins).
pub async fn record_unknown(store: &crate::store::Store, ticker: &str, now_ms: i64) -> Result<()> {
    let sql = match store.backend() {
        Backend::MySql => {
            "INSERT INTO unknown_symbols (ticker, seen_at_ms) VALUES (?, ?) \
             ON DUPLICATE KEY UPDATE seen_at_ms = VALUES(seen_at_ms)"
        }
        Backend::Sqlite => {
            "INSERT INTO unknown_symbols (ticker, seen_at_ms) VALUES (?, ?) \
             ON CONFLICT (ticker) DO UPDATE SET seen_at_ms = excluded.seen_at_ms"
        }
    };
    sqlx::query(sql)
        .bind(ticker)
        .bind(now_ms)
        .execute(store.pool())
        .await
        .map(|_| ())
        .map_err(|e| Error::db("record an unknown symbol", e))
}
