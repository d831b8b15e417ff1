//! Container entry point of the collect function: the tick endpoint on `PORT`, quotes to Kafka.

use std::process::ExitCode;
use std::sync::Arc;

use tickermesh_collect::{CollectConfig, Collector};
use tickermesh_core::config::FunctionConfig;
use tickermesh_core::server;
use tickermesh_core::server::event::{kafka_publisher, open_store, required_kafka};
use tickermesh_core::server::{configured, startup_failed};

const NAME: &str = "tickermesh-collect";

#[tokio::main]
async fn main() -> ExitCode {
    run().await.unwrap_or_else(|code| code)
}

async fn run() -> Result<ExitCode, ExitCode> {
    tickermesh_core::telemetry::init();
    let (function, collect, kafka) = configured(
        NAME,
        (|| {
            Ok((
                FunctionConfig::from_env()?,
                CollectConfig::from_env()?,
                required_kafka("quotes are published to Kafka")?,
            ))
        })(),
    )?;
    let store = open_store(NAME, &function).await?;
    let publisher = kafka_publisher(NAME, &kafka)?;
    let collector = Collector::new(store, &collect, publisher)
        .map(Arc::new)
        .map_err(|e| startup_failed(NAME, "cannot create the HTTP client", &e))?;
    tracing::info!(market = ?collect.market, "collect");
    let app = tickermesh_collect::router(collector);
    Ok(server::serve_until_signal(NAME, function.port, app, function.shutdown_grace, || {}).await)
}
