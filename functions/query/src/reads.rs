//! The reads themselves, for a user whose token has been checked: the quote reads of one watch
//! (the one the request names, or the user's only one) and the whole watchlist.

use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use tickermesh_api::v1::{
    self, GetAverageValueResponse, GetHistoryResponse, GetLatestValueResponse, ListWatchesResponse,
    WatchStatus,
};
use tickermesh_core::domain::{Count, Email, Ticker};
use tickermesh_core::store::{quotes, watches};
use tickermesh_core::{Context, Error, Result};

/// The optional `ticker` of a request, checked.
pub fn wanted(raw: Option<&str>) -> Result<Option<Ticker>> {
    raw.map(|t| Ticker::parse("ticker", t)).transpose()
}

/// The ticker of the watch the call acts on.
async fn watched_ticker(ctx: &Context, email: &Email, wanted: Option<&Ticker>) -> Result<Ticker> {
    let ticker = watches::resolve(ctx.store.pool(), email, wanted).await?;
    Ticker::parse("ticker", &ticker)
        .map_err(|e| Error::Internal(format!("stored ticker is invalid: {e}")))
}

/// NOT_FOUND for a ticker without quotes, saying why: the market data service does not know
/// the symbol, or nothing was collected yet.
async fn no_quotes(ctx: &Context, ticker: &str) -> Error {
    match quotes::is_unknown(ctx.store.pool(), ticker).await {
        Ok(true) => Error::NotFound(format!(
            "the market data service does not know the symbol {ticker}"
        )),
        Ok(false) => Error::NotFound(format!("no quotes collected for {ticker} yet")),
        Err(e) => e,
    }
}

/// Latest quote by user e-mail and the ticker asked for (empty: the user's only one). Its short
/// TTL bounds how stale an answer can be: quotes arrive once per collector tick (a minute), and
/// a changed watchlist shows within the TTL.
pub type LatestCache = Cache<(String, String), Arc<quotes::Quote>>;

/// `None` (no caching) for a zero TTL.
pub fn latest_cache(ttl: Duration) -> Option<LatestCache> {
    (!ttl.is_zero()).then(|| {
        Cache::builder()
            .max_capacity(100_000)
            .time_to_live(ttl)
            .build()
    })
}

/// The latest quote of the watch. Answers come from `cache` when it holds one; only found
/// quotes are cached, so a first quote shows up at once. One query on a miss: the watch and its
/// newest quote together.
pub async fn latest(
    ctx: &Context,
    cache: Option<&LatestCache>,
    email: Email,
    wanted: Option<Ticker>,
) -> Result<GetLatestValueResponse> {
    let key = (
        email.as_str().to_owned(),
        wanted
            .as_ref()
            .map(|t| t.as_str().to_owned())
            .unwrap_or_default(),
    );
    if let Some(quote) = match cache {
        Some(cache) => cache.get(&key).await,
        None => None,
    } {
        return Ok(GetLatestValueResponse {
            quote: Some(quote.as_ref().clone().into()),
        });
    }
    let mut rows = quotes::latest_for_user(ctx.store.pool(), &email, wanted.as_ref()).await?;
    if rows.len() != 1 {
        // No such user or watch, or several watches and none named: the reason.
        watched_ticker(ctx, &email, wanted.as_ref()).await?;
        return Err(Error::Aborted(
            "the watchlist changed meanwhile; retry".into(),
        ));
    }
    let (ticker, quote) = rows.remove(0);
    let Some(quote) = quote else {
        return Err(no_quotes(ctx, &ticker).await);
    };
    if let Some(cache) = cache {
        cache.insert(key, Arc::new(quote.clone())).await;
    }
    Ok(GetLatestValueResponse {
        quote: Some(quote.into()),
    })
}

pub async fn average(
    ctx: &Context,
    email: Email,
    wanted: Option<Ticker>,
    count: u32,
) -> Result<GetAverageValueResponse> {
    let n = Count::parse("count", count)?;
    let ticker = watched_ticker(ctx, &email, wanted.as_ref()).await?;
    let Some(avg) = quotes::average(ctx.store.pool(), &ticker, n).await? else {
        return Err(no_quotes(ctx, ticker.as_str()).await);
    };
    Ok(GetAverageValueResponse {
        ticker: ticker.as_str().to_owned(),
        average: avg.average,
        currency: avg.currency,
        count_requested: n.get(),
        count_used: avg.count,
        from_unix_ms: avg.from_ms,
        to_unix_ms: avg.to_ms,
    })
}

pub async fn history(
    ctx: &Context,
    email: Email,
    wanted: Option<Ticker>,
    limit: u32,
) -> Result<GetHistoryResponse> {
    let limit = Count::parse("limit", limit)?;
    let ticker = watched_ticker(ctx, &email, wanted.as_ref()).await?;
    let quotes = quotes::history(ctx.store.pool(), &ticker, limit).await?;
    if quotes.is_empty() {
        return Err(no_quotes(ctx, ticker.as_str()).await);
    }
    Ok(GetHistoryResponse {
        ticker: ticker.as_str().to_owned(),
        quotes: quotes.into_iter().map(Into::into).collect(),
    })
}

pub async fn list_watches(ctx: &Context, email: Email) -> Result<ListWatchesResponse> {
    let listed = watches::list(ctx.store.pool(), &email)
        .await?
        .ok_or_else(|| tickermesh_core::store::users::not_found(&email))?;
    Ok(ListWatchesResponse {
        watches: listed
            .into_iter()
            .map(|(watch, latest, unknown_symbol)| WatchStatus {
                watch: Some(v1::Watch::from(watch)),
                latest: latest.map(Into::into),
                unknown_symbol,
            })
            .collect(),
    })
}
