//! Container entry point of the register function.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tickermesh_core::server::run_command_function(
        "tickermesh-register",
        tickermesh_register::router,
    )
    .await
}
