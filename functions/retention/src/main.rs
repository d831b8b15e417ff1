//! Container entry point of the retention function: the tick endpoint on `PORT`.

use std::process::ExitCode;
use std::sync::Arc;

use tickermesh_core::server::event::{run_event_function, EventFunction};
use tickermesh_retention::{Retention, RetentionConfig};

const NAME: &str = "tickermesh-retention";

#[tokio::main]
async fn main() -> ExitCode {
    run_event_function(
        NAME,
        RetentionConfig::from_env,
        |store, config| async move {
            tracing::info!(?config, "retention");
            let retention = Arc::new(Retention::new(store, config));
            Ok(EventFunction {
                app: tickermesh_retention::router(retention),
                consume: None,
            })
        },
    )
    .await
}
