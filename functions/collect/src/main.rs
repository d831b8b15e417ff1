//! Container entry point of the collect function: the tick endpoint on `PORT`, quotes to Kafka.

use std::process::ExitCode;
use std::sync::Arc;

use tickermesh_collect::{CollectConfig, Collector};
use tickermesh_core::config::{ConfigError, KafkaSettings};
use tickermesh_core::server::event::{
    kafka_publisher, required_kafka, run_event_function, EventFunction,
};
use tickermesh_core::server::startup_failed;

const NAME: &str = "tickermesh-collect";

fn config() -> Result<(CollectConfig, KafkaSettings), ConfigError> {
    let kafka = required_kafka("quotes are published to Kafka")?;
    Ok((CollectConfig::from_env()?, kafka))
}

#[tokio::main]
async fn main() -> ExitCode {
    run_event_function(NAME, config, |store, (collect, kafka)| async move {
        let publisher = kafka_publisher(NAME, &kafka)?;
        let collector = Collector::new(store, &collect, publisher)
            .map(Arc::new)
            .map_err(|e| startup_failed(NAME, "cannot create the HTTP client", &e))?;
        tracing::info!(market = ?collect.market, "collect");
        Ok(EventFunction {
            app: tickermesh_collect::router(collector),
            consume: None,
        })
    })
    .await
}
