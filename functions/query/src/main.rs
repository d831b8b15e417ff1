//! Container entry point of the query function.

use tickermesh_query::{router, QueryConfig};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tickermesh_core::server::run_grpc_function("tickermesh-query", QueryConfig::from_env, router)
        .await
}
