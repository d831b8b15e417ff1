//! Accepting connections within a cap, and riding out accept errors. At the cap a new
//! connection is closed at once (the client sees it, instead of waiting in the kernel's
//! backlog); an accept error (out of file descriptors, most often) waits with a doubling
//! back-off instead of spinning, and is logged once per period with a count instead of once
//! per attempt.

use std::io;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use prometheus::{IntCounter, IntGauge};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub(super) struct Metrics {
    pub open: IntGauge,
    refused: IntCounter,
    errors: IntCounter,
    pub timed_out: IntCounter,
}

pub(super) static METRICS: LazyLock<Metrics> = LazyLock::new(|| Metrics {
    open: crate::metrics::int_gauge(
        "tickermesh_http_connections_open",
        "Connections the server holds open.",
    ),
    refused: crate::metrics::counter(
        "tickermesh_http_connections_refused_total",
        "Connections closed on accept: TICKERMESH_HTTP_MAX_CONNECTIONS were already open.",
    ),
    errors: crate::metrics::counter(
        "tickermesh_http_accept_errors_total",
        "Failed accepts (e.g. out of file descriptors), each followed by a back-off.",
    ),
    timed_out: crate::metrics::counter(
        "tickermesh_http_connections_timed_out_total",
        "Connections closed for sending no request within the header or idle timeout.",
    ),
});

/// The longest wait after an accept error, and how often a run of them is logged.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
const LOG_EVERY: Duration = Duration::from_secs(10);

pub(super) struct Acceptor {
    listener: TcpListener,
    slots: Arc<Semaphore>,
    backoff: Duration,
    errors: Throttled,
    refusals: Throttled,
}

impl Acceptor {
    pub fn new(listener: TcpListener, max_connections: usize) -> Self {
        LazyLock::force(&METRICS);
        Self {
            listener,
            slots: Arc::new(Semaphore::new(max_connections)),
            backoff: FIRST_BACKOFF,
            errors: Throttled::default(),
            refusals: Throttled::default(),
        }
    }

    /// The next connection within the cap, with the slot it holds until it is dropped.
    pub async fn next(&mut self) -> (TcpStream, OwnedSemaphorePermit) {
        loop {
            match self.listener.accept().await {
                Ok((tcp, peer)) => {
                    self.backoff = FIRST_BACKOFF;
                    match self.slots.clone().try_acquire_owned() {
                        Ok(slot) => return (tcp, slot),
                        Err(_) => {
                            METRICS.refused.inc();
                            if let Some(more) = self.refusals.due() {
                                tracing::warn!(%peer, refused_since_last_log = more, "connection limit reached; closing new connections");
                            }
                            drop(tcp);
                        }
                    }
                }
                // The peer gave up before we took it: nothing wrong here.
                Err(e) if is_connection_error(&e) => {}
                Err(e) => {
                    METRICS.errors.inc();
                    if let Some(more) = self.errors.due() {
                        tracing::error!(error = %e, errors_since_last_log = more, backoff = ?self.backoff, "accept failed; backing off");
                    }
                    tokio::time::sleep(self.backoff).await;
                    self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Lets one log line through per [`LOG_EVERY`], counting the ones held back.
#[derive(Default)]
struct Throttled {
    last: Option<Instant>,
    held_back: u64,
}

impl Throttled {
    /// `Some(count held back since the last line)` when a line is due.
    fn due(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self.last.is_some_and(|t| now.duration_since(t) < LOG_EVERY) {
            self.held_back += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.held_back))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_of_errors_is_logged_once_per_period() {
        let mut t = Throttled::default();
        assert_eq!(t.due(), Some(0));
        assert_eq!((0..1000).filter_map(|_| t.due()).count(), 0);
        t.last = Some(Instant::now() - LOG_EVERY);
        assert_eq!(t.due(), Some(1000));
    }
}
