//! The local mesh: every function in one process, on one port, on the embedded default.
//! In the cluster each function runs in its own container; here one `UserCommands` service
//! delegates each method to the function that owns it, so the logic is the same code.

pub mod seed;
pub mod up;

use std::sync::Arc;

use tickermesh_api::v1::user_commands_server::{UserCommands, UserCommandsServer};
use tickermesh_api::v1::{
    DeleteUserRequest, DeleteUserResponse, RegisterUserRequest, RegisterUserResponse,
    UpdateUserRequest, UpdateUserResponse,
};
use tickermesh_core::server::{grpc_app, Router};
use tickermesh_core::Context;
use tonic::service::Routes;
use tonic::{Request, Response, Status};

#[derive(Clone)]
pub struct MeshCommands {
    ctx: Arc<Context>,
}

#[tonic::async_trait]
impl UserCommands for MeshCommands {
    async fn register_user(
        &self,
        request: Request<RegisterUserRequest>,
    ) -> Result<Response<RegisterUserResponse>, Status> {
        tickermesh_register::rpc(&self.ctx, request).await
    }

    async fn update_user(
        &self,
        request: Request<UpdateUserRequest>,
    ) -> Result<Response<UpdateUserResponse>, Status> {
        tickermesh_update::rpc(&self.ctx, request).await
    }

    async fn delete_user(
        &self,
        request: Request<DeleteUserRequest>,
    ) -> Result<Response<DeleteUserResponse>, Status> {
        tickermesh_delete::rpc(&self.ctx, request).await
    }
}

/// Every gRPC function of the mesh, with health, reflection and one `/metrics`.
pub async fn router(ctx: Arc<Context>) -> Router {
    tickermesh_core::metrics::init_register_user();
    let routes = Routes::new(UserCommandsServer::new(MeshCommands { ctx: ctx.clone() }))
        .add_service(tickermesh_query::service(ctx));
    grpc_app(
        routes,
        &["tickermesh.v1.UserCommands", "tickermesh.v1.TickerQueries"],
    )
    .await
}
