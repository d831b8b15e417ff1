//! The Kafka consumer loop: events from a topic, as a member of a consumer group, to an
//! [`EventHandler`], up to [`EventHandler::concurrency`] at once.
//!
//! Offsets are committed only for handled messages, in order per partition: offset N + 1 is
//! committed once every message up to N of that partition is handled or skipped for good
//! ([`InOrderCommits`]), so a crash redelivers what was in flight and never loses it. An
//! event that must be retried is retried in its own task with backoff; the others go on
//! meanwhile (its partition's commit waits for it). A record that is not a CloudEvent is
//! logged, counted and skipped — never a crash loop.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::message::Message;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::sync::watch;
use tokio::task::{JoinError, JoinSet};

use super::{client, record_to_event, KafkaError, KafkaSettings};
use crate::events::commits::InOrderCommits;
use crate::events::{handle_until_done, Done, EventHandler};

/// Counts the revocations of this consumer's partitions. Called by librdkafka inside `recv`,
/// so it only notes the fact; the loop acts on it before it takes the next message.
#[derive(Default)]
struct Rebalances {
    revoked: AtomicU64,
}

impl ClientContext for Rebalances {}

impl ConsumerContext for Rebalances {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance {
            if partitions.count() > 0 {
                self.revoked.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}

type Kafka = StreamConsumer<Rebalances>;

/// One message taken on: where it came from, and how it ended.
struct Ended {
    partition: i32,
    offset: i64,
    done: Done,
}

/// The messages in flight, the stop signal their retries listen to, and what may be committed.
struct InFlight {
    tasks: JoinSet<Ended>,
    stop: watch::Sender<bool>,
    commits: InOrderCommits,
    /// The revocations seen when these messages were taken on.
    epoch: u64,
}

impl InFlight {
    fn new(epoch: u64) -> Self {
        Self {
            tasks: JoinSet::new(),
            stop: watch::channel(false).0,
            commits: InOrderCommits::new(),
            epoch,
        }
    }

    fn ended(&mut self, joined: Result<Ended, JoinError>, function: &str) {
        match joined {
            Ok(Ended {
                partition,
                offset,
                done: Done::Handled,
            }) => self.commits.finish(partition, offset),
            // Not handled: never acknowledged, delivered again to whoever owns it next.
            Ok(Ended {
                done: Done::Stopped,
                ..
            }) => {}
            // Its offset is unknown, so its partition commits nothing past it from now on:
            // redelivered after a restart rather than lost.
            Err(e) => tracing::error!(function, error = %e, "an event task ended abnormally"),
        }
    }

    /// Commits what is ready. Async: the next commit supersedes one that failed, and a
    /// failure only means a redelivery, which handlers take as a duplicate.
    fn commit(&mut self, consumer: &Kafka, topic: &str, mode: CommitMode) {
        if consumer.context().revoked.load(Ordering::SeqCst) != self.epoch {
            // The partitions were revoked since these messages were taken on: another member
            // may own them now, and a commit from here could move its offset back.
            return;
        }
        let ready = self.commits.ready();
        if ready.is_empty() {
            return;
        }
        let mut list = TopicPartitionList::new();
        for (partition, offset) in ready {
            if let Err(e) = list.add_partition_offset(topic, partition, Offset::Offset(offset)) {
                tracing::warn!(error = %e, "cannot list an offset to commit");
            }
        }
        if let Err(e) = consumer.commit(&list, mode) {
            tracing::warn!(error = %e, "offset commit failed; records may be delivered again");
        }
    }

    /// Stops the retries and waits for every task to end its current attempt; commits what
    /// was handled when the partitions are still this consumer's (`keep`).
    async fn drain(&mut self, consumer: &Kafka, topic: &str, function: &str, keep: bool) {
        let _ = self.stop.send(true);
        while let Some(joined) = self.tasks.join_next().await {
            self.ended(joined, function);
        }
        if keep {
            self.commit(consumer, topic, CommitMode::Sync);
        }
    }
}

/// Consumes `topic` in consumer group `group`, handing each event to `handler`, until
/// `shutdown` resolves; then lets the events in flight end their current attempt and
/// commits what was handled. Returns an error only when the consumer cannot be created.
pub async fn consume<H: EventHandler + ?Sized>(
    settings: &KafkaSettings,
    group: &str,
    topic: &str,
    handler: Arc<H>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), KafkaError> {
    let function = handler.name();
    crate::metrics::init_consumer(function, topic);
    let limit = handler.concurrency().max(1);
    let consumer: Kafka = client(settings, true)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create_with_context(Rebalances::default())?;
    consumer.subscribe(&[topic])?;
    let consumer = Arc::new(consumer);
    // Dropping the set aborts the lag task however this function returns.
    let mut lag = JoinSet::new();
    let every = settings.lag_interval;
    lag.spawn(super::lag::watch(
        consumer.clone(),
        function,
        topic.to_owned(),
        every,
    ));
    tracing::info!(%topic, %group, function, concurrency = limit, "consuming");
    let mut flight = InFlight::new(0);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(joined) = flight.tasks.join_next() => {
                flight.ended(joined, function);
                // Whatever else has ended too, then one commit for all of them.
                while let Some(joined) = flight.tasks.try_join_next() {
                    flight.ended(joined, function);
                }
                flight.commit(&consumer, topic, CommitMode::Async);
            }
            received = consumer.recv(), if flight.tasks.len() < limit => {
                let revoked = consumer.context().revoked.load(Ordering::SeqCst);
                if revoked != flight.epoch {
                    // The partitions were taken away, perhaps given back: what is in flight
                    // is no longer this consumer's to commit. Let it end before anything new
                    // starts, so that no event is handled twice at once in this process.
                    tracing::info!(function, in_flight = flight.tasks.len(), "partitions revoked");
                    flight.drain(&consumer, topic, function, false).await;
                    flight = InFlight::new(revoked);
                }
                let message = match received {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(error = %e, "kafka receive failed; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
                let (partition, offset) = (message.partition(), message.offset());
                flight.commits.start(partition, offset);
                match record_to_event(&message) {
                    Err(e) => {
                        // A poison record: not a CloudEvent. Skipped for good, committed in turn.
                        tracing::warn!(topic, partition, offset, error = %e, "skipping a record that is not a CloudEvent");
                        crate::metrics::event_handled(function, "invalid", Instant::now());
                        flight.commits.finish(partition, offset);
                        flight.commit(&consumer, topic, CommitMode::Async);
                    }
                    Ok(event) => {
                        let (handler, stop) = (handler.clone(), flight.stop.subscribe());
                        flight.tasks.spawn(async move {
                            let done = handle_until_done(handler.as_ref(), &event, stop).await;
                            Ended { partition, offset, done }
                        });
                    }
                }
            }
        }
    }
    flight.drain(&consumer, topic, function, true).await;
    tracing::info!(%topic, "consumer stopped");
    Ok(())
}
