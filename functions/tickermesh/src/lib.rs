//! The local mesh: every function in one process, on one port, on the embedded default.
//! In the cluster each function runs in its own container; here one `UserCommands` service
//! serves every command function's command, so the logic is the same code.

pub mod config;
pub mod keys;
pub mod seed;
pub mod up;

use std::sync::Arc;

use tickermesh_access::{Confirm, RequestAccess};
use tickermesh_core::access::CodeIssuer;
use tickermesh_core::command::{serves, UserCommandsService};
use tickermesh_core::events::collect_request::CollectRequests;
use tickermesh_core::server::{GrpcApp, Router};
use tickermesh_core::signing::SigningKey;
use tickermesh_core::Context;
use tickermesh_query::QueryConfig;
use tickermesh_watch::{AddWatch, RemoveWatch, WatchConfig};

/// Every gRPC function of the mesh, with health, reflection and one `/metrics`; the watch
/// function with its default settings.
pub async fn router(
    ctx: Arc<Context>,
    query: &QueryConfig,
    codes: Arc<CodeIssuer>,
    key: SigningKey,
) -> Router {
    router_with(ctx, query, codes, key, WatchConfig::default(), None).await
}

/// [`router`] with the watch function's settings and, when given, access (ConfirmEmail), watch
/// (AddWatch) and update (UpdateUser moving a watch) asking collect for the first price of a
/// ticker that has none.
pub async fn router_with(
    ctx: Arc<Context>,
    query: &QueryConfig,
    codes: Arc<CodeIssuer>,
    key: SigningKey,
    watch: WatchConfig,
    first_prices: Option<Arc<CollectRequests>>,
) -> Router {
    let mut confirm = Confirm::new(codes.clone(), key);
    if let Some(first_prices) = &first_prices {
        confirm = confirm.with_first_prices(first_prices.clone());
    }
    let commands = UserCommandsService {
        register: serves(tickermesh_register::Register::new(codes.clone())),
        confirm_email: serves(confirm),
        request_access: serves(RequestAccess::new(codes)),
        update: serves(tickermesh_update::Update(first_prices.clone())),
        delete: serves(tickermesh_delete::Delete),
        add_watch: serves(AddWatch(watch, first_prices)),
        remove_watch: serves(RemoveWatch),
        ..UserCommandsService::new(ctx.clone())
    };
    GrpcApp::new()
        .service(commands.server())
        .service(tickermesh_query::service(ctx, query))
        .router()
        .await
}
