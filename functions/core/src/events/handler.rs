//! One handler per event function, reached the same way over every transport: CloudEvents over
//! HTTP (a Knative KafkaSource delivering), the in-process bus, or a Kafka consumer.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cloudevents::{AttributesReader, Event};
use futures::FutureExt;
use tokio::sync::mpsc;

use crate::error::Error;
use crate::server::{metrics_router, Router};

#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// Not an event this function understands, or bad data: log, count, skip. Retrying
    /// cannot help.
    #[error("invalid event: {0}")]
    Invalid(String),
    /// The work could not be done now (database, broker, SMTP away): deliver it again later.
    #[error(transparent)]
    Retry(#[from] Error),
}

/// An event that does not parse is invalid: retrying cannot make it parse.
impl From<super::EventError> for HandleError {
    fn from(e: super::EventError) -> Self {
        Self::Invalid(e.to_string())
    }
}

#[async_trait::async_trait]
pub trait EventHandler: Send + Sync + 'static {
    /// The function's name, for metrics and logs.
    fn name(&self) -> &'static str;

    async fn handle(&self, event: &Event) -> Result<(), HandleError>;

    /// How many events a consumer may hand to this handler at once (at least 1). One at a
    /// time unless the handler says its work can overlap: events of one key may then be
    /// handled out of order, so only a handler whose events are independent raises it.
    fn concurrency(&self) -> usize {
        1
    }
}

/// How an event that was taken on ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    /// Handled, or skipped for good (invalid): the consumer may move past it.
    Handled,
    /// Given up between attempts because the consumer is stopping: not handled, so it
    /// must not be acknowledged (the next consumer gets it again).
    Stopped,
}

/// Handles `event` until it is handled or skipped, retrying with [`redelivery_delays`]
/// meanwhile. Each attempt runs to its end; `stop` (true: stop) is looked at between attempts.
pub async fn handle_until_done<H: EventHandler + ?Sized>(
    handler: &H,
    event: &Event,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Done {
    let mut delays = redelivery_delays();
    while let Err(HandleError::Retry(_)) = handle_counted(handler, event).await {
        let delay = delays.next().unwrap_or(Duration::from_secs(30));
        tokio::select! {
            // A closed sender means the consumer is gone: stop too.
            _ = stop.wait_for(|stop| *stop) => return Done::Stopped,
            () = tokio::time::sleep(delay) => {}
        }
        if *stop.borrow() {
            return Done::Stopped;
        }
    }
    Done::Handled
}

/// The waits between deliveries of an event that must be retried: doubling from 200 ms to
/// 30 s, for as long as it takes (the event is never dropped).
pub fn redelivery_delays() -> impl Iterator<Item = Duration> {
    use backon::BackoffBuilder;
    backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(30))
        .without_max_times()
        .build()
}

/// Handles one event, counting and timing it, logging what is skipped or retried.
pub async fn handle_counted<H: EventHandler + ?Sized>(
    handler: &H,
    event: &Event,
) -> Result<(), HandleError> {
    let started = Instant::now();
    // A panic in a handler is a bug that one event triggered: that event is skipped (logged,
    // counted as invalid), and the consumer goes on with the next.
    let result = match AssertUnwindSafe(handler.handle(event)).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(function = handler.name(), id = event.id(), panic = %what, "the handler panicked on an event");
            Err(HandleError::Invalid(
                "the event could not be handled; it was skipped".into(),
            ))
        }
    };
    let outcome = match &result {
        Ok(()) => "ok",
        Err(HandleError::Invalid(reason)) => {
            tracing::warn!(function = handler.name(), id = event.id(), ty = event.ty(), %reason, "skipping an invalid event");
            "invalid"
        }
        Err(HandleError::Retry(e)) => {
            let cause = std::error::Error::source(e).map(ToString::to_string);
            tracing::warn!(function = handler.name(), id = event.id(), error = %e, ?cause, "event must be retried");
            "retry"
        }
    };
    crate::metrics::event_handled(handler.name(), outcome, started);
    result
}

async fn receive<H: EventHandler>(State(handler): State<Arc<H>>, event: Event) -> Response {
    match handle_counted(handler.as_ref(), &event).await {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(HandleError::Invalid(reason)) => (StatusCode::BAD_REQUEST, reason).into_response(),
        Err(HandleError::Retry(e)) => e.into_response(),
    }
}

/// `POST /` takes one CloudEvent (binary or structured mode; a malformed one is 400): 202 when
/// handled, 400 when invalid (a KafkaSource then drops it or sends it to its dead-letter sink),
/// 503 when it must be delivered again. Plus `/healthz` and `/metrics`.
pub fn event_router<H: EventHandler>(handler: Arc<H>) -> Router {
    crate::metrics::init_events(handler.name());
    Router::new()
        .route("/", post(receive::<H>))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(handler)
        .merge(metrics_router())
}

/// Feeds events from the in-process bus to `handler` until the bus closes, up to
/// [`EventHandler::concurrency`] at once. An event that must be retried is retried with
/// backoff (up to 30 s apart) without holding the others, never dropped; an invalid one is
/// skipped. The events still queued are exported as the consumer's lag.
pub async fn consume_channel<H: EventHandler + ?Sized>(
    topic: String,
    mut rx: mpsc::Receiver<(String, Event)>,
    handler: Arc<H>,
) {
    let function = handler.name();
    crate::metrics::init_consumer(function, &topic);
    let limit = handler.concurrency().max(1);
    // Never set: the bus only ends by closing, and the tasks go with the runtime.
    let (_keep, stop) = tokio::sync::watch::channel(false);
    let mut in_flight = tokio::task::JoinSet::new();
    let mut open = true;
    while open || !in_flight.is_empty() {
        tokio::select! {
            received = rx.recv(), if open && in_flight.len() < limit => match received {
                Some((_key, event)) => {
                    let (handler, stop) = (handler.clone(), stop.clone());
                    in_flight.spawn(async move {
                        handle_until_done(handler.as_ref(), &event, stop).await
                    });
                }
                None => open = false,
            },
            Some(ended) = in_flight.join_next() => {
                if let Err(e) = ended {
                    tracing::error!(function, error = %e, "an event task ended abnormally");
                }
            }
        }
        // Events queued behind the ones in flight (some perhaps retried): keep it current.
        crate::metrics::consumer_lag(function, &topic, rx.len() as i64);
    }
}
