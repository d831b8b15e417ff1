//! Container entry point of the query function.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tickermesh_core::server::run_grpc_function("tickermesh-query", tickermesh_query::router).await
}
