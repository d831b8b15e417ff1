//! Where prices come from: Yahoo Finance, or a deterministic simulated market for offline demos.

pub mod pace;
mod sim;
mod yahoo;

use std::time::Instant;

pub use sim::SimMarket;
pub use yahoo::{Yahoo, YahooConfig};

use tickermesh_core::events::checks::check_quote;

use crate::breaker::{Breaker, Rejected};
use crate::metrics::METRICS;

/// What fetching one symbol gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Fetch {
    Quote {
        price: f64,
        currency: String,
        market_time_ms: i64,
        /// The previous session's close: the reference of percent-move rules.
        previous_close: Option<f64>,
    },
    NotFound,
    NoPrice,
    /// The service answered with values no quote can have (a market time far ahead, a price
    /// that is not a positive number, a currency that is no code): refused, counted, not
    /// stored. The service did answer, so this is no failure for the breaker.
    Invalid(String),
    /// Timeout, 429, 5xx, transport or protocol failure: counts against the breaker.
    UpstreamError(String),
    /// The breaker is open: the call was not made.
    BreakerOpen,
}

impl Fetch {
    pub fn label(&self) -> &'static str {
        match self {
            Self::Quote { .. } => "quote",
            Self::NotFound => "not_found",
            Self::NoPrice => "no_price",
            Self::Invalid(_) => "invalid",
            Self::UpstreamError(_) => "upstream_error",
            Self::BreakerOpen => "breaker_open",
        }
    }
}

pub enum Market {
    /// Boxed: the client and its pacing are far larger than the simulated market.
    Yahoo {
        client: Box<Yahoo>,
        breaker: Breaker,
    },
    Sim(SimMarket),
}

impl Market {
    pub fn is_simulated(&self) -> bool {
        matches!(self, Self::Sim(_))
    }

    pub async fn fetch(&self, ticker: &str) -> Fetch {
        let outcome = match self {
            Self::Sim(sim) => {
                let started = Instant::now();
                let outcome = sim.fetch(ticker, tickermesh_core::now_unix_ms());
                METRICS
                    .market_duration
                    .observe(started.elapsed().as_secs_f64());
                outcome
            }
            Self::Yahoo { client, breaker } => {
                if breaker.acquire(Instant::now()) == Err(Rejected) {
                    Fetch::BreakerOpen
                } else {
                    let started = Instant::now();
                    let outcome = client.fetch(ticker).await;
                    METRICS
                        .market_duration
                        .observe(started.elapsed().as_secs_f64());
                    match &outcome {
                        Fetch::UpstreamError(_) => breaker.failure(Instant::now()),
                        _ => breaker.success(),
                    }
                    METRICS.breaker_state.set(breaker.state().as_metric());
                    outcome
                }
            }
        };
        let outcome = checked(outcome, tickermesh_core::now_unix_ms());
        METRICS.fetches.with_label_values(&[outcome.label()]).inc();
        if outcome == Fetch::NotFound {
            METRICS.symbols_not_found.inc();
        }
        outcome
    }
}

/// A quote as the market gave it, or [`Fetch::Invalid`] when its values are absurd.
fn checked(fetch: Fetch, now_ms: i64) -> Fetch {
    match fetch {
        Fetch::Quote {
            price,
            ref currency,
            market_time_ms,
            ..
        } => match check_quote(price, currency, market_time_ms, now_ms) {
            Ok(()) => fetch,
            Err(e) => Fetch::Invalid(e.to_string()),
        },
        other => other,
    }
}
