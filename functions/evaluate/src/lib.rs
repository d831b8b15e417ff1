//! The evaluate function. For each `tickermesh.quote.collected` event it checks every user
//! watching that ticker with thresholds and emits one `tickermesh.threshold.crossed` event per
//! crossing (edge-triggered, see [`crossing`]).
//!
//! The per-user state lives in the database and moves by compare-and-set, in the same
//! transaction that stores the alert; alerts are an outbox, published after the commit and
//! re-sent until the broker has them. So restarts, redeliveries and replicas never alert
//! twice and never lose an alert.

pub mod crossing;

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use cloudevents::Event;
use prometheus::{IntCounter, IntCounterVec};
use sha2::{Digest, Sha256};
use tickermesh_core::events::checks::check_quote;
use tickermesh_core::events::{
    drain_outbox, Direction, EventHandler, HandleError, Publisher, QuoteCollected, ThresholdCrossed,
};
use tickermesh_core::store::alerts;
use tickermesh_core::store::evaluation::{self, Watcher};
use tickermesh_core::store::quotes;
use tickermesh_core::store::Store;
use tickermesh_core::{now_unix_ms, Error, Result};

use crate::crossing::{decide, position, AlertState};

static REFUSED: LazyLock<IntCounter> = LazyLock::new(|| {
    tickermesh_core::metrics::counter(
        "tickermesh_quotes_refused_total",
        "Quote events evaluate refused: no such quote was collected, or its values are absurd.",
    )
});

static ALERTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    tickermesh_core::metrics::counter_vec(
        "tickermesh_alerts_emitted_total",
        "Threshold crossings turned into alerts, by direction.",
        &["direction"],
    )
});

