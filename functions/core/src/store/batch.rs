//! A write transaction in one round trip, where the dialect allows it: MySQL's text protocol
//! takes several statements in one packet (sqlx asks for `CLIENT_MULTI_STATEMENTS`), so
//! `START TRANSACTION; …; COMMIT` costs one round trip instead of one per statement — what
//! limits a short command on MariaDB, where every statement waits for its answer.
//!
//! The text protocol takes no bound parameters, so values go in as literals written here
//! only: text as hexadecimal (`X'…'`, nothing to escape, so nothing a value can inject),
//! numbers in Rust's round-trip notation. A statement that fails ends the batch (the server
//! runs nothing after it); the transaction it opened is rolled back here and the caller takes
//! its general path, which handles what the failure meant (a taken key, an existing row).

use std::fmt::Write as _;
use std::sync::LazyLock;

use prometheus::IntCounterVec;
use sqlx::{AnyConnection, Executor, Row};

use crate::error::{Error, Result};

mod connections;

pub use connections::{BatchConnections, Lent};

/// Batches by outcome: `committed`, or `general` when a statement failed and the command took
/// its general path (a repeated key, an existing row) — a share of `general` that grows says
/// the one-trip path is not doing its work.
static BATCHES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    let family = crate::metrics::counter_vec(
        "tickermesh_one_trip_batches_total",
        "Commands written as one round trip, by outcome (committed, general).",
        &["outcome"],
    );
    crate::metrics::export_at_zero(&family, &["committed", "general"]);
    family
});

/// Statements run as one transaction, ending in one `SELECT` whose first row's integer
/// columns are returned (ids the transaction made, from session variables).
#[derive(Debug, Default, Clone)]
pub struct Batch {
    sql: String,
}

/// A text value as a hexadecimal literal.
pub fn text(value: &str) -> String {
    bytes(value.as_bytes())
}

/// Bytes as a hexadecimal literal.
pub fn bytes(value: &[u8]) -> String {
    let mut out = String::with_capacity(3 + 2 * value.len());
    out.push_str("X'");
    for b in value {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02X}");
    }
    out.push('\'');
    out
}

/// A number, or `NULL`. Exponent notation makes MySQL read it as a DOUBLE (an approximate
/// literal, parsed exactly like the binary protocol's value), never as a DECIMAL; Rust writes
/// the shortest text that reads back as the same `f64`. Only finite values reach the store.
pub fn real(value: Option<f64>) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{v:e}"),
        _ => "NULL".into(),
    }
}

impl Batch {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a statement written with this module's literals.
    pub fn push(&mut self, statement: impl AsRef<str>) -> &mut Self {
        self.sql.push_str(statement.as_ref());
        self.sql.push_str(";\n");
        self
    }

    /// Runs the statements in one transaction and one round trip on one of `connections`
    /// (the returned integers as `run` says). The batch's transaction is the server's, not
    /// one sqlx knows of: if the call is dropped half-way (a client's deadline, a cancelled
    /// request) or ends in an error that leaves its state unknown, the connection is closed,
    /// which ends the transaction on the server, instead of being handed on with it open
    /// (holding its locks for whoever takes the connection next).
    pub async fn run_on(
        &self,
        connections: &BatchConnections,
        returning: &str,
    ) -> Result<Option<Vec<i64>>> {
        let mut guard = CloseUnlessDone(Some(connections.get().await?));
        let Some(lent) = guard.0.as_mut() else {
            return Err(Error::Internal("a batch lost its connection".into()));
        };
        let ids = match self.run(lent.connection(), returning).await {
            Ok(ids) => ids,
            // The connection broke (most often one kept from before the database restarted or
            // a proxy cut it): it is closed with the guard, and the command takes its general
            // path on a fresh one. Even if this batch was committed before the break, its
            // idempotency key was committed with it, so the general path answers with its
            // stored response instead of registering twice.
            Err(e @ Error::Unavailable { .. }) => {
                tracing::info!(error = %e, "a batch's connection failed; taking the general path");
                BATCHES.with_label_values(&["general"]).inc();
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        // Committed, or rolled back on the server: the connection is clean and is handed on.
        drop(guard.0.take());
        Ok(ids)
    }

    /// Runs the statements on `conn` in one transaction and one round trip, then returns the integers of
    /// `returning` (a `SELECT` of session variables, run after the commit). `Ok(None)`: a
    /// statement failed and nothing was kept; the error is logged at debug level, as the
    /// caller's general path will meet it again and say what it means.
    ///
    /// A plain `&str` query carries no arguments, so sqlx sends it over the text protocol.
    async fn run(&self, conn: &mut AnyConnection, returning: &str) -> Result<Option<Vec<i64>>> {
        let sql = format!("START TRANSACTION;\n{}COMMIT;\n{returning}", self.sql);
        match conn.fetch_all(sql.as_str()).await {
            Ok(rows) => {
                let Some(row) = rows.last() else {
                    return Err(Error::Internal("a batch returned no row".into()));
                };
                let ids = (0..row.len())
                    .map(|i| row.try_get::<i64, _>(i))
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|e| Error::db("read a batch's ids", e))?;
                BATCHES.with_label_values(&["committed"]).inc();
                Ok(Some(ids))
            }
            Err(sqlx::Error::Database(db)) => {
                tracing::debug!(error = %db, "a one-trip batch stopped; taking the general path");
                // The server ran nothing after the failed statement, so its transaction is
                // open: roll it back before the connection goes back to the pool.
                conn.execute("ROLLBACK")
                    .await
                    .map_err(|e| Error::db("roll back a batch", e))?;
                BATCHES.with_label_values(&["general"]).inc();
                Ok(None)
            }
            Err(other) => Err(Error::db("run a batch", other)),
        }
    }
}

/// A lent connection closed when dropped unless it was taken out first (see
/// [`Batch::run_on`]).
struct CloseUnlessDone(Option<Lent>);

impl Drop for CloseUnlessDone {
    fn drop(&mut self) {
        if let Some(lent) = self.0.take() {
            lent.discard();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_hex_text_and_round_trip_numbers() {
        assert_eq!(text("a'b"), "X'612762'");
        assert_eq!(text(""), "X''");
        assert_eq!(bytes(&[0, 255]), "X'00FF'");
        for v in [0.1, 1e-6, 1e9, 123.456, 5e-324, f64::MAX] {
            let written = real(Some(v));
            assert!(written.contains('e'), "{written}");
            assert_eq!(written.parse::<f64>().ok(), Some(v));
        }
        assert_eq!(real(None), "NULL");
        assert_eq!(real(Some(f64::NAN)), "NULL");
        assert_eq!(real(Some(f64::INFINITY)), "NULL");
    }

    #[test]
    fn statements_are_separated() {
        let mut batch = Batch::new();
        batch.push("SET @a = 1").push("SET @b = 2");
        assert_eq!(batch.sql, "SET @a = 1;\nSET @b = 2;\n");
    }
}
