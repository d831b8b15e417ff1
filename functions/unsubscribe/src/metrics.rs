//! The unsubscribe function's metric (served with the rest on `/metrics`).

use std::sync::LazyLock;

use prometheus::IntCounterVec;
use tickermesh_core::metrics::counter_vec;

/// What a request to the link ends with; each is one label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// GET: the confirmation page.
    Shown,
    /// POST: this request stopped the user's alerts.
    Unsubscribed,
    /// The user's alerts were already stopped.
    Already,
    /// A well-formed link of no user (deleted): nothing to stop.
    Gone,
    /// 400: the parameters are not a link.
    Malformed,
    /// 403: a well-formed token that is not this user's (tampered, another user's, old key).
    Forbidden,
    /// The database did not answer (503) or failed (500).
    Error,
}

impl Outcome {
    pub const ALL: [Outcome; 7] = [
        Self::Shown,
        Self::Unsubscribed,
        Self::Already,
        Self::Gone,
        Self::Malformed,
        Self::Forbidden,
        Self::Error,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Self::Shown => "shown",
            Self::Unsubscribed => "unsubscribed",
            Self::Already => "already",
            Self::Gone => "gone",
            Self::Malformed => "malformed",
            Self::Forbidden => "forbidden",
            Self::Error => "error",
        }
    }
}

/// The methods the link answers (HEAD is counted as GET).
pub const METHODS: [&str; 2] = ["GET", "POST"];

static REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "tickermesh_unsubscribe_requests_total",
        "Requests to the unsubscribe link, by method (GET shows the page, POST unsubscribes) \
         and outcome (shown, unsubscribed, already, gone, malformed, forbidden, error).",
        &["method", "outcome"],
    )
});

/// Exports every series at zero, so that rates and alerts see them before the first request.
pub fn init() {
    for method in METHODS {
        for outcome in Outcome::ALL {
            REQUESTS.with_label_values(&[method, outcome.label()]);
        }
    }
}

pub fn count(method: &'static str, outcome: Outcome) {
    REQUESTS.with_label_values(&[method, outcome.label()]).inc();
}
