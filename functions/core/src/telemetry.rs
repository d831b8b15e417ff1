use tracing_subscriber::EnvFilter;

/// Logs to stderr; the filter comes from `TICKERMESH_LOG` (e.g. `info`, `tickermesh_core=debug`).
pub fn init() {
    let filter = EnvFilter::try_from_env("TICKERMESH_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,h2=warn,tower=warn,hyper=warn"));
    // A second init (tests, the local runner) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
