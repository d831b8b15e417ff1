//! Container entry point of the evaluate function: quotes in (Kafka consumer group and/or
//! CloudEvents over HTTP), alerts out to Kafka.

use std::process::ExitCode;
use std::sync::Arc;

use tickermesh_core::config::{var, ConfigError, KafkaSettings};
use tickermesh_core::events::{DEFAULT_ALERTS_TOPIC, DEFAULT_QUOTES_TOPIC};
use tickermesh_core::server::event::{
    kafka_publisher, required_kafka, run_event_function, Consume, EventFunction,
};
use tickermesh_evaluate::{Evaluator, QuoteGuard};

const NAME: &str = "tickermesh-evaluate";

/// evaluate's own settings.
struct Config {
    kafka: KafkaSettings,
    consume: Option<Consume>,
    /// `TICKERMESH_ALERTS_TOPIC`.
    alerts_topic: String,
    /// `TICKERMESH_QUOTE_SOURCES`, `TICKERMESH_QUOTE_MAX_JUMP`: what quote events are taken.
    guard: QuoteGuard,
}

fn config() -> Result<Config, ConfigError> {
    let kafka = required_kafka("alerts are published to Kafka")?;
    Ok(Config {
        consume: Consume::from_env(
            Some(&kafka),
            "TICKERMESH_QUOTES_TOPIC",
            DEFAULT_QUOTES_TOPIC,
        )?,
        alerts_topic: var("TICKERMESH_ALERTS_TOPIC", DEFAULT_ALERTS_TOPIC.to_owned())?,
        guard: QuoteGuard::from_env()?,
        kafka,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    run_event_function(NAME, config, |store, config| async move {
        let publisher = kafka_publisher(NAME, &config.kafka)?;
        let evaluator =
            Evaluator::new(store, publisher, &config.alerts_topic).with_guard(config.guard);
        let evaluator = Arc::new(evaluator);
        Ok(EventFunction {
            app: tickermesh_evaluate::router(evaluator.clone()),
            consume: config.consume.map(|c| (c, evaluator as _)),
        })
    })
    .await
}
