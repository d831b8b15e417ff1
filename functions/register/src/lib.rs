//! The register function: `UserCommands/RegisterUser`. Its container answers UNIMPLEMENTED for
//! the other methods of the service; the ingress routes those to their own functions.

use std::sync::Arc;

use tickermesh_api::v1::user_commands_server::{UserCommands, UserCommandsServer};
use tickermesh_api::v1::{RegisterUserRequest, RegisterUserResponse};
use tickermesh_core::domain::{Email, Thresholds, Ticker};
use tickermesh_core::idempotency::{fingerprint, IdempotencyKey};
use tickermesh_core::server::{grpc_app, Router};
use tickermesh_core::store::users;
use tickermesh_core::{metrics, now_unix_ms, Context, Error, Result};
use tonic::service::Routes;
use tonic::{Code, Request, Response, Status};

pub const METHOD: &str = "RegisterUser";

/// Registers a user watching one ticker, at most once per idempotency key.
pub async fn handle(
    ctx: &Context,
    key: Option<&IdempotencyKey>,
    request: RegisterUserRequest,
) -> Result<RegisterUserResponse> {
    let request_hash = fingerprint(METHOD, &request);
    let email = Email::parse("email", &request.email)?;
    let ticker = Ticker::parse("ticker", &request.ticker)?;
    let thresholds = Thresholds::new(request.min_price, request.max_price)?;
    ctx.idempotency
        .execute(&ctx.store, key, METHOD, request_hash, move |conn| {
            Box::pin(async move {
                let user = users::insert(conn, &email, &ticker, thresholds, now_unix_ms()).await?;
                Ok(RegisterUserResponse {
                    user: Some(user.into()),
                })
            })
        })
        .await
}

/// The RPC: idempotency key from metadata, metrics, and the status mapping.
pub async fn rpc(
    ctx: &Context,
    request: Request<RegisterUserRequest>,
) -> Result<Response<RegisterUserResponse>, Status> {
    metrics::observe_grpc(METHOD, async {
        let result = match IdempotencyKey::from_metadata(request.metadata()) {
            Ok(key) => handle(ctx, key.as_ref(), request.into_inner()).await,
            Err(e) => Err(e),
        };
        metrics::register_user(outcome(&result));
        result.map(Response::new).map_err(Status::from)
    })
    .await
}

fn outcome(result: &Result<RegisterUserResponse>) -> &'static str {
    match result.as_ref().map_err(Error::code) {
        Ok(_) => "created",
        Err(Code::AlreadyExists) => "already_exists",
        Err(Code::InvalidArgument) => "invalid",
        Err(_) => "error",
    }
}

#[derive(Clone)]
pub struct Register {
    ctx: Arc<Context>,
}

#[tonic::async_trait]
impl UserCommands for Register {
    async fn register_user(
        &self,
        request: Request<RegisterUserRequest>,
    ) -> Result<Response<RegisterUserResponse>, Status> {
        rpc(&self.ctx, request).await
    }
}

pub fn service(ctx: Arc<Context>) -> UserCommandsServer<Register> {
    metrics::init_register_user();
    UserCommandsServer::new(Register { ctx })
}

/// The function's whole HTTP surface, ready to serve on a listener.
pub async fn router(ctx: Arc<Context>) -> Router {
    grpc_app(Routes::new(service(ctx)), &["tickermesh.v1.UserCommands"]).await
}
