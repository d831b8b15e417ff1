//! Retention: old quotes and old alerts removed in small batches, each batch its own short
//! transaction, so that no statement holds locks (or SQLite's one write lock) for long and the
//! pipeline keeps writing beside a pass. Every batch reads an index range, never the table:
//! quotes along their primary key `(ticker, market_time_ms)`, one ticker at a time; alerts
//! along `alerts_outbox (published_at_ms, created_at_ms, alert_id)`.

use sqlx::{Any, Executor};

use crate::error::{Error, Result};
use crate::store::{Backend, Store};

/// The ticker after `after` (the first with `None`) that has quotes: one seek in the primary
/// key, so listing the tickers costs one probe per ticker however many quotes each has.
pub async fn next_ticker<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    after: Option<&str>,
) -> Result<Option<String>> {
    let query = match after {
        Some(t) => {
            sqlx::query_scalar("SELECT ticker FROM quotes WHERE ticker > ? ORDER BY ticker LIMIT 1")
                .bind(t.to_owned())
        }
        None => sqlx::query_scalar("SELECT ticker FROM quotes ORDER BY ticker LIMIT 1"),
    };
    query
        .fetch_optional(ex)
        .await
        .map_err(|e| Error::db("find the next ticker with quotes", e))
}

/// The market time of the newest quote of `ticker`.
pub async fn newest_quote_ms<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    ticker: &str,
) -> Result<Option<i64>> {
    sqlx::query_scalar(
        "SELECT market_time_ms FROM quotes WHERE ticker = ? ORDER BY market_time_ms DESC LIMIT 1",
    )
    .bind(ticker.to_owned())
    .fetch_optional(ex)
    .await
    .map_err(|e| Error::db("find the newest quote of a ticker", e))
}

/// Deletes up to `limit` quotes of `ticker` quoted before `before_ms`, oldest first, in one
/// statement (its own transaction). Returns how many went: fewer than `limit` means none is
/// left before `before_ms`.
pub async fn delete_quotes_batch(
    store: &Store,
    ticker: &str,
    before_ms: i64,
    limit: u32,
) -> Result<u64> {
    let limit = i64::from(limit);
    let query = match store.backend() {
        Backend::MySql => sqlx::query(
            "DELETE FROM quotes WHERE ticker = ? AND market_time_ms < ? \
             ORDER BY market_time_ms LIMIT ?",
        )
        .bind(ticker.to_owned())
        .bind(before_ms)
        .bind(limit),
        // SQLite has no DELETE … LIMIT unless built for it; the batch is the first `limit`
        // keys of the range, read by a subquery on the same primary key.
        Backend::Sqlite => sqlx::query(
            "DELETE FROM quotes WHERE ticker = ? AND market_time_ms IN \
             (SELECT market_time_ms FROM quotes WHERE ticker = ? AND market_time_ms < ? \
              ORDER BY market_time_ms LIMIT ?)",
        )
        .bind(ticker.to_owned())
        .bind(ticker.to_owned())
        .bind(before_ms)
        .bind(limit),
    };
    // Through the writer: on SQLite the one connection writers queue on.
    let mut tx = store.begin().await?;
    let done = query
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::db("delete old quotes", e))?;
    tx.commit()
        .await
        .map_err(|e| Error::db("commit a retention batch", e))?;
    Ok(done.rows_affected())
}

/// Deletes up to `limit` alerts created before `before_ms`, with notify's records of them, in
/// one transaction. Returns how many alerts went: fewer than `limit` means none was left (or
/// another transaction deleted some meanwhile: the next pass takes the rest).
///
/// The batch is read from two ranges of `alerts_outbox`: alerts never handed to the broker
/// (`published_at_ms IS NULL`, by creation time), then alerts handed on before `before_ms`
/// (an alert is published after it is made, so these are the old ones; the creation time,
/// also in the index, is checked as well). An alert made before the cut but published after
/// it is left for a later pass, once its publication is old too.
pub async fn delete_alerts_batch(store: &Store, before_ms: i64, limit: u32) -> Result<u64> {
    let mut tx = store.begin().await?;
    let limit = i64::from(limit);
    let mut ids: Vec<String> = sqlx::query_scalar(
        // Not `ORDER BY published_at_ms, …`: MariaDB sorts (filesort) for that one here.
        "SELECT alert_id FROM alerts WHERE published_at_ms IS NULL AND created_at_ms < ? \
         ORDER BY created_at_ms, alert_id LIMIT ?",
    )
    .bind(before_ms)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await
    .map_err(|e| Error::db("find old unpublished alerts", e))?;
    let rest = limit - i64::try_from(ids.len()).unwrap_or(limit);
    if rest > 0 {
        let published: Vec<String> = sqlx::query_scalar(
            "SELECT alert_id FROM alerts WHERE published_at_ms < ? AND created_at_ms < ? \
             ORDER BY published_at_ms, created_at_ms, alert_id LIMIT ?",
        )
        .bind(before_ms)
        .bind(before_ms)
        .bind(rest)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| Error::db("find old alerts", e))?;
        ids.extend(published);
    }
    if ids.is_empty() {
        return Ok(0);
    }
    let marks = vec!["?"; ids.len()].join(", ");
    let mut deleted = 0;
    for (table, context) in [
        ("sent_alerts", "delete the records of old alerts"),
        ("alerts", "delete old alerts"),
    ] {
        let sql = format!("DELETE FROM {table} WHERE alert_id IN ({marks})");
        let mut query = sqlx::query(&sql);
        for id in &ids {
            query = query.bind(id.as_str());
        }
        let done = query
            .execute(&mut *tx)
            .await
            .map_err(|e| Error::db(context, e))?;
        deleted = done.rows_affected();
    }
    tx.commit()
        .await
        .map_err(|e| Error::db("commit a retention batch", e))?;
    Ok(deleted)
}
