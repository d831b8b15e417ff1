//! Container entry point of the evaluate function: quotes in (Kafka consumer group and/or
//! CloudEvents over HTTP), alerts out to Kafka.

use std::process::ExitCode;
use std::sync::Arc;

use tickermesh_core::config::{var, FunctionConfig};
use tickermesh_core::events::{DEFAULT_ALERTS_TOPIC, DEFAULT_QUOTES_TOPIC};
use tickermesh_core::server::configured;
use tickermesh_core::server::event::{
    kafka_publisher, open_store, required_kafka, run_event_function, Consume,
};
use tickermesh_evaluate::Evaluator;

const NAME: &str = "tickermesh-evaluate";

#[tokio::main]
async fn main() -> ExitCode {
    run().await.unwrap_or_else(|code| code)
}

async fn run() -> Result<ExitCode, ExitCode> {
    tickermesh_core::telemetry::init();
    let (function, kafka, consume, alerts_topic) = configured(
        NAME,
        (|| {
            let kafka = required_kafka("alerts are published to Kafka")?;
            let consume = Consume::from_env(
                Some(&kafka),
                "TICKERMESH_QUOTES_TOPIC",
                DEFAULT_QUOTES_TOPIC,
            )?;
            let alerts_topic: String =
                var("TICKERMESH_ALERTS_TOPIC", DEFAULT_ALERTS_TOPIC.to_owned())?;
            Ok((FunctionConfig::from_env()?, kafka, consume, alerts_topic))
        })(),
    )?;
    let store = open_store(NAME, &function).await?;
    let publisher = kafka_publisher(NAME, &kafka)?;
    let evaluator = Arc::new(Evaluator::new(store, publisher, &alerts_topic));
    let app = tickermesh_evaluate::router(evaluator.clone());
    Ok(run_event_function(NAME, &function, evaluator, app, consume).await)
}
