//! The collector's metrics (served with the rest on `/metrics`).

use std::sync::LazyLock;

use prometheus::{
    Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
};
use tickermesh_core::metrics::{export_at_zero, register, LATENCY_BUCKETS};

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

// Constant names and labels (checked by the test below); construction cannot fail at run time.
#[allow(clippy::expect_used)]
pub static METRICS: LazyLock<CollectMetrics> = LazyLock::new(|| {
    CollectMetrics {
    iterations: register(
        IntCounterVec::new(
            Opts::new(
                "tickermesh_collector_iterations_total",
                "Collector ticks handled, by outcome (ok, error).",
            ),
            &["outcome"],
        )
        .expect("valid metric"),
    ),
    iteration_duration: register(
        HistogramVec::new(
            HistogramOpts::new(
                "tickermesh_collector_iteration_duration_seconds",
                "Time to handle one collector tick, by outcome (ok, error).",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["outcome"],
        )
        .expect("valid metric"),
    ),
    // A timestamp rather than only a counter: an alert on it survives restarts and the gaps
    // of a function scaled to zero, and `tickerctl status` shows it as the last collect time.
    last_iteration: register(
        Gauge::new(
            "tickermesh_collector_last_iteration_timestamp_seconds",
            "Unix time at which the last collector tick finished, whatever its outcome.",
        )
        .expect("valid metric"),
    ),
    market_duration: register(
        Histogram::with_opts(
            HistogramOpts::new(
                "tickermesh_yahoo_request_duration_seconds",
                "Duration of each market data HTTP call (or simulated fetch).",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
        )
        .expect("valid metric"),
    ),
    fetches: register(
        IntCounterVec::new(
            Opts::new(
                "tickermesh_collector_fetches_total",
                "Symbol fetches, by outcome (quote, not_found, no_price, upstream_error, breaker_open).",
            ),
            &["outcome"],
        )
        .expect("valid metric"),
    ),
    quotes_stored: register(
        IntCounter::new(
            "tickermesh_quotes_stored_total",
            "Fresh quotes stored (a repeated market time is not stored again).",
        )
        .expect("valid metric"),
    ),
    symbols_not_found: register(
        IntCounter::new(
            "tickermesh_symbols_not_found_total",
            "Fetches answered 'Not Found' by the market: unknown symbols.",
        )
        .expect("valid metric"),
    ),
    breaker_state: register(
        IntGauge::new(
            "tickermesh_yahoo_breaker_state",
            "Market data circuit breaker: 0 closed, 1 open, 2 half-open.",
        )
        .expect("valid metric"),
    ),
}
});

/// The fixed label values, exported at zero from the start.
pub fn init() {
    let m = &*METRICS;
    export_at_zero(&m.iterations, &["ok", "error"]);
    export_at_zero(&m.iteration_duration, &["ok", "error"]);
    export_at_zero(
        &m.fetches,
        &[
            "quote",
            "not_found",
            "no_price",
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
