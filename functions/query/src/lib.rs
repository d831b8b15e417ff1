//! The query function: `TickerQueries` — the latest quote, the average of the N most recent
//! quotes and the history of a ticker a user watches, and the user's whole watchlist. Every
//! call carries the user's access token (`authorization: Bearer …`).

mod config;
mod history;
mod metrics;
mod owners;
mod reads;

use std::future::Future;
use std::sync::Arc;

use tickermesh_api::v1::ticker_queries_server::{TickerQueries, TickerQueriesServer};
use tickermesh_api::v1::{
    GetAverageValueRequest, GetAverageValueResponse, GetHistoryRequest, GetHistoryResponse,
    GetLatestValueRequest, GetLatestValueResponse, ListAlertsRequest, ListAlertsResponse,
    ListWatchesRequest, ListWatchesResponse,
};
use tickermesh_core::access::bearer;
use tickermesh_core::command::{answer, Deadline};
use tickermesh_core::domain::Email;
use tickermesh_core::server::{GrpcApp, Router};
use tickermesh_core::Context;
use tonic::{Request, Response, Status};

pub use config::QueryConfig;
pub use history::list_alerts;
pub use reads::{average, history, latest, latest_cache, list_watches, LatestCache};

use owners::Owners;
use reads::wanted;

#[derive(Clone)]
pub struct Queries {
    ctx: Arc<Context>,
    cache: Option<LatestCache>,
    owners: Owners,
}

impl Queries {
    fn deadline<T>(&self, request: &Request<T>) -> Deadline {
        Deadline::of(request.metadata(), self.ctx.request_timeout)
    }

    /// What every read does: within the call's deadline, the caller's token must be that of
    /// the user `email_of` names; then `read` answers for that user.
    async fn owned<R, T, Fut>(
        &self,
        method: &'static str,
        request: Request<R>,
        email_of: fn(&R) -> &String,
        read: impl FnOnce(Email, R) -> Fut,
    ) -> Result<Response<T>, Status>
    where
        Fut: Future<Output = tickermesh_core::Result<T>>,
    {
        let deadline = self.deadline(&request);
        let token = bearer(request.metadata());
        let request = request.into_inner();
        let call = async {
            let email = self
                .owners
                .owner(&self.ctx, token, email_of(&request))
                .await?;
            read(email, request).await
        };
        answer(method, deadline, call).await
    }
}

#[tonic::async_trait]
impl TickerQueries for Queries {
    async fn get_latest_value(
        &self,
        request: Request<GetLatestValueRequest>,
    ) -> Result<Response<GetLatestValueResponse>, Status> {
        let deadline = self.deadline(&request);
        let token = bearer(request.metadata());
        let request = request.into_inner();
        let call = async {
            let email = self.owners.owner(&self.ctx, token, &request.email).await?;
            let ticker = wanted(request.ticker.as_deref())?;
            latest(&self.ctx, self.cache.as_ref(), email, ticker).await
        };
        answer("GetLatestValue", deadline, metrics::time_latest(call)).await
    }

    async fn get_average_value(
        &self,
        request: Request<GetAverageValueRequest>,
    ) -> Result<Response<GetAverageValueResponse>, Status> {
        self.owned(
            "GetAverageValue",
            request,
            |r| &r.email,
            |email, r| async move {
                let ticker = wanted(r.ticker.as_deref())?;
                average(&self.ctx, email, ticker, r.count).await
            },
        )
        .await
    }

    async fn get_history(
        &self,
        request: Request<GetHistoryRequest>,
    ) -> Result<Response<GetHistoryResponse>, Status> {
        self.owned(
            "GetHistory",
            request,
            |r| &r.email,
            |email, r| async move {
                let ticker = wanted(r.ticker.as_deref())?;
                history(&self.ctx, email, ticker, r.limit).await
            },
        )
        .await
    }

    async fn list_watches(
        &self,
        request: Request<ListWatchesRequest>,
    ) -> Result<Response<ListWatchesResponse>, Status> {
        self.owned(
            "ListWatches",
            request,
            |r| &r.email,
            |email, _| list_watches(&self.ctx, email),
        )
        .await
    }

    async fn list_alerts(
        &self,
        request: Request<ListAlertsRequest>,
    ) -> Result<Response<ListAlertsResponse>, Status> {
        self.owned(
            "ListAlerts",
            request,
            |r| &r.email,
            |email, r| async move {
                let ticker = wanted(r.ticker.as_deref())?;
                list_alerts(&self.ctx, email, ticker, r.limit).await
            },
        )
        .await
    }
}

pub fn service(ctx: Arc<Context>, config: &QueryConfig) -> TickerQueriesServer<Queries> {
    metrics::init();
    TickerQueriesServer::new(Queries {
        ctx,
        cache: latest_cache(config.cache_ttl),
        owners: Owners::new(config.cache_ttl),
    })
}

pub async fn router(ctx: Arc<Context>, config: QueryConfig) -> Router {
    GrpcApp::new().service(service(ctx, &config)).router().await
}
