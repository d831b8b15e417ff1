//! The shared core of the tickermesh functions.
//!
//! Each function crate holds only its own logic; everything two functions would otherwise write
//! twice lives here: validated domain values, the database, at-most-once commands, typed
//! configuration, Prometheus metrics and the server scaffolding (health, reflection, `/metrics`,
//! graceful shutdown).

pub mod access;
pub mod command;
pub mod config;
pub mod context;
pub mod convert;
pub mod domain;
pub mod error;
pub mod events;
pub mod idempotency;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod metrics;
pub mod server;
pub mod signing;
pub mod store;
pub mod telemetry;

pub use context::Context;
pub use error::{Error, Result};

/// Milliseconds since the Unix epoch; every timestamp tickermesh stores uses this unit.
pub fn now_unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
