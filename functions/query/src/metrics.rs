//! query's own metric: the time to answer GetLatestValue, the call users make most.

use std::future::Future;
use std::sync::LazyLock;
use std::time::Instant;

use prometheus::Histogram;

static GET_LATEST_VALUE: LazyLock<Histogram> = LazyLock::new(|| {
    tickermesh_core::metrics::histogram(
        "tickermesh_get_latest_value_duration_seconds",
        "Time to answer GetLatestValue, successful or not.",
    )
});

/// Registers the histogram, so it is served before the first call.
pub fn init() {
    LazyLock::force(&GET_LATEST_VALUE);
}

/// Times one GetLatestValue, whatever its outcome.
pub async fn time_latest<T>(call: impl Future<Output = T>) -> T {
    let started = Instant::now();
    let result = call.await;
    GET_LATEST_VALUE.observe(started.elapsed().as_secs_f64());
    result
}
