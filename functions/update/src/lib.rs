//! The update function: `UserCommands/UpdateUser`. Changes the watched ticker and sets, replaces
//! or clears either threshold in one call; what the request does not mention stays as it is.

use std::sync::Arc;

use tickermesh_api::v1::threshold_change::Change;
use tickermesh_api::v1::user_commands_server::{UserCommands, UserCommandsServer};
use tickermesh_api::v1::{self, UpdateUserRequest, UpdateUserResponse};
use tickermesh_core::domain::{Email, ThresholdChange, Ticker};
use tickermesh_core::idempotency::{fingerprint, IdempotencyKey};
use tickermesh_core::server::{grpc_app, Router};
use tickermesh_core::store::users;
use tickermesh_core::{metrics, now_unix_ms, Context, Error, Result};
use tonic::service::Routes;
use tonic::{Request, Response, Status};

pub const METHOD: &str = "UpdateUser";

fn threshold_change(
    field: &'static str,
    change: Option<v1::ThresholdChange>,
) -> Result<ThresholdChange> {
    match change.and_then(|c| c.change) {
        None => Ok(ThresholdChange::Keep),
        Some(Change::Set(price)) => Ok(ThresholdChange::Set(price)),
        Some(Change::Clear(true)) => Ok(ThresholdChange::Clear),
        Some(Change::Clear(false)) => Err(Error::invalid(field, "clear must be true when given")),
    }
}

pub async fn handle(
    ctx: &Context,
    key: Option<&IdempotencyKey>,
    request: UpdateUserRequest,
) -> Result<UpdateUserResponse> {
    let request_hash = fingerprint(METHOD, &request);
    let email = Email::parse("email", &request.email)?;
    let ticker = request
        .ticker
        .as_deref()
        .map(|t| Ticker::parse("ticker", t))
        .transpose()?;
    let min = threshold_change("min_price", request.min_price)?;
    let max = threshold_change("max_price", request.max_price)?;
    let backend = ctx.store.backend();
    ctx.idempotency
        .execute(&ctx.store, key, METHOD, request_hash, move |conn| {
            Box::pin(async move {
                let user = users::lock(conn, backend, &email).await?;
                // Validated against the stored values: a new min must stay below the kept max.
                let thresholds = users::thresholds_of(&user)?.apply(min, max)?;
                let ticker = match ticker {
                    Some(t) => t,
                    None => Ticker::parse("ticker", &user.ticker)?,
                };
                let user =
                    users::update_subscription(conn, &user, &ticker, thresholds, now_unix_ms())
                        .await?;
                Ok(UpdateUserResponse {
                    user: Some(user.into()),
                })
            })
        })
        .await
}

pub async fn rpc(
    ctx: &Context,
    request: Request<UpdateUserRequest>,
) -> Result<Response<UpdateUserResponse>, Status> {
    metrics::observe_grpc(METHOD, async {
        let key = IdempotencyKey::from_metadata(request.metadata())?;
        Ok(Response::new(
            handle(ctx, key.as_ref(), request.into_inner()).await?,
        ))
    })
    .await
}

#[derive(Clone)]
pub struct Update {
    ctx: Arc<Context>,
}

#[tonic::async_trait]
impl UserCommands for Update {
    async fn update_user(
        &self,
        request: Request<UpdateUserRequest>,
    ) -> Result<Response<UpdateUserResponse>, Status> {
        rpc(&self.ctx, request).await
    }
}

pub fn service(ctx: Arc<Context>) -> UserCommandsServer<Update> {
    UserCommandsServer::new(Update { ctx })
}

pub async fn router(ctx: Arc<Context>) -> Router {
    grpc_app(Routes::new(service(ctx)), &["tickermesh.v1.UserCommands"]).await
}
