//! The collector's metrics (served with the rest on `/metrics`).

use std::sync::LazyLock;

use prometheus::{Gauge, Histogram, HistogramVec, IntCounter, IntCounterVec, IntGauge};
use tickermesh_core::metrics::{
    counter, counter_vec, export_at_zero, gauge, histogram, histogram_vec, int_gauge,
};

pub struct CollectMetrics {
    pub iterations: IntCounterVec,
    pub iteration_duration: HistogramVec,
    pub last_iteration: Gauge,
    pub market_duration: Histogram,
    pub fetches: IntCounterVec,
    pub quotes_stored: IntCounter,
    pub symbols_not_found: IntCounter,
    pub breaker_state: IntGauge,
}

/// What a tick ends with.
const TICK_OUTCOMES: &[&str] = &["ok", "error"];

pub static METRICS: LazyLock<CollectMetrics> = LazyLock::new(|| CollectMetrics {
    iterations: counter_vec(
        "tickermesh_collector_iterations_total",
        "Collector ticks handled, by outcome (ok, error).",
        &["outcome"],
    ),
    iteration_duration: histogram_vec(
        "tickermesh_collector_iteration_duration_seconds",
        "Time to handle one collector tick, by outcome (ok, error).",
        &["outcome"],
    ),
    // A timestamp rather than only a counter: an alert on it survives restarts and the gaps
    // of a function scaled to zero, and `tickerctl status` shows it as the last collect time.
    last_iteration: gauge(
        "tickermesh_collector_last_iteration_timestamp_seconds",
        "Unix time at which the last collector tick finished, whatever its outcome.",
    ),
    market_duration: histogram(
        "tickermesh_yahoo_request_duration_seconds",
        "Duration of each market data HTTP call (or simulated fetch).",
    ),
    fetches: counter_vec(
        "tickermesh_collector_fetches_total",
        "Symbol fetches, by outcome (quote, not_found, no_price, invalid, upstream_error, \
         breaker_open).",
        &["outcome"],
    ),
    quotes_stored: counter(
        "tickermesh_quotes_stored_total",
        "Fresh quotes stored (a repeated market time is not stored again).",
    ),
    symbols_not_found: counter(
        "tickermesh_symbols_not_found_total",
        "Fetches answered 'Not Found' by the market: unknown symbols.",
    ),
    breaker_state: int_gauge(
        "tickermesh_yahoo_breaker_state",
        "Market data circuit breaker: 0 closed, 1 open, 2 half-open.",
    ),
});

/// The fixed label values, exported at zero from the start.
pub fn init() {
    let m = &*METRICS;
    export_at_zero(&m.iterations, TICK_OUTCOMES);
    export_at_zero(&m.iteration_duration, TICK_OUTCOMES);
    export_at_zero(
        &m.fetches,
        &[
            "quote",
            "not_found",
            "no_price",
            "invalid",
            "upstream_error",
            "breaker_open",
        ],
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn metrics_are_valid_and_served() {
        super::METRICS.quotes_stored.inc();
        assert!(tickermesh_core::metrics::render().contains("tickermesh_quotes_stored_total"));
    }
}
