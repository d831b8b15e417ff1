//! Property-based tests of the parsers of outside data that live above the core crate: the
//! Yahoo chart body, CloudEvents over HTTP (evaluate, notify) and from Kafka records, and the
//! commands' fields over gRPC. (`Email`, `Ticker`, `Thresholds`, `Count`, the idempotency key
//! and tickerctl's metrics parser are tested in their own files.) Case counts are set per test
//! so the whole set stays within a CI minute in a debug build.

#[path = "fuzz/chart.rs"]
mod chart;
#[path = "fuzz/commands.rs"]
mod commands;
#[path = "fuzz/events_http.rs"]
mod events_http;
#[path = "fuzz/kafka.rs"]
mod kafka;
#[path = "fuzz/notify_http.rs"]
mod notify_http;
#[path = "fuzz/numbers.rs"]
mod numbers;
