//! The request body limit of every route. tower-http's limit layer answers 413 only for a
//! declared `Content-Length`; a chunked body is cut by an error that the handler must map, and
//! cloudevents-sdk's extractor maps it to 500. This middleware cuts both the same way (with
//! http-body-util's `Limited`, as tower-http does) and answers 413 whatever the handler made of
//! the cut, for any route, present or future.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use prometheus::IntCounter;

use super::Router;

static TOO_LARGE: LazyLock<IntCounter> = LazyLock::new(|| {
    crate::metrics::counter(
        "tickermesh_http_bodies_too_large_total",
        "Requests refused because their body was larger than TICKERMESH_HTTP_BODY_LIMIT_BYTES.",
    )
});

/// `app` with every request body cut at `limit` bytes.
pub(super) fn limit_bodies(app: Router, limit: usize) -> Router {
    LazyLock::force(&TOO_LARGE);
    app.layer(axum::middleware::from_fn_with_state(limit, enforce))
}

async fn enforce(State(limit): State<usize>, request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        // Refused before a byte of the body is read.
        return too_large(limit);
    }
    // gRPC answers in its own status (tonic reports the cut body); everything else gets 413.
    let grpc = request
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    let cut = Arc::new(AtomicBool::new(false));
    let request = request.map(|body| {
        let cut = cut.clone();
        Body::new(Limited::new(body, limit).map_err(move |e| {
            if e.is::<LengthLimitError>() {
                cut.store(true, Ordering::Relaxed);
            }
            e
        }))
    });
    let response = next.run(request).await;
    if cut.load(Ordering::Relaxed) {
        if grpc {
            TOO_LARGE.inc();
            return response;
        }
        return too_large(limit);
    }
    response
}

fn too_large(limit: usize) -> Response {
    TOO_LARGE.inc();
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body larger than {limit} bytes\n"),
    )
        .into_response()
}
