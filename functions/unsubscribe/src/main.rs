//! Container entry point of the unsubscribe function.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tickermesh_unsubscribe::run("tickermesh-unsubscribe").await
}
