//! One connection, HTTP/1.1 or HTTP/2 (told apart by the preface, as axum::serve does), with
//! hyper's own limits — the HTTP/1 header-read timeout, HTTP/2 keepalive pings and a
//! concurrent-stream cap — and one hyper does not have: a connection with no request in flight
//! is closed once it has been idle too long (before its first request: the header timeout;
//! after: the idle timeout). That catches what hyper's timers do not: a client that sends
//! nothing at all, a stalled HTTP/2 preface or frame, an HTTP/2 peer that answers pings but
//! never sends a request.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpStream;
use tokio::sync::{watch, OwnedSemaphorePermit};
use tower::ServiceExt;

use super::accept::METRICS;
use super::{body_limit, Router};
use crate::config::HttpLimits;

pub(super) type Builder = auto::Builder<TokioExecutor>;

pub(super) fn builder(limits: &HttpLimits) -> Builder {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_streams)
        .keep_alive_interval(limits.keepalive)
        .keep_alive_timeout(limits.keepalive);
    builder
}

/// Serves `tcp` until it closes, times out, or the server stops (`stopping`): then open
/// requests finish and no new ones are taken. `_slot` is its place under the connection cap.
pub(super) async fn serve(
    tcp: TcpStream,
    _slot: OwnedSemaphorePermit,
    app: Router,
    builder: Arc<Builder>,
    limits: Arc<HttpLimits>,
    mut stopping: watch::Receiver<bool>,
) {
    // Small gRPC frames must not wait for Nagle's algorithm (40 ms stalls behind delayed ACKs).
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(error = %e, "TCP_NODELAY not set");
    }
    METRICS.open.inc();
    let activity = Arc::new(Activity::new());
    let service = {
        let activity = activity.clone();
        let limits = limits.clone();
        hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let busy = activity.begin();
            let app = app.clone();
            let limited = body_limit::limit(request.map(Body::new), limits.body_limit);
            async move {
                let response = match limited {
                    Ok((request, cut)) => cut.answer(app.oneshot(request).await?),
                    Err(too_large) => *too_large,
                };
                // In flight until the whole response body is sent (or dropped).
                Ok::<_, Infallible>(response.map(|body| {
                    Body::new(body.map_frame(move |frame| {
                        let _ = &busy;
                        frame
                    }))
                }))
            }
        })
    };
    let conn = builder.serve_connection(TokioIo::new(tcp), service);
    tokio::pin!(conn);
    let mut closing = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                break;
            }
            _ = stopping.wait_for(|s| *s), if !closing => {
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
            () = activity.idle(&limits), if !closing => {
                METRICS.timed_out.inc();
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
            // Asked to close, still no request in flight: a peer that does not take the hint.
            () = activity.idle(&limits), if closing => break,
        }
    }
    METRICS.open.dec();
}

/// Requests in flight on one connection, and since when there have been none.
struct Activity {
    start: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds from `start` to when the last request ended.
    idle_since_ms: AtomicU64,
    served_one: AtomicBool,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
            served_one: AtomicBool::new(false),
        }
    }

    fn begin(self: &Arc<Self>) -> Busy {
        self.served_one.store(true, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        Busy(self.clone())
    }

    /// Resolves once no request has been in flight for the timeout that applies.
    async fn idle(&self, limits: &HttpLimits) {
        loop {
            let timeout = if self.served_one.load(Ordering::Relaxed) {
                limits.idle_timeout
            } else {
                limits.header_timeout
            };
            if self.in_flight.load(Ordering::Acquire) > 0 {
                tokio::time::sleep(timeout).await;
                continue;
            }
            let since = Duration::from_millis(self.idle_since_ms.load(Ordering::Acquire));
            let deadline = self.start + since + timeout;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline.into()).await;
        }
    }
}

/// A request in flight; its end restarts the idle clock.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let now = u64::try_from(self.0.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.0.idle_since_ms.store(now, Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}
