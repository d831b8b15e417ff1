//! The consumer's lag, measured apart from the message loop so that a consumer stuck
//! retrying an event still shows its lag growing.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{Consumer, ConsumerContext, StreamConsumer};
use rdkafka::Offset;

use super::KafkaError;

/// This consumer's lag: for each partition assigned to it, the high watermark minus the
/// group's committed offset (or the low watermark before any commit, as the consumer starts from
/// the earliest record). Blocking broker calls: run it off the async threads.
/// `None` when no partition is assigned: either the group gave them all to other members, or
/// this consumer was dropped from the group for not polling while every event it had taken
/// on was being retried; the
/// last value stays, as 0 would hide a stuck consumer.
fn measure_lag<C: ConsumerContext>(
    consumer: &StreamConsumer<C>,
    timeout: Duration,
) -> Result<Option<i64>, KafkaError> {
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

/// Measures the lag every `every` and exports it, until aborted.
pub(super) async fn watch<C: ConsumerContext + 'static>(
    consumer: Arc<StreamConsumer<C>>,
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
