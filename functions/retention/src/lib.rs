//! The retention function. A cron tick (a CloudEvent from Knative's PingSource; hourly in
//! `tickermesh up`) makes it delete quotes older than `TICKERMESH_QUOTE_RETENTION` (by market
//! time) and alerts older than `TICKERMESH_ALERT_RETENTION` (by creation time, with notify's
//! record of each), in batches of `TICKERMESH_RETENTION_BATCH` rows, each batch its own short
//! transaction (see `tickermesh_core::store::retention`).
//!
//! "Now" is the tick's `time` attribute (when the schedule fired), but never later than the
//! clock here: a late retry deletes what its own hour would have, and no event, however
//! stamped, deletes anything younger than the retention. Each ticker's newest quote stays
//! whatever its age, so the latest price of a symbol that stopped trading still answers.

pub mod config;
mod metrics;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Json;
use cloudevents::{AttributesReader, Event};
use serde::{Deserialize, Serialize};
use tickermesh_core::server::{metrics_router, Router};
use tickermesh_core::store::{retention, Store};
use tickermesh_core::{now_unix_ms, Result};
use tokio::sync::Mutex;

pub use config::RetentionConfig;

use crate::metrics::METRICS;

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct PassReport {
    /// The pass's "now" (Unix ms).
    pub now_ms: i64,
    /// Quotes quoted before this went (but each ticker's newest).
    pub quotes_before_ms: i64,
    /// Alerts made before this went.
    pub alerts_before_ms: i64,
    pub quotes_deleted: u64,
    pub alerts_deleted: u64,
    /// Transactions run (including the last, short one of each range).
    pub batches: u64,
    /// The longest batch: how long a lock was held at most.
    pub longest_batch_ms: u64,
    /// True when the tick arrived while the previous pass was still running.
    pub skipped: bool,
}

pub struct Retention {
    store: Store,
    config: RetentionConfig,
    running: Mutex<()>,
}

impl Retention {
    pub fn new(store: Store, config: RetentionConfig) -> Self {
        metrics::init();
        Self {
            store,
            config,
            running: Mutex::new(()),
        }
    }

    /// One pass as of `now_ms`; a tick that finds a pass running is skipped (the running one
    /// does the same work).
    pub async fn pass(&self, now_ms: i64) -> Result<PassReport> {
        let Ok(_running) = self.running.try_lock() else {
            tracing::info!("retention pass skipped: the previous one is still running");
            METRICS.passes.with_label_values(&["skipped"]).inc();
            return Ok(PassReport {
                now_ms,
                skipped: true,
                ..PassReport::default()
            });
        };
        let result = self.run(now_ms).await;
        let outcome = if result.is_ok() { "ok" } else { "error" };
        METRICS.passes.with_label_values(&[outcome]).inc();
        METRICS.last_pass.set(now_unix_ms() as f64 / 1000.0);
        match &result {
            Ok(r) => tracing::info!(
                quotes = r.quotes_deleted,
                alerts = r.alerts_deleted,
                batches = r.batches,
                longest_batch_ms = r.longest_batch_ms,
                "retention pass done"
            ),
            Err(e) => tracing::warn!(error = %e, "retention pass failed; the next one goes on"),
        }
        result
    }

    async fn run(&self, now_ms: i64) -> Result<PassReport> {
        let mut report = PassReport {
            now_ms,
            quotes_before_ms: before(now_ms, self.config.quotes),
            alerts_before_ms: before(now_ms, self.config.alerts),
            ..PassReport::default()
        };
        let batch = self.config.batch;
        let pool = self.store.pool();
        let mut after: Option<String> = None;
        while let Some(ticker) = retention::next_ticker(pool, after.as_deref()).await? {
            if let Some(newest) = retention::newest_quote_ms(pool, &ticker).await? {
                let cut = report.quotes_before_ms.min(newest);
                loop {
                    let started = Instant::now();
                    let n = retention::delete_quotes_batch(&self.store, &ticker, cut, batch);
                    let n = n.await?;
                    report.batch_done(started, "quotes", n);
                    report.quotes_deleted += n;
                    if n < u64::from(batch) {
                        break;
                    }
                }
            }
            after = Some(ticker);
        }
        loop {
            let started = Instant::now();
            let n = retention::delete_alerts_batch(&self.store, report.alerts_before_ms, batch);
            let n = n.await?;
            report.batch_done(started, "alerts", n);
            report.alerts_deleted += n;
            if n < u64::from(batch) {
                break;
            }
        }
        Ok(report)
    }

