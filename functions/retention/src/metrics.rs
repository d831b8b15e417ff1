//! The retention function's metrics (served with the rest on `/metrics`).

use std::sync::LazyLock;

use prometheus::{Gauge, Histogram, IntCounterVec};
use tickermesh_core::metrics::{counter_vec, export_at_zero, gauge, histogram};

pub struct RetentionMetrics {
    pub deleted: IntCounterVec,
    pub passes: IntCounterVec,
    pub batch_duration: Histogram,
    pub last_pass: Gauge,
}

/// The tables a pass deletes from (an alert's delivery record goes with it, uncounted).
pub const TABLES: &[&str] = &["quotes", "alerts"];
const OUTCOMES: &[&str] = &["ok", "error", "skipped"];

pub static METRICS: LazyLock<RetentionMetrics> = LazyLock::new(|| RetentionMetrics {
    deleted: counter_vec(
        "tickermesh_retention_rows_deleted_total",
        "Rows deleted for being older than their retention, by table (quotes, alerts).",
        &["table"],
    ),
    passes: counter_vec(
        "tickermesh_retention_passes_total",
        "Retention passes, by outcome (ok, error, skipped: the previous one still ran).",
        &["outcome"],
    ),
    // The time a batch holds its locks (SQLite: the one write lock).
    batch_duration: histogram(
        "tickermesh_retention_batch_duration_seconds",
        "Duration of one retention batch, one transaction.",
    ),
    last_pass: gauge(
        "tickermesh_retention_last_pass_timestamp_seconds",
        "Unix time at which the last retention pass finished, whatever its outcome.",
    ),
});

/// The fixed label values, exported at zero from the start.
pub fn init() {
    let m = &*METRICS;
    export_at_zero(&m.deleted, TABLES);
    export_at_zero(&m.passes, OUTCOMES);
}
