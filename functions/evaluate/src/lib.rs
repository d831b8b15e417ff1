//! The evaluate function. For each `tickermesh.quote.collected` event it checks every user
//! watching that ticker with thresholds and emits one `tickermesh.threshold.crossed` event per
//! crossing (edge-triggered, see [`crossing`]), and per move of a watch's percent from the
//! previous close (see [`move_rule`]).
//!
//! The evaluation is one transaction computed by the database (see
//! [`tickermesh_core::store::evaluation`]): the ticker's last evaluated quote moves forward by
//! compare-and-set, and the alerts are stored in the same transaction; alerts are an outbox,
//! published after the commit and re-sent until the broker has them. So restarts,
//! redeliveries and replicas never alert twice and never lose an alert.

pub mod crossing;
pub mod guard;
pub mod move_rule;

use std::sync::{Arc, LazyLock};

use cloudevents::Event;
use prometheus::IntCounterVec;
use tickermesh_core::events::{
    Direction, EventHandler, HandleError, Publisher, QuoteCollected, ThresholdCrossed,
};
use tickermesh_core::store::alerts;
use tickermesh_core::store::evaluation;
use tickermesh_core::store::Store;
use tickermesh_core::{now_unix_ms, Error, Result};

pub use guard::{QuoteGuard, Refusal};

static ALERTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    tickermesh_core::metrics::counter_vec(
        "tickermesh_alerts_emitted_total",
        "Threshold crossings and percent moves turned into alerts, by direction.",
        &["direction"],
    )
});

/// Alerts handed to the broker together, then marked published in one statement.
const PUBLISH_BATCH: u32 = 1_000;

pub struct Evaluator {
    store: Store,
    publisher: Arc<dyn Publisher>,
    topic: String,
    guard: QuoteGuard,
}

impl Evaluator {
    /// An evaluator that takes quote events from the collector only (see [`QuoteGuard`]).
    pub fn new(store: Store, publisher: Arc<dyn Publisher>, alerts_topic: &str) -> Self {
        let directions = Direction::ALL.map(Direction::as_str);
        tickermesh_core::metrics::export_at_zero(&ALERTS, &directions);
        guard::export_metrics();
        Self {
            store,
            publisher,
            topic: alerts_topic.to_owned(),
            guard: QuoteGuard::default(),
        }
    }

    /// The checks quote events go through.
    pub fn with_guard(mut self, guard: QuoteGuard) -> Self {
        self.guard = guard;
        self
    }

    /// Evaluates one quote for everyone watching its ticker; returns the alerts it created.
    pub async fn evaluate(&self, quote: &QuoteCollected) -> Result<usize> {
        let created = self.store_alerts(quote).await?;
        self.publish_pending().await?;
        Ok(created)
    }

    /// The evaluation's transaction: the quote claimed, its alerts stored (not yet published).
    pub async fn store_alerts(&self, quote: &QuoteCollected) -> Result<usize> {
        let backend = self.store.backend();
        let mut tx = self.store.begin().await?;
        let Some(claimed) = evaluation::claim(&mut tx, backend, quote).await? else {
            // A redelivery, or an older quote arriving late: nothing to do.
            return Ok(0);
        };
        let crossings = evaluation::apply(&mut tx, backend, quote, claimed, now_unix_ms()).await?;
        tx.commit()
            .await
            .map_err(|e| Error::db("commit an evaluation", e))?;
        for direction in Direction::ALL {
            ALERTS
                .with_label_values(&[direction.as_str()])
                .inc_by(crossings.of(direction));
        }
        let created = usize::try_from(crossings.total()).unwrap_or(usize::MAX);
        if created > 0 {
            tracing::info!(ticker = %quote.ticker, price = quote.price, alerts = created, "thresholds crossed");
        }
        Ok(created)
    }

    /// Hands every stored, unpublished alert to the broker, oldest first, in batches: a
    /// batch's events go out together (in order: the broker orders them per key, and a batch
    /// goes out only after the one before it), then the batch is marked published in one
    /// statement while the next batch is read and sent. A batch that fails is sent again
    /// whole; notify mails each alert id once. Ends with a read from the start, which finds
    /// alerts committed behind the cursor meanwhile.
    pub async fn publish_pending(&self) -> Result<usize> {
        let pool = self.store.pool();
        let mut published = 0;
        let (mut batch, mut cursor) = alerts::unpublished(pool, None, PUBLISH_BATCH).await?;
        if !batch.is_empty() {
            self.send(&batch).await?;
        }
        while !batch.is_empty() {
            let ids: Vec<&str> = batch.iter().map(|a| a.alert_id.as_str()).collect();
            let mark = alerts::mark_published(pool, &ids, now_unix_ms());
            let next = async {
                let next = alerts::unpublished(pool, cursor.as_ref(), PUBLISH_BATCH).await?;
                if !next.0.is_empty() {
                    self.send(&next.0).await?;
                }
                Ok(next)
            };
            let ((), next) = futures::future::try_join(mark, next).await?;
            published += batch.len();
            (batch, cursor) = next;
            if batch.is_empty() && cursor.is_none() {
                // The end of this pass: once more from the start, for late commits.
                (batch, cursor) = alerts::unpublished(pool, None, PUBLISH_BATCH).await?;
                if !batch.is_empty() {
                    self.send(&batch).await?;
                }
            }
        }
        Ok(published)
    }

    /// Hands a batch's events to the broker together.
    async fn send(&self, batch: &[ThresholdCrossed]) -> Result<()> {
        let sends = batch.iter().map(|alert| async move {
            let event = alert
                .to_event()
                .map_err(|e| Error::Internal(e.to_string()))?;
            self.publisher
                .publish(&self.topic, &alert.email, event)
                .await
                .map_err(Error::from)
        });
        futures::future::try_join_all(sends).await.map(drop)
    }
}

#[async_trait::async_trait]
impl EventHandler for Evaluator {
    fn name(&self) -> &'static str {
        "evaluate"
    }

    /// The quote evaluated is the stored one (collect stores a quote before it publishes it),
    /// so an event can only name a quote, never make one up. An event from another source
    /// than the collector, for a quote that was never collected, or whose values are absurd
    /// (alone or against the ticker's previous prices) is refused and counted.
    async fn handle(&self, event: &Event) -> std::result::Result<(), HandleError> {
        let named = QuoteCollected::from_event(event)?;
        let stored = self
            .guard
            .admit(&self.store, event, &named, now_unix_ms())
            .await?;
        self.evaluate(&stored).await.map(drop).map_err(Into::into)
    }
}

/// The function's HTTP surface: CloudEvents on `POST /`, `/healthz`, `/metrics`.
pub fn router(evaluator: Arc<Evaluator>) -> tickermesh_core::server::Router {
    tickermesh_core::events::event_router(evaluator)
}