    /// A pass every `every` (the first at once) until the task is stopped: `tickermesh up`.
    pub async fn every(self: Arc<Self>, every: Duration) {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            // A failure is logged and counted by `pass`; the next tick tries again.
            let _ = self.pass(now_unix_ms()).await;
        }
    }
}

impl PassReport {
    fn batch_done(&mut self, started: Instant, table: &str, deleted: u64) {
        let took = started.elapsed();
        METRICS.batch_duration.observe(took.as_secs_f64());
        METRICS.deleted.with_label_values(&[table]).inc_by(deleted);
        self.batches += 1;
        let ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
        self.longest_batch_ms = self.longest_batch_ms.max(ms);
    }
}

/// The cut-off: `now_ms` less the retention (saturating: a retention longer than the epoch
/// deletes nothing).
fn before(now_ms: i64, retention: Duration) -> i64 {
    let ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    now_ms.saturating_sub(ms)
}

/// The pass's "now" for a tick: its `time`, unless absent or later than `clock_ms`.
pub fn tick_now(event: &Event, clock_ms: i64) -> i64 {
    event
        .time()
        .map_or(clock_ms, |t| t.timestamp_millis().min(clock_ms))
}

/// `POST /`: the tick, any CloudEvent in binary or structured mode (a malformed one is
/// answered 400 by the extractor). 200 with the report when done, 503 when it must be retried.
async fn tick(State(retention): State<Arc<Retention>>, event: Event) -> axum::response::Response {
    tracing::debug!(ty = event.ty(), source = %event.source(), id = event.id(), "tick");
    match retention.pass(tick_now(&event, now_unix_ms())).await {
        Ok(report) => Json(report).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `POST <path>`: the tick endpoint alone (the local mesh mounts it at `/retention`).
pub fn tick_router(path: &str, retention: Arc<Retention>) -> Router {
    Router::new().route(path, post(tick)).with_state(retention)
}

/// The function's HTTP surface: the tick on `POST /`, `/healthz` and `/metrics`.
pub fn router(retention: Arc<Retention>) -> Router {
    tick_router("/", retention)
        .route("/healthz", get(|| async { "ok" }))
        .merge(metrics_router())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudevents::EventBuilder;

    #[test]
    fn cut_offs() {
        let day = Duration::from_secs(86_400);
        assert_eq!(before(100 * 86_400_000, 30 * day), 70 * 86_400_000);
        assert_eq!(before(0, 30 * day), -30 * 86_400_000);
        assert_eq!(before(5, Duration::MAX), 5 - i64::MAX);
        assert_eq!(before(i64::MIN, day), i64::MIN);
    }

    #[test]
    fn now_is_the_ticks_time_but_never_later_than_the_clock() {
        let at = |time: Option<&str>| {
            let mut event = cloudevents::EventBuilderV10::new()
                .id("1")
                .ty("dev.knative.sources.ping")
                .source("/test");
            if let Some(t) = time {
                event = event.time(t);
            }
            event.build().map(|e| tick_now(&e, 2_000_000_000_000)).ok()
        };
        // 2026-11-26T12:00:00Z
        assert_eq!(at(Some("2026-11-26T12:00:00Z")), Some(1_795_694_400_000));
        assert_eq!(at(Some("2040-01-01T00:00:00Z")), Some(2_000_000_000_000));
        assert_eq!(at(None), Some(2_000_000_000_000));
    }
}
