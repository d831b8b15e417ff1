//! The digest function. A cron tick (a CloudEvent from Knative's PingSource, once a minute)
//! makes it publish one `tickermesh.digest.due` event per user whose alerts, held during their
//! quiet hours, are due; notify mails each user one digest e-mail.
//!
//! It keeps no state: the held alerts (`sent_alerts`, outcome `held`, `due_at_ms`) are the
//! schedule. A tick that is repeated or overlaps another publishes events that find nothing
//! left to mail; a tick that fails is answered 503 and the next one covers it.

pub mod config;

use std::sync::{Arc, LazyLock};

use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Json;
use cloudevents::{AttributesReader, Event};
use prometheus::IntCounterVec;
use serde::{Deserialize, Serialize};
use tickermesh_core::events::{DigestDue, Publisher};
use tickermesh_core::server::{metrics_router, Router};
use tickermesh_core::store::deliveries;
use tickermesh_core::store::Store;
use tickermesh_core::{now_unix_ms, Error, Result};

pub use config::DigestConfig;

static RUNS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    tickermesh_core::metrics::counter_vec(
        "tickermesh_digest_runs_total",
        "Digest ticks, by outcome (ok, error: the database or the broker was away).",
        &["outcome"],
    )
});

static DUE: LazyLock<prometheus::IntCounter> = LazyLock::new(|| {
    tickermesh_core::metrics::counter(
        "tickermesh_digest_events_total",
        "Digest events published: one per user with held alerts due, per tick.",
    )
});

/// What one tick did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestReport {
    /// The instant the held alerts were due by: the tick's `time`, else when it arrived.
    pub as_of_ms: i64,
    /// Users whose digest event was published.
    pub users: usize,
}

pub struct Digester {
    store: Store,
    publisher: Arc<dyn Publisher>,
    topic: String,
    batch: u32,
}

impl Digester {
    pub fn new(store: Store, config: &DigestConfig, publisher: Arc<dyn Publisher>) -> Self {
        tickermesh_core::metrics::export_at_zero(&RUNS, &["ok", "error"]);
        LazyLock::force(&DUE);
        Self {
            store,
            publisher,
            topic: config.alerts_topic.clone(),
            batch: config.batch.max(1),
        }
    }

    /// Publishes a digest event, due as of `as_of_ms`, for each user with alerts held until
    /// then. An error means the tick must be retried (the next one does).
    pub async fn run(&self, as_of_ms: i64) -> Result<DigestReport> {
        let result = self.publish_due(as_of_ms).await;
        let outcome = if result.is_ok() { "ok" } else { "error" };
        RUNS.with_label_values(&[outcome]).inc();
        result
    }

    /// A tick every `every`, as of the wall clock: the local mesh's schedule (the cluster's
    /// is a PingSource).
    pub async fn every(self: Arc<Self>, every: std::time::Duration) {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            if let Err(e) = self.run(now_unix_ms()).await {
                tracing::warn!(error = %e, "digest tick failed; the next one retries");
            }
        }
    }

    async fn publish_due(&self, as_of_ms: i64) -> Result<DigestReport> {
        let mut report = DigestReport { as_of_ms, users: 0 };
        let mut after: Option<String> = None;
        loop {
            let pool = self.store.pool();
            let emails =
                deliveries::due_recipients(pool, as_of_ms, after.as_deref(), self.batch).await?;
            for email in &emails {
                let due = DigestDue {
                    email: email.clone(),
                };
                let event = due
                    .to_event(as_of_ms)
                    .map_err(|e| Error::Internal(e.to_string()))?;
                // Keyed by address, like the alerts: one user's events stay in order.
                self.publisher.publish(&self.topic, email, event).await?;
                DUE.inc();
                report.users += 1;
            }
            if emails.len() < self.batch as usize {
                break;
            }
            after = emails.last().cloned();
        }
        if report.users > 0 {
            tracing::info!(?report, "digests due");
        }
        Ok(report)
    }
}

/// `POST /`: the tick, any CloudEvent in binary or structured mode (a malformed one is
/// answered 400 by the extractor). Its `time` (PingSource sets it) is the instant the held
/// alerts are due by; without one, now. 200 with the report, 503 when it must be retried.
async fn tick(State(digester): State<Arc<Digester>>, event: Event) -> axum::response::Response {
    let as_of_ms = as_of(&event, now_unix_ms());
    tracing::debug!(ty = event.ty(), id = event.id(), as_of_ms, "digest tick");
    match digester.run(as_of_ms).await {
        Ok(report) => Json(report).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The instant a tick stands for: its `time`, else `now_ms`.
fn as_of(event: &Event, now_ms: i64) -> i64 {
    event.time().map_or(now_ms, |t| t.timestamp_millis())
}

/// `POST <path>`: the tick endpoint alone (the local mesh mounts it at `/digest`).
pub fn tick_router(path: &str, digester: Arc<Digester>) -> Router {
    Router::new().route(path, post(tick)).with_state(digester)
}

/// The function's HTTP surface: the tick on `POST /`, `/healthz` and `/metrics`.
pub fn router(digester: Arc<Digester>) -> Router {
    tick_router("/", digester)
        .route("/healthz", get(|| async { "ok" }))
        .merge(metrics_router())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudevents::{EventBuilder, EventBuilderV10};

    #[test]
    fn a_tick_stands_for_its_time_else_now() {
        let ping = EventBuilderV10::new()
            .id("1")
            .ty(tickermesh_core::events::PING)
            .source("/apis/v1/namespaces/default/pingsources/tickermesh-digest");
        let timed = ping.clone().time("2026-11-28T07:00:00Z").build().unwrap();
        assert_eq!(as_of(&timed, 5), 1_795_849_200_000);
        let untimed = ping.build().unwrap();
        assert_eq!(as_of(&untimed, 5), 5);
    }
}
