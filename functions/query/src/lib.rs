//! The query function: `TickerQueries` — the latest quote, the average of the N most recent
//! quotes and the history of a ticker a user watches, and the user's whole watchlist. Every
//! call carries the user's access token (`authorization: Bearer …`).

mod config;
mod metrics;
mod owners;
mod reads;

use std::sync::Arc;

use tickermesh_api::v1::ticker_queries_server::{TickerQueries, TickerQueriesServer};
use tickermesh_api::v1::{
    GetAverageValueRequest, GetAverageValueResponse, GetHistoryRequest, GetHistoryResponse,
    GetLatestValueRequest, GetLatestValueResponse, ListWatchesRequest, ListWatchesResponse,
};
use tickermesh_core::access::bearer;
use tickermesh_core::command::{answer, Deadline};
use tickermesh_core::server::{GrpcApp, Router};
use tickermesh_core::Context;
use tonic::{Request, Response, Status};

pub use config::QueryConfig;
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
        let deadline = self.deadline(&request);
        let token = bearer(request.metadata());
        let request = request.into_inner();
        let call = async {
            let email = self.owners.owner(&self.ctx, token, &request.email).await?;
            let ticker = wanted(request.ticker.as_deref())?;
            average(&self.ctx, email, ticker, request.count).await
        };
        answer("GetAverageValue", deadline, call).await
    }

    async fn get_history(
        &self,
        request: Request<GetHistoryRequest>,
    ) -> Result<Response<GetHistoryResponse>, Status> {
        let deadline = self.deadline(&request);
        let token = bearer(request.metadata());
        let request = request.into_inner();
        let call = async {
            let email = self.owners.owner(&self.ctx, token, &request.email).await?;
            let ticker = wanted(request.ticker.as_deref())?;
            history(&self.ctx, email, ticker, request.limit).await
        };
        answer("GetHistory", deadline, call).await
    }

    async fn list_watches(
        &self,
        request: Request<ListWatchesRequest>,
    ) -> Result<Response<ListWatchesResponse>, Status> {
        let deadline = self.deadline(&request);
        let token = bearer(request.metadata());
        let request = request.into_inner();
        let call = async {
            let email = self.owners.owner(&self.ctx, token, &request.email).await?;
            list_watches(&self.ctx, email).await
        };
        answer("ListWatches", deadline, call).await
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
