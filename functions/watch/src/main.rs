//! Container entry point of the watch function.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tickermesh_core::server::run_grpc_function(
        "tickermesh-watch",
        tickermesh_watch::WatchConfig::from_env,
        tickermesh_watch::router,
    )
    .await
}
