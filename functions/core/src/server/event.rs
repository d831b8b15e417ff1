//! The life of an event function container (collect, evaluate, notify): its HTTP surface on
//! `PORT`, and — for a KEDA-scaled Deployment — a Kafka consumer, until SIGTERM.

use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;

use super::startup_failed;
use crate::config::{var, var_opt, ConfigError};
use crate::events::EventHandler;
use crate::kafka::{consume, KafkaPublisher, KafkaSettings};
use crate::server::{Router, Tasks};
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

/// What an event function runs: its HTTP surface and, for a KEDA-scaled Deployment, the
/// Kafka input it consumes and the handler that takes it.
pub struct EventFunction {
    pub app: Router,
    pub consume: Option<(Consume, Arc<dyn EventHandler>)>,
}

/// The whole life of an event function container: logging, config (the shared
/// [`crate::config::FunctionConfig`] and the function's own; exit 2 naming the variable when invalid), the
/// database, `start` making the function, then serving on `PORT` (and consuming) until SIGTERM
/// or Ctrl-C; then both stop, the consumer without committing what it has not handled. A
/// consumer that stops on its own stops the function, with exit code 1.
pub async fn run_event_function<C, F, Fut>(
    name: &'static str,
    own_config: impl FnOnce() -> Result<C, ConfigError>,
    start: F,
) -> ExitCode
where
    F: FnOnce(Store, C) -> Fut,
    Fut: Future<Output = Result<EventFunction, ExitCode>>,
{
    crate::telemetry::init();
    let (config, own) = match super::load_config(name, own_config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let store = match Store::connect_to(&config.service.database).await {
        Ok(s) => s,
        Err(e) => return startup_failed(name, "cannot open the database", &e),
    };
    let function = match start(store, own).await {
        Ok(f) => f,
        Err(code) => return code,
    };
    let mut tasks = Tasks::new();
    if let Some((c, handler)) = function.consume {
        let stopping = tasks.stopping();
        tasks.spawn("the Kafka consumer", async move {
            consume(&c.settings, &c.group, &c.topic, handler, stopping)
                .await
                .map_err(Into::into)
        });
    }
    super::serve_until_signal(name, config.port, function.app, &config.service, tasks).await
}
