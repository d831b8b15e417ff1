//! The query function: `TickerQueries` — the latest quote, the average of the N most recent
//! quotes, and the history of the ticker a user watches.

mod config;
mod metrics;

use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;

use tickermesh_api::v1::ticker_queries_server::{TickerQueries, TickerQueriesServer};
use tickermesh_api::v1::{
    GetAverageValueRequest, GetAverageValueResponse, GetHistoryRequest, GetHistoryResponse,
    GetLatestValueRequest, GetLatestValueResponse,
};
use tickermesh_core::command::{answer, Deadline};
use tickermesh_core::domain::{Count, Email, Ticker};
use tickermesh_core::server::{GrpcApp, Router};
use tickermesh_core::store::{quotes, users};
use tickermesh_core::{Context, Error, Result};
use tonic::{Request, Response, Status};

pub use config::QueryConfig;

/// The ticker the user watches, or NOT_FOUND for an unknown user.
async fn watched_ticker(ctx: &Context, raw_email: &str) -> Result<Ticker> {
    let email = Email::parse("email", raw_email)?;
    let user = users::find(ctx.store.pool(), &email)
        .await?
        .ok_or_else(|| users::not_found(&email))?;
    Ticker::parse("ticker", &user.ticker)
        .map_err(|e| Error::Internal(format!("stored ticker is invalid: {e}")))
}

fn no_quotes(ticker: &str) -> Error {
    Error::NotFound(format!("no quotes collected for {ticker} yet"))
}

/// The latest quote of the user's ticker. Answers come from `cache` when it holds one for the
/// user; only found quotes are cached, so a first quote shows up at once.
pub async fn latest(
    ctx: &Context,
    cache: Option<&LatestCache>,
    request: GetLatestValueRequest,
) -> Result<GetLatestValueResponse> {
    let email = Email::parse("email", &request.email)?;
    let cached = match cache {
        Some(cache) => cache.get(email.as_str()).await,
        None => None,
    };
    if let Some(quote) = cached {
        return Ok(GetLatestValueResponse {
            quote: Some(quote.as_ref().clone().into()),
        });
    }
    let (ticker, quote) = quotes::latest_for_user(ctx.store.pool(), &email)
        .await?
        .ok_or_else(|| users::not_found(&email))?;
    let quote = quote.ok_or_else(|| no_quotes(&ticker))?;
    if let Some(cache) = cache {
        cache
            .insert(email.as_str().to_owned(), Arc::new(quote.clone()))
            .await;
    }
    Ok(GetLatestValueResponse {
        quote: Some(quote.into()),
    })
}

/// Latest quote by user e-mail. Its short TTL bounds how stale an answer can be: quotes
/// arrive once per collector tick (a minute), and a changed ticker shows within the TTL.
pub type LatestCache = Cache<String, Arc<quotes::Quote>>;

/// `None` (no caching) for a zero TTL.
pub fn latest_cache(ttl: Duration) -> Option<LatestCache> {
    (!ttl.is_zero()).then(|| {
        Cache::builder()
            .max_capacity(100_000)
            .time_to_live(ttl)
            .build()
    })
}

pub async fn average(
    ctx: &Context,
    request: GetAverageValueRequest,
) -> Result<GetAverageValueResponse> {
    let n = Count::parse("count", request.count)?;
    let ticker = watched_ticker(ctx, &request.email).await?;
    let avg = quotes::average(ctx.store.pool(), &ticker, n)
        .await?
        .ok_or_else(|| no_quotes(ticker.as_str()))?;
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

pub async fn history(ctx: &Context, request: GetHistoryRequest) -> Result<GetHistoryResponse> {
    let limit = Count::parse("limit", request.limit)?;
    let ticker = watched_ticker(ctx, &request.email).await?;
    let quotes = quotes::history(ctx.store.pool(), &ticker, limit).await?;
    if quotes.is_empty() {
        return Err(no_quotes(ticker.as_str()));
    }
    Ok(GetHistoryResponse {
        ticker: ticker.as_str().to_owned(),
        quotes: quotes.into_iter().map(Into::into).collect(),
    })
}

#[derive(Clone)]
pub struct Queries {
    ctx: Arc<Context>,
    cache: Option<LatestCache>,
}

impl Queries {
    fn deadline<T>(&self, request: &Request<T>) -> Deadline {
        Deadline::of(request.metadata(), self.ctx.request_timeout)
    }
}

#[tonic::async_trait]
impl TickerQueries for Queries {
    async fn get_latest_value(
        &self,
        request: Request<GetLatestValueRequest>,
    ) -> Result<Response<GetLatestValueResponse>, Status> {
        let deadline = self.deadline(&request);
        let latest = latest(&self.ctx, self.cache.as_ref(), request.into_inner());
        answer("GetLatestValue", deadline, metrics::time_latest(latest)).await
    }

    async fn get_average_value(
        &self,
        request: Request<GetAverageValueRequest>,
    ) -> Result<Response<GetAverageValueResponse>, Status> {
        let deadline = self.deadline(&request);
        answer(
            "GetAverageValue",
            deadline,
            average(&self.ctx, request.into_inner()),
        )
        .await
    }

    async fn get_history(
        &self,
        request: Request<GetHistoryRequest>,
    ) -> Result<Response<GetHistoryResponse>, Status> {
        let deadline = self.deadline(&request);
        answer(
            "GetHistory",
            deadline,
            history(&self.ctx, request.into_inner()),
        )
        .await
    }
}

pub fn service(ctx: Arc<Context>, config: &QueryConfig) -> TickerQueriesServer<Queries> {
    metrics::init();
    let cache = latest_cache(config.cache_ttl);
    TickerQueriesServer::new(Queries { ctx, cache })
}

pub async fn router(ctx: Arc<Context>, config: QueryConfig) -> Router {
    GrpcApp::new().service(service(ctx, &config)).router().await
}
