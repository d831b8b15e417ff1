//! Container entry point of the evaluate function: quotes in (Kafka consumer group and/or
//! CloudEvents over HTTP), alerts out to Kafka.

use std::process::ExitCode;
use std::sync::Arc;

use tickermesh_core::config::{var, ConfigError, FunctionConfig};
use tickermesh_core::events::{DEFAULT_ALERTS_TOPIC, DEFAULT_QUOTES_TOPIC};
use tickermesh_core::kafka::{KafkaPublisher, KafkaSettings};
use tickermesh_core::server::event::{run_event_function, startup_failed, Consume};
use tickermesh_core::store::Store;
use tickermesh_evaluate::Evaluator;

const NAME: &str = "tickermesh-evaluate";

#[tokio::main]
async fn main() -> ExitCode {
    tickermesh_core::telemetry::init();
    let config = (|| {
        let function = FunctionConfig::from_env()?;
        let kafka = KafkaSettings::from_env()?.ok_or_else(|| ConfigError {
            var: "TICKERMESH_KAFKA_BROKERS".into(),
            reason: "is required: alerts are published to Kafka".into(),
        })?;
        let consume = Consume::from_env(
            Some(&kafka),
            "TICKERMESH_QUOTES_TOPIC",
            DEFAULT_QUOTES_TOPIC,
        )?;
        let alerts_topic: String = var("TICKERMESH_ALERTS_TOPIC", DEFAULT_ALERTS_TOPIC.to_owned())?;
        Ok::<_, ConfigError>((function, kafka, consume, alerts_topic))
    })();
    let (function, kafka, consume, alerts_topic) = match config {
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
    let evaluator = Arc::new(Evaluator::new(store, publisher, &alerts_topic));
    let app = tickermesh_evaluate::router(evaluator.clone());
    run_event_function(NAME, &function, evaluator, app, consume).await
}
