//! Container entry point of the update function.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tickermesh_core::server::run_grpc_function("tickermesh-update", tickermesh_update::router).await
}
