//! The evaluate function. For each `tickermesh.quote.collected` event it checks every user
//! watching that ticker with thresholds and emits one `tickermesh.threshold.crossed` event per
//! crossing (edge-triggered, see [`crossing`]).
//!
//! The per-user state lives in the database and moves by compare-and-set, in the same
//! transaction that stores the alert; alerts are an outbox, published after the commit and
//! re-sent until the broker has them. So restarts, redeliveries and replicas never alert
//! twice and never lose an alert.

pub mod crossing;

use std::sync::{Arc, LazyLock};

use cloudevents::Event;
use prometheus::{IntCounter, IntCounterVec};
use sha2::{Digest, Sha256};
use tickermesh_core::events::checks::check_quote;
use tickermesh_core::events::{
    drain_outbox, EventHandler, HandleError, Publisher, QuoteCollected, ThresholdCrossed,
};
use tickermesh_core::store::alerts::{self, Watcher};
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
    pub async fn evaluate(&self, quote: &QuoteCollected) -> Result<usize> {
        let watchers = alerts::watchers(self.store.pool(), &quote.ticker).await?;
        let mut created = 0;
        for w in watchers {
            if self.evaluate_one(&w, quote).await? {
                created += 1;
            }
        }
        self.publish_pending().await?;
        Ok(created)
    }

    async fn evaluate_one(&self, w: &Watcher, quote: &QuoteCollected) -> Result<bool> {
        if w.evaluated_market_time_ms
            .is_some_and(|seen| seen >= quote.market_time_ms)
        {
            // A redelivery, or an older quote arriving late.
            return Ok(false);
        }
        let state = AlertState::parse(&w.alert_state);
        let now = position(quote.price, w.min_price, w.max_price);
        let (next, alert) = decide(state, now);
        let mut tx = self.store.begin().await?;
        let moved = alerts::transition(
            &mut tx,
            w.subscription_id,
            &w.alert_state,
            next.as_str(),
            quote.market_time_ms,
        )
        .await?;
        let Some(direction) = alert.filter(|_| moved) else {
            tx.commit()
                .await
                .map_err(|e| Error::db("commit an evaluation", e))?;
            return Ok(false);
        };
        let threshold = match direction {
            tickermesh_core::events::Direction::Above => w.max_price,
            tickermesh_core::events::Direction::Below => w.min_price,
        }
        .unwrap_or_default();
        let alert = ThresholdCrossed {
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
        };
        alerts::insert_alert(&mut tx, self.store.backend(), &alert, now_unix_ms()).await?;
        tx.commit()
            .await
            .map_err(|e| Error::db("commit an alert", e))?;
        ALERTS.with_label_values(&[direction.as_str()]).inc();
        tracing::info!(ticker = %quote.ticker, direction = direction.as_str(), price = quote.price, threshold, "threshold crossed");
        Ok(true)
    }

    /// Hands every stored, unpublished alert to the broker, oldest first.
    pub async fn publish_pending(&self) -> Result<usize> {
        drain_outbox(
            || alerts::unpublished(self.store.pool(), 500),
            |alert| async move {
                let event = alert
                    .to_event()
                    .map_err(|e| Error::Internal(e.to_string()))?;
                self.publisher
                    .publish(&self.topic, &alert.email, event)
                    .await?;
                alerts::mark_published(self.store.pool(), &alert.alert_id, now_unix_ms()).await
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
        let quote = QuoteCollected {
            collected_at_ms: stored.collected_at_ms,
            ticker: stored.ticker,
            price: stored.price,
            currency: stored.currency,
            market_time_ms: stored.market_time_ms,
            simulated: stored.simulated,
        };
        self.evaluate(&quote).await.map(drop).map_err(Into::into)
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
