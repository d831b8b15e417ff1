//! The watch function: `UserCommands/AddWatch` and `UserCommands/RemoveWatch`, the tickers on a
//! user's watchlist, each with its own thresholds. At most once per idempotency key, for the
//! owner of the access token only.

use std::sync::Arc;

use tickermesh_api::v1::{
    AddWatchRequest, AddWatchResponse, RemoveWatchRequest, RemoveWatchResponse,
};
use tickermesh_core::command::{serves, Call, Command, UserCommandsService};
use tickermesh_core::config::{positive_var, ConfigError};
use tickermesh_core::domain::{Email, Thresholds, Ticker, WatchRules};
use tickermesh_core::events::collect_request::CollectRequests;
use tickermesh_core::server::{GrpcApp, Router};
use tickermesh_core::store::watches::{self, DEFAULT_MAX_WATCHES};
use tickermesh_core::{now_unix_ms, Context, Result};

/// The watch function's own settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchConfig {
    /// `TICKERMESH_MAX_WATCHES` (100): tickers one user may watch.
    pub max_watches: u32,
}

impl Default for WatchConfig {
    fn default() -> Self {
        Self {
            max_watches: DEFAULT_MAX_WATCHES,
        }
    }
}

impl WatchConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            max_watches: positive_var("TICKERMESH_MAX_WATCHES", DEFAULT_MAX_WATCHES)?,
        })
    }
}

/// AddWatch; the second field, when set, asks collect for the first price of a ticker nobody
/// watched before, after the commit.
pub struct AddWatch(pub WatchConfig, pub Option<Arc<CollectRequests>>);

#[async_trait::async_trait]
impl Command for AddWatch {
    type Request = AddWatchRequest;
    type Response = AddWatchResponse;

    async fn handle(&self, call: Call<'_>, request: Self::Request) -> Result<Self::Response> {
        let email = Email::parse("email", &request.email)?;
        let ticker = Ticker::parse("ticker", &request.ticker)?;
        let thresholds = Thresholds::new(request.min_price, request.max_price)?;
        let rules = WatchRules::new(request.move_percent, request.cooldown_seconds)?;
        call.authorize(&email).await?;
        let backend = call.ctx.store.backend();
        let max = self.0.max_watches;
        let (ctx, watched) = (call.ctx, ticker.clone());
        let response = call
            .once(move |conn| {
                Box::pin(async move {
                    let user_id = watches::lock_user(conn, backend, &email).await?;
                    let now = now_unix_ms();
                    let watch =
                        watches::add(conn, user_id, &ticker, thresholds, rules, max, now).await?;
                    Ok(AddWatchResponse {
                        watch: Some(watch.into()),
                    })
                })
            })
            .await?;
        if let Some(first_prices) = &self.1 {
            let source = "/tickermesh/watch";
            first_prices.first_price(&ctx.store, &watched, source).await;
        }
        Ok(response)
    }
}

/// RemoveWatch.
pub struct RemoveWatch;

#[async_trait::async_trait]
impl Command for RemoveWatch {
    type Request = RemoveWatchRequest;
    type Response = RemoveWatchResponse;

    async fn handle(&self, call: Call<'_>, request: Self::Request) -> Result<Self::Response> {
        let email = Email::parse("email", &request.email)?;
        let ticker = Ticker::parse("ticker", &request.ticker)?;
        call.authorize(&email).await?;
        let backend = call.ctx.store.backend();
        call.once(move |conn| {
            Box::pin(async move {
                let user_id = watches::lock_user(conn, backend, &email).await?;
                watches::remove(conn, user_id, &ticker).await?;
                Ok(RemoveWatchResponse {
                    email: email.as_str().to_owned(),
                    ticker: ticker.as_str().to_owned(),
                })
            })
        })
        .await
    }
}

/// The function's whole HTTP surface, ready to serve on a listener.
pub async fn router(
    ctx: Arc<Context>,
    config: WatchConfig,
    first_prices: Arc<CollectRequests>,
) -> Router {
    let commands = UserCommandsService {
        add_watch: serves(AddWatch(config, Some(first_prices))),
        remove_watch: serves(RemoveWatch),
        ..UserCommandsService::new(ctx)
    };
    GrpcApp::new().service(commands.server()).router().await
}
