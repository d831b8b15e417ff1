//! Container entry point of the collect function: the tick endpoint on `PORT`, quotes to Kafka.

use std::process::ExitCode;
use std::sync::Arc;

use tickermesh_collect::{CollectConfig, Collector};
use tickermesh_core::config::FunctionConfig;
use tickermesh_core::kafka::{KafkaPublisher, KafkaSettings};
use tickermesh_core::server::{self, event::startup_failed};
use tickermesh_core::store::Store;

const NAME: &str = "tickermesh-collect";

#[tokio::main]
async fn main() -> ExitCode {
    tickermesh_core::telemetry::init();
    let config = FunctionConfig::from_env().and_then(|f| {
        let kafka =
            KafkaSettings::from_env()?.ok_or_else(|| tickermesh_core::config::ConfigError {
                var: "TICKERMESH_KAFKA_BROKERS".into(),
                reason: "is required: quotes are published to Kafka".into(),
            })?;
        Ok((f, CollectConfig::from_env()?, kafka))
    });
    let (function, collect, kafka) = match config {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{NAME}: {e}");
            return ExitCode::from(2);
        }
    };
    let store = match Store::connect(&function.database_url, &function.store).await {
        Ok(s) => s,
        Err(e) => return startup_failed(NAME, "cannot open the database", &e),
    };
    let publisher = match KafkaPublisher::new(&kafka) {
        Ok(p) => Arc::new(p),
        Err(e) => return startup_failed(NAME, "cannot create the Kafka producer", &e),
    };
    let collector = match Collector::new(store, &collect, publisher) {
        Ok(c) => Arc::new(c),
        Err(e) => return startup_failed(NAME, "cannot create the HTTP client", &e),
    };
    let listener = match server::bind(function.port).await {
        Ok(l) => l,
        Err(e) => return startup_failed(NAME, "cannot listen", &e),
    };
    tracing::info!(port = function.port, market = ?collect.market, "collect serving");
    let app = tickermesh_collect::router(collector);
    match server::serve(
        listener,
        app,
        server::shutdown_signal(),
        function.shutdown_grace,
    )
    .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => startup_failed(NAME, "server failed", &e),
    }
}
