//! Container entry point of the digest function: the cron tick on `PORT`, digest events to
//! Kafka.

use std::process::ExitCode;
use std::sync::Arc;

use tickermesh_core::config::{ConfigError, KafkaSettings};
use tickermesh_core::server::event::{
    kafka_publisher, required_kafka, run_event_function, EventFunction,
};
use tickermesh_digest::{DigestConfig, Digester};

const NAME: &str = "tickermesh-digest";

fn config() -> Result<(DigestConfig, KafkaSettings), ConfigError> {
    let kafka = required_kafka("digest events are published to Kafka")?;
    Ok((DigestConfig::from_env()?, kafka))
}

#[tokio::main]
async fn main() -> ExitCode {
    run_event_function(NAME, config, |store, (digest, kafka)| async move {
        let publisher = kafka_publisher(NAME, &kafka)?;
        let digester = Arc::new(Digester::new(store, &digest, publisher));
        tracing::info!(topic = %digest.alerts_topic, "digest");
        Ok(EventFunction {
            app: tickermesh_digest::router(digester),
            consume: None,
        })
    })
    .await
}
