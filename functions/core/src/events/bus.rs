//! Where events are published: Kafka in the cluster, channels inside `tickermesh up`.

use std::collections::HashMap;

use cloudevents::Event;
use tokio::sync::mpsc;

#[derive(Debug, thiserror::Error)]
#[error("cannot publish to {topic}: {source}")]
pub struct PublishError {
    pub topic: String,
    /// What the broker (or the bus) said, kept as the error's source.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl PublishError {
    pub fn new(topic: &str, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            topic: topic.to_owned(),
            source: source.into(),
        }
    }
}

/// Publishes an event to a topic, keyed (the key orders events per partition on Kafka).
/// Returns once the event is durably handed over, so a caller may then mark it published.
#[async_trait::async_trait]
pub trait Publisher: Send + Sync {
    async fn publish(&self, topic: &str, key: &str, event: Event) -> Result<(), PublishError>;
}

/// The in-process event bus: one bounded channel per topic.
#[derive(Clone, Default)]
pub struct ChannelBus {
    topics: HashMap<String, mpsc::Sender<(String, Event)>>,
}

impl ChannelBus {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a topic; the receiver gets `(key, event)` pairs in publish order.
    pub fn topic(&mut self, name: &str, capacity: usize) -> mpsc::Receiver<(String, Event)> {
        let (tx, rx) = mpsc::channel(capacity);
        self.topics.insert(name.to_owned(), tx);
        rx
    }
}

#[async_trait::async_trait]
impl Publisher for ChannelBus {
    async fn publish(&self, topic: &str, key: &str, event: Event) -> Result<(), PublishError> {
        let tx = self
            .topics
            .get(topic)
            .ok_or_else(|| PublishError::new(topic, "no such topic"))?;
        tx.send((key.to_owned(), event))
            .await
            .map_err(|_| PublishError::new(topic, "the consumer has stopped"))
    }
}
