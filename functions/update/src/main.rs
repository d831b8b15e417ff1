//! Container entry point of the update function.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tickermesh_core::server::run_command_function("tickermesh-update", tickermesh_update::router)
        .await
}
