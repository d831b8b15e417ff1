//! Container entry point of the collect function: the tick endpoint on `PORT`, quotes to Kafka.

use std::process::ExitCode;
use std::sync::Arc;

use tickermesh_collect::{CollectConfig, Collector};
use tickermesh_core::config::FunctionConfig;
use tickermesh_core::server::event::{
    configured, kafka_publisher, open_store, required_kafka, startup_failed,
};
use tickermesh_core::server::{self};

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
    let listener = server::bind(function.port)
        .await
        .map_err(|e| startup_failed(NAME, "cannot listen", &e))?;
    tracing::info!(port = function.port, market = ?collect.market, "collect serving");
    let app = tickermesh_collect::router(collector);
    let served = server::serve(
        listener,
        app,
        server::shutdown_signal(),
        function.shutdown_grace,
    )
    .await;
    Ok(match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => startup_failed(NAME, "server failed", &e),
    })
}
