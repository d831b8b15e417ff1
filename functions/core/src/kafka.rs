//! Kafka: a publisher for the event functions, and a consumer loop that feeds an
//! [`crate::events::EventHandler`] ([`consume`]). Records are CloudEvents in binary mode
//! (`ce_` headers) through cloudevents-sdk's rdkafka binding.

mod consume;
mod lag;

use std::time::Duration;

use cloudevents::binding::rdkafka::{FutureRecordExt, MessageExt, MessageRecord};
use cloudevents::Event;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;

pub use crate::config::KafkaSettings;
use crate::events::{PublishError, Publisher};
pub use consume::consume;

/// librdkafka settings for a producer (`consumer == false`) or a consumer.
fn client(settings: &KafkaSettings, consumer: bool) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &settings.brokers);
    for (k, v) in &settings.properties {
        let consumer_only = k == "session.timeout.ms" || k == "fetch.wait.max.ms";
        if consumer || !consumer_only {
            config.set(k, v);
        }
    }
    if let Some(password) = &settings.sasl_password {
        config.set(
            "sasl.password",
            secrecy::ExposeSecret::expose_secret(password),
        );
    }
    config
}

#[derive(Debug, thiserror::Error)]
#[error("kafka: {0}")]
pub struct KafkaError(String);

impl From<rdkafka::error::KafkaError> for KafkaError {
    fn from(e: rdkafka::error::KafkaError) -> Self {
        Self(e.to_string())
    }
}

/// Publishes CloudEvents to Kafka; `publish` returns once the broker acknowledged the record.
pub struct KafkaPublisher {
    producer: FutureProducer,
    timeout: Duration,
}

impl KafkaPublisher {
    pub fn new(settings: &KafkaSettings) -> Result<Self, KafkaError> {
        let producer = client(settings, false)
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("message.timeout.ms", "10000")
            .create()?;
        Ok(Self {
            producer,
            timeout: Duration::from_secs(10),
        })
    }
}

#[async_trait::async_trait]
impl Publisher for KafkaPublisher {
    async fn publish(&self, topic: &str, key: &str, event: Event) -> Result<(), PublishError> {
        let record = MessageRecord::from_event(event).map_err(|e| PublishError::new(topic, e))?;
        let future = FutureRecord::<str, Vec<u8>>::to(topic)
            .key(key)
            .message_record(&record);
        self.producer
            .send(future, Timeout::After(self.timeout))
            .await
            .map(drop)
            .map_err(|(e, _)| PublishError::new(topic, e))
    }
}

/// The CloudEvent a record carries (binary or structured mode), or why it carries none. The
/// binding panics on some records from outside (a header with no value, a structured-mode
/// record with no payload): such a panic is a record that is not a CloudEvent, never a
/// consumer that dies on it again after every restart.
pub fn record_to_event<M: MessageExt>(message: &M) -> Result<Event, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| message.to_event())) {
        Ok(converted) => converted.map_err(|e| e.to_string()),
        Err(_) => Err("the record's headers or payload are not a CloudEvent".into()),
    }
}
