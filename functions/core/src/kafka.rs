//! Kafka: a publisher for the event functions, and a consumer loop that feeds an
//! [`EventHandler`]. Records are CloudEvents in binary mode (`ce_` headers) through
//! cloudevents-sdk's rdkafka binding.
//!
//! The consumer commits an offset only after its message is handled: an event that must be
//! retried is retried in place (the partition waits), an invalid one is logged, counted and
//! skipped — never a crash loop.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cloudevents::binding::rdkafka::{FutureRecordExt, MessageExt, MessageRecord};
use cloudevents::Event;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use rdkafka::Offset;

pub use crate::config::KafkaSettings;
use crate::events::handler::redelivery_delays;
use crate::events::{handle_counted, EventHandler, HandleError, PublishError, Publisher};

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

/// This consumer's lag: for each partition assigned to it, the high watermark minus the
/// group's committed offset (or the low watermark before any commit, as the consumer starts from
/// the earliest record). Blocking broker calls: run it off the async threads.
/// `None` when no partition is assigned: either the group gave them all to other members, or
/// this consumer was dropped from the group for not polling while it retried one event; the
/// last value stays, as 0 would hide a stuck consumer.
fn measure_lag(consumer: &StreamConsumer, timeout: Duration) -> Result<Option<i64>, KafkaError> {
    let assigned = consumer.assignment()?;
    if assigned.count() == 0 {
        return Ok(None);
    }
    let committed = consumer.committed_offsets(assigned, timeout)?;
    let mut lag = 0;
    for p in committed.elements() {
        let (low, high) = consumer.fetch_watermarks(p.topic(), p.partition(), timeout)?;
        // A commit older than what the broker still keeps counts from the oldest record kept.
        let done = match p.offset() {
            Offset::Offset(o) => o.max(low),
            _ => low,
        };
        lag += (high - done).max(0);
    }
    Ok(Some(lag))
}

/// Measures the lag every `every` and exports it, until aborted. Measured apart from the
/// message loop so that a consumer stuck retrying an event still shows its lag growing.
async fn watch_lag(
    consumer: Arc<StreamConsumer>,
    function: &'static str,
    topic: String,
    every: Duration,
) {
    loop {
        tokio::time::sleep(every).await;
        let c = consumer.clone();
        // Short broker timeouts: a measurement in flight holds the consumer at shutdown.
        match tokio::task::spawn_blocking(move || measure_lag(&c, Duration::from_secs(2))).await {
            Ok(Ok(Some(lag))) => crate::metrics::consumer_lag(function, &topic, lag),
            Ok(Ok(None)) => {}
            Ok(Err(e)) => tracing::debug!(error = %e, "measuring the consumer lag failed"),
            Err(e) => tracing::debug!(error = %e, "the lag measurement stopped"),
        }
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

/// Consumes `topic` in consumer group `group`, handing each event to `handler`, until
/// `shutdown` resolves. Returns an error only when the consumer cannot be created.
pub async fn consume<H: EventHandler + ?Sized>(
    settings: &KafkaSettings,
    group: &str,
    topic: &str,
    handler: Arc<H>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), KafkaError> {
    let function = handler.name();
    crate::metrics::init_consumer(function, topic);
    let consumer: StreamConsumer = client(settings, true)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()?;
    consumer.subscribe(&[topic])?;
    let consumer = Arc::new(consumer);
    // Dropping the set aborts the lag task however this function returns.
    let mut lag = tokio::task::JoinSet::new();
    lag.spawn(watch_lag(
        consumer.clone(),
        function,
        topic.to_owned(),
        settings.lag_interval,
    ));
    tracing::info!(%topic, %group, function = handler.name(), "consuming");
    tokio::pin!(shutdown);
    loop {
        let message = tokio::select! {
            () = &mut shutdown => break,
            m = consumer.recv() => m,
        };
        let message = match message {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "kafka receive failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        match record_to_event(&message) {
            Err(e) => {
                // A poison record: not a CloudEvent. Skip it for good.
                tracing::warn!(topic = message.topic(), partition = message.partition(), offset = message.offset(), error = %e, "skipping a record that is not a CloudEvent");
                crate::metrics::event_handled(handler.name(), "invalid", Instant::now());
            }
            Ok(event) => {
                let mut delays = redelivery_delays();
                // Each attempt runs to its end; shutdown is taken between attempts.
                while let Err(HandleError::Retry(_)) =
                    handle_counted(handler.as_ref(), &event).await
                {
                    let delay = delays.next().unwrap_or(Duration::from_secs(30));
                    tokio::select! {
                        // Not committed: the next consumer of the partition gets it again.
                        () = &mut shutdown => return Ok(()),
                        () = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
        if let Err(e) = consumer.commit_message(&message, CommitMode::Async) {
            tracing::warn!(error = %e, "offset commit failed; the record may be delivered again");
        }
    }
    tracing::info!(%topic, "consumer stopped");
    Ok(())
}
