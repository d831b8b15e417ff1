//! Prometheus metrics, served on `/metrics` of every function's port. Labels take values from
//! small fixed sets (method names, status codes, outcomes), never ids, e-mails or tickers.

use std::future::Future;
use std::sync::LazyLock;
use std::time::Instant;

use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, TextEncoder,
};
use tonic::{Code, Response, Status};

/// Latency buckets from 250 µs to 5 s: the fast path of a query is well under a millisecond.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

struct Metrics {
    grpc_requests: IntCounterVec,
    grpc_duration: HistogramVec,
    idempotent_replays: IntCounterVec,
    events: IntCounterVec,
    event_duration: HistogramVec,
    consumer_lag: IntGaugeVec,
}

/// Registers a collector in the process-wide registry that `/metrics` serves. Every metric of
/// every function is made through this one place: names and labels are constants (checked by
/// the unit tests), so construction cannot fail at run time for any input.
#[allow(clippy::expect_used)]
fn registered<C: prometheus::core::Collector + Clone + 'static>(made: prometheus::Result<C>) -> C {
    let collector = made.expect("metric names and labels are constants");
    if let Err(e) = prometheus::register(Box::new(collector.clone())) {
        tracing::warn!(error = %e, "metric registered twice");
    }
    collector
}

/// A counter family with the given labels.
pub fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    registered(IntCounterVec::new(Opts::new(name, help), labels))
}

pub fn counter(name: &str, help: &str) -> IntCounter {
    registered(IntCounter::new(name, help))
}

pub fn gauge(name: &str, help: &str) -> Gauge {
    registered(Gauge::new(name, help))
}

pub fn int_gauge(name: &str, help: &str) -> IntGauge {
    registered(IntGauge::new(name, help))
}

pub fn int_gauge_vec(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    registered(IntGaugeVec::new(Opts::new(name, help), labels))
}

/// A latency histogram ([`LATENCY_BUCKETS`]).
pub fn histogram(name: &str, help: &str) -> Histogram {
    registered(Histogram::with_opts(
        HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()),
    ))
}

/// A family of latency histograms ([`LATENCY_BUCKETS`]) with the given labels.
pub fn histogram_vec(name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    registered(HistogramVec::new(
        HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()),
        labels,
    ))
}

const GRPC_LABELS: &[&str] = &["method", "code"];
const EVENT_LABELS: &[&str] = &["function", "outcome"];

static METRICS: LazyLock<Metrics> = LazyLock::new(|| Metrics {
    grpc_requests: counter_vec(
        "tickermesh_grpc_requests_total",
        "gRPC requests handled, by method and status code.",
        GRPC_LABELS,
    ),
    grpc_duration: histogram_vec(
        "tickermesh_grpc_request_duration_seconds",
        "gRPC request latency, by method and status code.",
        GRPC_LABELS,
    ),
    idempotent_replays: counter_vec(
        "tickermesh_idempotent_replays_total",
        "Commands answered from a stored response instead of running again, by method.",
        &["method"],
    ),
    events: counter_vec(
        "tickermesh_events_total",
        "CloudEvents handled by the event functions, by function and outcome \
         (ok, invalid, retry).",
        EVENT_LABELS,
    ),
    event_duration: histogram_vec(
        "tickermesh_event_duration_seconds",
        "Time to handle one CloudEvent, by function and outcome.",
        EVENT_LABELS,
    ),
    consumer_lag: int_gauge_vec(
        "tickermesh_consumer_lag_messages",
        "Events waiting for this consumer, as the consumer sees them: on Kafka the \
         high watermark minus the consumed offset, summed over its partitions; on the \
         in-process bus the queued events.",
        &["function", "topic"],
    ),
});

/// Creates the series of each label value in `values` (a one-label family) at zero. The fixed
/// label sets are exported from the start so that `rate()` and alerts see a series before the
/// first event of each kind.
pub fn export_at_zero<T: prometheus::core::MetricVecBuilder>(
    family: &prometheus::core::MetricVec<T>,
    values: &[&str],
) {
    for value in values {
        family.with_label_values(&[value]);
    }
}

/// What event functions answer.
pub const EVENT_OUTCOMES: [&str; 3] = ["ok", "invalid", "retry"];

/// Exports the event series of `function` at zero.
pub fn init_events(function: &'static str) {
    let m = &*METRICS;
    for outcome in EVENT_OUTCOMES {
        m.events.with_label_values(&[function, outcome]);
        m.event_duration.with_label_values(&[function, outcome]);
    }
}

/// A consumer of `topic` starts in `function`: its event series and its lag, at zero.
pub fn init_consumer(function: &'static str, topic: &str) {
    init_events(function);
    consumer_lag(function, topic, 0);
}

/// The consumer of `topic` in `function` has `lag` events left to handle.
pub fn consumer_lag(function: &'static str, topic: &str, lag: i64) {
    METRICS
        .consumer_lag
        .with_label_values(&[function, topic])
        .set(lag);
}

/// Counts and times one event handled by `function`: `ok`, `invalid` (skipped) or `retry`.
pub fn event_handled(function: &'static str, outcome: &'static str, started: Instant) {
    let m = &*METRICS;
    m.events.with_label_values(&[function, outcome]).inc();
    m.event_duration
        .with_label_values(&[function, outcome])
        .observe(started.elapsed().as_secs_f64());
}

/// A gRPC status code as a label value (`OK`, `NOT_FOUND`, …).
pub fn code_label(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// Runs one RPC, counting it and timing it by method and resulting status code.
pub async fn observe_grpc<T>(
    method: &'static str,
    call: impl Future<Output = Result<Response<T>, Status>>,
) -> Result<Response<T>, Status> {
    let started = Instant::now();
    let result = call.await;
    let elapsed = started.elapsed().as_secs_f64();
    let code = code_label(result.as_ref().map_or_else(|s| s.code(), |_| Code::Ok));
    let m = &*METRICS;
    m.grpc_requests.with_label_values(&[method, code]).inc();
    m.grpc_duration
        .with_label_values(&[method, code])
        .observe(elapsed);
    result
}

pub fn idempotent_replay(method: &'static str) {
    METRICS
        .idempotent_replays
        .with_label_values(&[method])
        .inc();
}

/// Everything registered, in the Prometheus text format.
pub fn render() -> String {
    LazyLock::force(&METRICS);
    let mut out = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&prometheus::gather(), &mut out) {
        tracing::warn!(error = %e, "encoding metrics failed");
    }
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn observed_calls_show_up_in_the_text() {
        let _ = observe_grpc("GetLatestValue", async { Ok(Response::new(())) }).await;
        let _ = observe_grpc::<()>("GetLatestValue", async { Err(Status::not_found("x")) }).await;
        let text = render();
        assert!(text.contains(
            "tickermesh_grpc_requests_total{code=\"NOT_FOUND\",method=\"GetLatestValue\"} 1"
        ));
        assert!(text.contains(
            "tickermesh_grpc_request_duration_seconds_count{code=\"OK\",method=\"GetLatestValue\"} 1"
        ));
    }
}
