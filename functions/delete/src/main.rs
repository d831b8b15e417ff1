//! Container entry point of the delete function.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tickermesh_core::server::run_command_function("tickermesh-delete", tickermesh_delete::router)
        .await
}
