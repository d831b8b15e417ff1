//! The request body limit of every route. tower-http's limit layer answers 413 only for a
//! declared `Content-Length`; a chunked body is cut by an error that the handler must map, and
//! cloudevents-sdk's extractor maps it to 500. The connection's service cuts both the same way
//! (with http-body-util's `Limited`, as tower-http does) and answers 413 whatever the handler
//! made of the cut, for any route, present or future.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use prometheus::IntCounter;

static TOO_LARGE: LazyLock<IntCounter> = LazyLock::new(|| {
    crate::metrics::counter(
        "tickermesh_http_bodies_too_large_total",
        "Requests refused because their body was larger than TICKERMESH_HTTP_BODY_LIMIT_BYTES.",
    )
});

/// Registers the counter, so that it is exported at zero from the start.
pub(super) fn init() {
    LazyLock::force(&TOO_LARGE);
}

/// A request whose body is cut at `limit` bytes, and how to tell afterwards whether it was;
/// or, when its declared length is above the limit, the 413 to answer without reading it.
/// (Called by the connection's service itself rather than as a router layer: one less boxed
/// future per gRPC call.)
pub(super) fn limit(request: Request, limit: usize) -> Result<(Request, Cut), Box<Response>> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(Box::new(too_large(limit)));
    }
    // gRPC answers in its own status (tonic reports the cut body); everything else gets 413.
    let grpc = request
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    let flag = Arc::new(AtomicBool::new(false));
    let request = request.map(|body| {
        let flag = flag.clone();
        Body::new(Limited::new(body, limit).map_err(move |e| {
            if e.is::<LengthLimitError>() {
                flag.store(true, Ordering::Relaxed);
            }
            e
        }))
    });
    Ok((request, Cut { flag, grpc, limit }))
}

/// Whether a request's body was cut at the limit.
pub(super) struct Cut {
    flag: Arc<AtomicBool>,
    grpc: bool,
    limit: usize,
}

impl Cut {
    /// `response`, or 413 when the body was cut, whatever the handler made of the cut.
    pub fn answer(self, response: Response) -> Response {
        if !self.flag.load(Ordering::Relaxed) {
            return response;
        }
        if self.grpc {
            TOO_LARGE.inc();
            return response;
        }
        too_large(self.limit)
    }
}

fn too_large(limit: usize) -> Response {
    TOO_LARGE.inc();
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body larger than {limit} bytes\n"),
    )
        .into_response()
}
