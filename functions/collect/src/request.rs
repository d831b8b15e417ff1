//! Collect requests: one ticker collected now, because someone can just see its price (an address
//! confirmed, a watch added or moved) and it has none yet (`tickermesh.collect.requested`, from
//! access, watch and update; see `tickermesh_core::events::collect_request`). The fetch goes through the same rate limit and
//! circuit breaker as a tick's, and its quote is stored and published as a tick's is.
//!
//! A burst of sign-ups for one new ticker makes one request to the market: a ticker
//! fetched for a request, or whose newest quote was collected, less than [`FRESH_FOR`] ago is
//! not fetched again. A request for a ticker nobody watches is ignored: the event names what
//! to fetch, and collect fetches only what someone watches.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cloudevents::Event;
use tickermesh_core::domain::Ticker;
use tickermesh_core::events::collect_request::{is_watched, CollectRequested};
use tickermesh_core::events::{handle_counted, EventHandler, HandleError};
use tickermesh_core::store::quotes;
use tickermesh_core::{now_unix_ms, Result};

use crate::{Collector, TickReport};

/// How long a fetch (or a stored quote) answers every request for its ticker.
pub const FRESH_FOR: Duration = Duration::from_secs(10);
const FRESH_FOR_MS: i64 = FRESH_FOR.as_millis() as i64;

/// What a collect request did.
#[derive(Debug, Clone, PartialEq)]
pub enum Requested {
    /// Fetched; the report says what came back and what was stored and published.
    Fetched(TickReport),
    /// Fetched, or collected, less than [`FRESH_FOR`] ago.
    Fresh,
    /// Nobody watches the ticker.
    NotWatched,
}

/// The tickers fetched for a request lately, in this process: requests that arrive together
/// make one fetch. (Across replicas the stored quote's collection time does the same, once the
/// first fetch has stored it.)
#[derive(Debug, Default)]
pub struct Recent {
    claimed: Mutex<HashMap<String, i64>>,
}

impl Recent {
    /// Claims `ticker` for a fetch at `now_ms`: false when it was claimed less than
    /// [`FRESH_FOR`] before. Claims older than that are forgotten.
    pub fn claim(&self, ticker: &str, now_ms: i64) -> bool {
        let mut claimed = self.claimed.lock().unwrap_or_else(|e| e.into_inner());
        claimed.retain(|_, at| now_ms.saturating_sub(*at) < FRESH_FOR_MS);
        if claimed.contains_key(ticker) {
            return false;
        }
        claimed.insert(ticker.to_owned(), now_ms);
        true
    }

    /// Gives a claim back: the request failed before fetching, and its redelivery must fetch.
    pub fn release(&self, ticker: &str) {
        let mut claimed = self.claimed.lock().unwrap_or_else(|e| e.into_inner());
        claimed.remove(ticker);
    }
}

impl Collector {
    /// Collects one ticker now, for a collect request. An error means the request must be
    /// delivered again (the database or the broker is away); market failures are in the
    /// report, and left to the next tick.
    pub async fn collect_requested(&self, ticker: &Ticker) -> Result<Requested> {
        let now = now_unix_ms();
        if !self.recent.claim(ticker.as_str(), now) {
            return Ok(Requested::Fresh);
        }
        let result = self.fetch_requested(ticker, now).await;
        if result.is_err() {
            self.recent.release(ticker.as_str());
        }
        result
    }

    async fn fetch_requested(&self, ticker: &Ticker, now: i64) -> Result<Requested> {
        let pool = self.store.pool();
        if !is_watched(pool, ticker.as_str()).await? {
            return Ok(Requested::NotWatched);
        }
        let latest = quotes::latest(pool, ticker).await?;
        if latest.is_some_and(|q| now.saturating_sub(q.collected_at_ms) < FRESH_FOR_MS) {
            return Ok(Requested::Fresh);
        }
        let was_unknown = quotes::is_unknown(pool, ticker.as_str()).await?;
        let fetch = self.market.fetch(ticker.as_str()).await;
        let mut report = TickReport {
            tickers: 1,
            simulated: self.market.is_simulated(),
            ..TickReport::default()
        };
        self.take(ticker.as_str().to_owned(), fetch, was_unknown, &mut report)
            .await?;
        tracing::info!(%ticker, ?report, "collect request handled");
        Ok(Requested::Fetched(report))
    }
}

/// Collect requests as events: over HTTP beside the tick, from the in-process bus or a Kafka
/// consumer in `tickermesh up`. Counted as function `collect` in `tickermesh_events_total`.
pub struct RequestHandler(pub Arc<Collector>);

#[async_trait::async_trait]
impl EventHandler for RequestHandler {
    fn name(&self) -> &'static str {
        "collect"
    }

    async fn handle(&self, event: &Event) -> std::result::Result<(), HandleError> {
        let request = CollectRequested::from_event(event)?;
        let ticker = Ticker::parse("ticker", &request.ticker)
            .map_err(|e| HandleError::Invalid(e.to_string()))?;
        self.0.collect_requested(&ticker).await?;
        Ok(())
    }

    /// Requests for different tickers are independent, and those for one ticker meet in
    /// [`Recent`].
    fn concurrency(&self) -> usize {
        8
    }
}

/// A collect request over HTTP: 202 when handled, 400 when invalid, 503 to have it delivered
/// again (as every event function answers).
pub(crate) async fn receive(collector: Arc<Collector>, event: Event) -> Response {
    match handle_counted(&RequestHandler(collector), &event).await {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(HandleError::Invalid(reason)) => (StatusCode::BAD_REQUEST, reason).into_response(),
        Err(HandleError::Retry(e)) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_fetch_per_ticker_while_fresh() {
        let recent = Recent::default();
        let t0 = 1_000_000;
        // (ticker, ms after t0, claimed?)
        let steps = [
            ("NVDA", 0, true),
            ("NVDA", 1, false),
            ("AAPL", 2, true),
            ("NVDA", FRESH_FOR_MS - 1, false),
            ("NVDA", FRESH_FOR_MS, true),
            ("AAPL", FRESH_FOR_MS + 1, false),
            ("AAPL", FRESH_FOR_MS + 2, true),
        ];
        for (ticker, after, claimed) in steps {
            assert_eq!(
                recent.claim(ticker, t0 + after),
                claimed,
                "{ticker} at +{after} ms"
            );
        }
    }

    #[test]
    fn a_released_claim_can_be_taken_again() {
        let recent = Recent::default();
        assert!(recent.claim("NVDA", 5));
        recent.release("NVDA");
        assert!(recent.claim("NVDA", 6));
        assert!(!recent.claim("NVDA", 7));
    }
}
