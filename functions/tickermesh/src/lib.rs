//! The local mesh: every function in one process, on one port, on the embedded default.
//! In the cluster each function runs in its own container; here one `UserCommands` service
//! serves every command function's command, so the logic is the same code.

pub mod config;
pub mod seed;
pub mod up;

use std::sync::Arc;

use tickermesh_core::command::{serves, UserCommandsService};
use tickermesh_core::server::{GrpcApp, Router};
use tickermesh_core::Context;
use tickermesh_query::QueryConfig;

/// Every gRPC function of the mesh, with health, reflection and one `/metrics`.
pub async fn router(ctx: Arc<Context>, query: &QueryConfig) -> Router {
    let commands = UserCommandsService {
        register: serves(tickermesh_register::Register::new()),
        update: serves(tickermesh_update::Update),
        delete: serves(tickermesh_delete::Delete),
        ..UserCommandsService::new(ctx.clone())
    };
    GrpcApp::new()
        .service(commands.server())
        .service(tickermesh_query::service(ctx, query))
        .router()
        .await
}
