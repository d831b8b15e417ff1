//! A local HTTP server that speaks Yahoo Finance's chart API (real response shapes), with
//! per-symbol answers, injectable latency and failures, and a request counter. A price's
//! `chartPreviousClose` is the price itself unless a test sets the symbol's own.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tickermesh_collect::chart::{not_found_body, success_body_with_close};

#[derive(Debug, Clone)]
pub enum Reply {
    Price {
        price: f64,
        market_time_s: i64,
    },
    NotFound,
    Status(u16),
    /// `429 Too Many Requests` with `Retry-After: <seconds>`.
    TooMany {
        retry_after_s: u64,
    },
}

#[derive(Default)]
struct Inner {
    replies: Mutex<HashMap<String, Reply>>,
    /// `chartPreviousClose` per symbol (`None`: left out of the answer).
    previous_closes: Mutex<HashMap<String, Option<f64>>>,
    latency: Mutex<Duration>,
    requests: AtomicUsize,
    /// When each request arrived.
    arrivals: Mutex<Vec<std::time::Instant>>,
}

#[derive(Clone)]
pub struct FakeYahoo {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
}

async fn chart(Path(symbol): Path<String>, State(inner): State<Arc<Inner>>) -> Response {
    inner.requests.fetch_add(1, Ordering::SeqCst);
    inner
        .arrivals
        .lock()
        .unwrap()
        .push(std::time::Instant::now());
    let latency = *inner.latency.lock().unwrap();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let reply = inner.replies.lock().unwrap().get(&symbol).cloned();
    let close = inner.previous_closes.lock().unwrap().get(&symbol).copied();
    match reply.unwrap_or(Reply::NotFound) {
        Reply::Price {
            price,
            market_time_s,
        } => (
            StatusCode::OK,
            success_body_with_close(
                &symbol,
                price,
                close.unwrap_or(Some(price)),
                "USD",
                market_time_s,
            ),
        )
            .into_response(),
        Reply::NotFound => (StatusCode::NOT_FOUND, not_found_body()).into_response(),
        Reply::Status(code) => (
            StatusCode::from_u16(code).unwrap(),
            "upstream trouble".to_owned(),
        )
            .into_response(),
        Reply::TooMany { retry_after_s } => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", retry_after_s.to_string())],
            "slow down",
        )
            .into_response(),
    }
}

impl FakeYahoo {
    pub async fn start() -> Self {
        let inner = Arc::new(Inner::default());
        let app = axum::Router::new()
            .route("/v8/finance/chart/{symbol}", get(chart))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { addr, inner }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set(&self, symbol: &str, reply: Reply) {
        self.inner
            .replies
            .lock()
            .unwrap()
            .insert(symbol.to_owned(), reply);
    }

    /// The `chartPreviousClose` of `symbol`'s answers from now on; `None` leaves it out.
    pub fn set_previous_close(&self, symbol: &str, close: Option<f64>) {
        self.inner
            .previous_closes
            .lock()
            .unwrap()
            .insert(symbol.to_owned(), close);
    }

    pub fn set_latency(&self, latency: Duration) {
        *self.inner.latency.lock().unwrap() = latency;
    }

    /// When each request arrived, in order.
    pub fn arrivals(&self) -> Vec<std::time::Instant> {
        self.inner.arrivals.lock().unwrap().clone()
    }

    pub fn requests(&self) -> usize {
        self.inner.requests.load(Ordering::SeqCst)
    }
}

/// A market time (Unix seconds) an hour before now: quotes must be recent to be taken (see
/// `tickermesh_core::events::checks`), so tests stamp theirs from here.
pub fn recent_s() -> i64 {
    tickermesh_core::now_unix_ms() / 1000 - 3_600
}
