//! The life of an event function container (collect, evaluate, notify): its HTTP surface on
//! `PORT`, and — for a KEDA-scaled Deployment — a Kafka consumer, until SIGTERM.

use std::process::ExitCode;
use std::sync::Arc;

use super::startup_failed;
use crate::config::{var, var_opt, ConfigError, FunctionConfig};
use crate::events::EventHandler;
use crate::kafka::{consume, KafkaPublisher, KafkaSettings};
use crate::server::Router;
use crate::store::Store;

/// Where an event function reads its input from Kafka directly.
#[derive(Debug, Clone)]
pub struct Consume {
    pub settings: KafkaSettings,
    /// `TICKERMESH_CONSUMER_GROUP`.
    pub group: String,
    pub topic: String,
}

impl Consume {
    /// Consuming is on when `TICKERMESH_CONSUMER_GROUP` is set (the KEDA Deployment); off
    /// for a Knative Service that a KafkaSource delivers to over HTTP.
    pub fn from_env(
        kafka: Option<&KafkaSettings>,
        topic_var: &str,
        default_topic: &str,
    ) -> Result<Option<Self>, ConfigError> {
        let Some(group) = var_opt::<String>("TICKERMESH_CONSUMER_GROUP")? else {
            return Ok(None);
        };
        let settings = kafka.cloned().ok_or_else(|| ConfigError {
            var: "TICKERMESH_KAFKA_BROKERS".into(),
            reason: "is required with TICKERMESH_CONSUMER_GROUP".into(),
        })?;
        Ok(Some(Self {
            settings,
            group,
            topic: var(topic_var, default_topic.to_owned())?,
        }))
    }
}

/// The database with its schema up to date, or exit code 1.
pub async fn open_store(name: &str, config: &FunctionConfig) -> Result<Store, ExitCode> {
    Store::connect(&config.database_url, &config.store)
        .await
        .map_err(|e| startup_failed(name, "cannot open the database", &e))
}

/// A Kafka producer, or exit code 1.
pub fn kafka_publisher(name: &str, kafka: &KafkaSettings) -> Result<Arc<KafkaPublisher>, ExitCode> {
    KafkaPublisher::new(kafka)
        .map(Arc::new)
        .map_err(|e| startup_failed(name, "cannot create the Kafka producer", &e))
}

/// `TICKERMESH_KAFKA_BROKERS`, required by a function that publishes.
pub fn required_kafka(why: &str) -> Result<KafkaSettings, ConfigError> {
    KafkaSettings::from_env()?.ok_or_else(|| ConfigError {
        var: "TICKERMESH_KAFKA_BROKERS".into(),
        reason: format!("is required: {why}"),
    })
}

/// Serves `app` on `PORT` and, when asked, consumes Kafka into `handler`, until SIGTERM or
/// Ctrl-C; then both stop (the consumer without committing what it has not handled).
pub async fn run_event_function<H: EventHandler>(
    name: &'static str,
    config: &FunctionConfig,
    handler: Arc<H>,
    app: Router,
    consume_from: Option<Consume>,
) -> ExitCode {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let consumer = consume_from.map(|c| {
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let stopped = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            consume(&c.settings, &c.group, &c.topic, handler, stopped).await
        })
    });
    let served =
        super::serve_until_signal(name, config.port, app, config.shutdown_grace, move || {
            let _ = stop_tx.send(true);
        })
        .await;
    if let Some(consumer) = consumer {
        match consumer.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return startup_failed(name, "the Kafka consumer failed", &e),
            Err(e) => return startup_failed(name, "the Kafka consumer panicked", &e),
        }
    }
    served
}