/// The id of one crossing: the same subscription crossing the same way at the same market
/// time always gets this id, so a duplicate is recognisable downstream.
pub fn alert_id(
    subscription_id: i64,
    ticker: &str,
    direction: &str,
    market_time_ms: i64,
) -> String {
    let digest = Sha256::digest(format!(
        "{subscription_id}/{ticker}/{direction}/{market_time_ms}"
    ));
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

pub struct Evaluator {
    store: Store,
    publisher: Arc<dyn Publisher>,
    topic: String,
}

impl Evaluator {
    pub fn new(store: Store, publisher: Arc<dyn Publisher>, alerts_topic: &str) -> Self {
        tickermesh_core::metrics::export_at_zero(&ALERTS, &["above", "below"]);
        LazyLock::force(&REFUSED);
        Self {
            store,
            publisher,
            topic: alerts_topic.to_owned(),
        }
    }

    /// Evaluates one quote for everyone watching its ticker; returns the alerts it created.
    /// Work follows what changes: the watchers whose state the price moves, found by range
    /// scans, moved and alerted in a few statements of one transaction (see
    /// [`tickermesh_core::store::evaluation`]).
    pub async fn evaluate(&self, quote: &QuoteCollected) -> Result<usize> {
        let created = self.store_alerts(quote).await?;
        self.publish_pending().await?;
        Ok(created)
    }

    /// The evaluation's transaction: states moved and alerts stored (not yet published).
    pub async fn store_alerts(&self, quote: &QuoteCollected) -> Result<usize> {
        let backend = self.store.backend();
        let t = quote.market_time_ms;
        let mut tx = self.store.begin().await?;
        if !evaluation::claim(&mut tx, backend, &quote.ticker, t).await? {
            // A redelivery, or an older quote arriving late: nothing to do.
            return Ok(0);
        }
        let watchers = evaluation::changing_watchers(&mut tx, &quote.ticker, quote.price).await?;
        let mut moves: BTreeMap<(String, AlertState), Vec<i64>> = BTreeMap::new();
        let mut alerts = Vec::new();
        for w in watchers {
            let state = AlertState::parse(&w.alert_state);
            let (next, alert) = decide(state, position(quote.price, w.min_price, w.max_price));
            if next == state && next.as_str() == w.alert_state {
                continue;
            }
            if let Some(direction) = alert {
                alerts.push(self.alert(&w, quote, direction));
            }
            moves
                .entry((w.alert_state, next))
                .or_default()
                .push(w.subscription_id);
        }
        for ((from, to), ids) in &moves {
            evaluation::move_states(&mut tx, ids, from, to.as_str(), t).await?;
        }
        evaluation::insert_alerts(&mut tx, backend, &alerts, now_unix_ms()).await?;
        tx.commit()
            .await
            .map_err(|e| Error::db("commit an evaluation", e))?;
        for alert in &alerts {
            ALERTS.with_label_values(&[alert.direction.as_str()]).inc();
        }
        if !alerts.is_empty() {
            tracing::info!(ticker = %quote.ticker, price = quote.price, alerts = alerts.len(), "thresholds crossed");
        }
        Ok(alerts.len())
    }

    fn alert(&self, w: &Watcher, quote: &QuoteCollected, direction: Direction) -> ThresholdCrossed {
        let threshold = match direction {
            Direction::Above => w.max_price,
            Direction::Below => w.min_price,
        }
        .unwrap_or_default();
        ThresholdCrossed {
            alert_id: alert_id(
                w.subscription_id,
                &quote.ticker,
                direction.as_str(),
                quote.market_time_ms,
            ),
            email: w.email.clone(),
            ticker: quote.ticker.clone(),
            price: quote.price,
            currency: quote.currency.clone(),
            threshold,
            direction,
            market_time_ms: quote.market_time_ms,
            simulated: quote.simulated,
        }
    }

    /// Hands every stored, unpublished alert to the broker, oldest first, in batches: the
    /// batch's events go out together (in order: the broker orders them per key) and are
    /// marked published in one statement. A batch that fails is sent again whole; notify
    /// mails each alert id once.
    pub async fn publish_pending(&self) -> Result<usize> {
        let pool = self.store.pool();
        drain_outbox(
            || alerts::unpublished(pool, 500),
            |batch| async move {
                let sends = batch.iter().map(|alert| async move {
                    let event = alert
                        .to_event()
                        .map_err(|e| Error::Internal(e.to_string()))?;
                    self.publisher
                        .publish(&self.topic, &alert.email, event)
                        .await
                        .map_err(Error::from)
                });
                futures::future::try_join_all(sends).await?;
                let ids: Vec<&str> = batch.iter().map(|a| a.alert_id.as_str()).collect();
                alerts::mark_published(pool, &ids, now_unix_ms()).await
            },
        )
        .await
    }
}

#[async_trait::async_trait]
impl EventHandler for Evaluator {
    fn name(&self) -> &'static str {
        "evaluate"
    }

    /// The quote evaluated is the stored one (collect stores a quote before it publishes it),
    /// so an event can only name a quote, never make one up; an event for a quote that was
    /// never collected, or whose values are absurd, is refused and counted.
    async fn handle(&self, event: &Event) -> std::result::Result<(), HandleError> {
        let named = QuoteCollected::from_event(event)?;
        let pool = self.store.pool();
        let Some(stored) = quotes::find(pool, &named.ticker, named.market_time_ms).await? else {
            return Err(refused("no such quote was collected"));
        };
        check_quote(
            stored.price,
            &stored.currency,
            stored.market_time_ms,
            now_unix_ms(),
        )
        .map_err(|e| refused(&e.to_string()))?;
        self.evaluate(&stored).await.map(drop).map_err(Into::into)
    }
}

fn refused(reason: &str) -> HandleError {
    REFUSED.inc();
    HandleError::Invalid(format!("quote refused: {reason}"))
}

/// The function's HTTP surface: CloudEvents on `POST /`, `/healthz`, `/metrics`.
pub fn router(evaluator: Arc<Evaluator>) -> tickermesh_core::server::Router {
    tickermesh_core::events::event_router(evaluator)
}

#[cfg(test)]
mod tests {
    use super::alert_id;

    #[test]
    fn alert_ids_are_stable_and_distinct() {
        let a = alert_id(1, "AAPL", "above", 1000);
        assert_eq!(a, alert_id(1, "AAPL", "above", 1000));
        assert_eq!(a.len(), 32);
        assert_ne!(a, alert_id(2, "AAPL", "above", 1000));
        assert_ne!(a, alert_id(1, "AAPL", "below", 1000));
        assert_ne!(a, alert_id(1, "AAPL", "above", 2000));
    }
}
