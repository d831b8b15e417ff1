//! The delete function: `UserCommands/DeleteUser`. Removes the user and what it watches.

use std::sync::Arc;

use tickermesh_api::v1::user_commands_server::{UserCommands, UserCommandsServer};
use tickermesh_api::v1::{DeleteUserRequest, DeleteUserResponse};
use tickermesh_core::domain::Email;
use tickermesh_core::idempotency::{fingerprint, IdempotencyKey};
use tickermesh_core::server::{grpc_app, Router};
use tickermesh_core::store::users;
use tickermesh_core::{metrics, Context, Result};
use tonic::service::Routes;
use tonic::{Request, Response, Status};

pub const METHOD: &str = "DeleteUser";

pub async fn handle(
    ctx: &Context,
    key: Option<&IdempotencyKey>,
    request: DeleteUserRequest,
) -> Result<DeleteUserResponse> {
    let request_hash = fingerprint(METHOD, &request);
    let email = Email::parse("email", &request.email)?;
    ctx.idempotency
        .execute(&ctx.store, key, METHOD, request_hash, move |conn| {
            Box::pin(async move {
                users::delete(conn, &email).await?;
                Ok(DeleteUserResponse {
                    email: email.as_str().to_owned(),
                })
            })
        })
        .await
}

pub async fn rpc(
    ctx: &Context,
    request: Request<DeleteUserRequest>,
) -> Result<Response<DeleteUserResponse>, Status> {
    metrics::observe_grpc(METHOD, async {
        let key = IdempotencyKey::from_metadata(request.metadata())?;
        Ok(Response::new(
            handle(ctx, key.as_ref(), request.into_inner()).await?,
        ))
    })
    .await
}

#[derive(Clone)]
pub struct Delete {
    ctx: Arc<Context>,
}

#[tonic::async_trait]
impl UserCommands for Delete {
    async fn delete_user(
        &self,
        request: Request<DeleteUserRequest>,
    ) -> Result<Response<DeleteUserResponse>, Status> {
        rpc(&self.ctx, request).await
    }
}

pub fn service(ctx: Arc<Context>) -> UserCommandsServer<Delete> {
    UserCommandsServer::new(Delete { ctx })
}

pub async fn router(ctx: Arc<Context>) -> Router {
    grpc_app(Routes::new(service(ctx)), &["tickermesh.v1.UserCommands"]).await
}
