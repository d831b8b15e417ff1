//! The unsubscribe function: the link every alert e-mail carries in its body and in its
//! `List-Unsubscribe` header, `{public URL}/unsubscribe?u=<user id>&t=<token>`, where the token
//! is the HMAC of the user's id and address under the deployment's signing key
//! (`tickermesh_core::signing`).
//!
//! - `GET` shows a page that asks to confirm, with a form that posts back; it changes nothing
//!   (mail scanners and link previews fetch links).
//! - `POST` (RFC 8058 one-click: `List-Unsubscribe=One-Click`, or the page's form, or an empty
//!   body; the signed URL is the authority, so the body is not read) stops the user's alert
//!   e-mails at once, without a login; a repeat changes nothing more.
//! - Malformed parameters → 400, a token that is not this user's → 403, nothing changed. A link
//!   of a user that no longer exists → 200: nothing to stop (its token cannot be checked without
//!   the address, and there is nothing to protect).
//!
//! The only public function besides the gRPC router; it reads and writes one column of `users`.

mod link;
mod metrics;
mod page;

use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use axum::routing::get;
use tickermesh_core::config::ConfigError;
use tickermesh_core::context::DEFAULT_REQUEST_TIMEOUT;
use tickermesh_core::server::{metrics_router, Router};
use tickermesh_core::signing::SigningKey;
use tickermesh_core::store::unsubscribe::{self, Recipient};
use tickermesh_core::store::Store;
use tickermesh_core::{now_unix_ms, Error, Result};

pub use link::Link;
use metrics::Outcome;

/// The path of the link, under the deployment's public URL.
pub const PATH: &str = "/unsubscribe";

/// The function's own settings (beyond `PORT` and the database, which every function reads).
#[derive(Debug, Clone)]
pub struct UnsubscribeConfig {
    /// `TICKERMESH_SIGNING_KEY`: the key the links are signed with (notify signs them).
    pub signing_key: SigningKey,
}

impl UnsubscribeConfig {
    pub fn from_env() -> std::result::Result<Self, ConfigError> {
        Ok(Self {
            signing_key: SigningKey::from_env()?,
        })
    }
}

struct Unsubscribe {
    store: Store,
    key: SigningKey,
}

/// What a well-formed link with a good token names.
enum Named {
    User {
        user_id: i64,
        recipient: Recipient,
    },
    /// No user has this id (any more).
    Gone,
}

/// Why a request is refused, and with which status.
struct Refused(Outcome, Response);

impl Unsubscribe {
    /// Checks the link of a request: its form, then the token against the user's address.
    async fn check(&self, query: Option<&str>) -> std::result::Result<Named, Refused> {
        let Some(link) = Link::parse(query) else {
            let page = page::invalid(StatusCode::BAD_REQUEST);
            return Err(Refused(Outcome::Malformed, page));
        };
        let found = bounded(unsubscribe::recipient(&self.store, link.user_id)).await;
        match found.map_err(failed)? {
            None => Ok(Named::Gone),
            Some(recipient) => {
                let key = &self.key;
                if key.verify_unsubscribe(link.user_id, &recipient.email, &link.token) {
                    Ok(Named::User {
                        user_id: link.user_id,
                        recipient,
                    })
                } else {
                    let page = page::invalid(StatusCode::FORBIDDEN);
                    Err(Refused(Outcome::Forbidden, page))
                }
            }
        }
    }
}

/// A database call, bounded like every call of the other functions: a database that stops
/// answering makes the page say "try again" instead of hanging.
async fn bounded<T>(call: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::time::timeout(DEFAULT_REQUEST_TIMEOUT, call)
        .await
        .unwrap_or(Err(Error::TimedOut(DEFAULT_REQUEST_TIMEOUT)))
}

/// The database failed: logged here (never sent), and "try again" to the visitor.
fn failed(error: Error) -> Refused {
    tracing::warn!(%error, "unsubscribe: the database failed");
    let status = match error {
        Error::Unavailable { .. } | Error::TimedOut(_) | Error::Aborted(_) => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    Refused(Outcome::Error, page::unavailable(status))
}

async fn show(State(s): State<Arc<Unsubscribe>>, uri: Uri) -> Response {
    let (outcome, response) = match s.check(uri.query()).await {
        Err(Refused(outcome, response)) => (outcome, response),
        Ok(Named::Gone) => (Outcome::Gone, page::nothing_to_stop()),
        Ok(Named::User { recipient, .. }) if recipient.unsubscribed => {
            (Outcome::Already, page::already(&recipient.email))
        }
        Ok(Named::User { recipient, .. }) => (Outcome::Shown, page::confirm(&recipient.email)),
    };
    metrics::count("GET", outcome);
    response
}

async fn stop(State(s): State<Arc<Unsubscribe>>, uri: Uri) -> Response {
    let (outcome, response) = match s.check(uri.query()).await {
        Err(Refused(outcome, response)) => (outcome, response),
        Ok(Named::Gone) => (Outcome::Gone, page::stopped(None)),
        Ok(Named::User { recipient, .. }) if recipient.unsubscribed => {
            (Outcome::Already, page::stopped(Some(&recipient.email)))
        }
        Ok(Named::User { user_id, recipient }) => {
            let email = recipient.email.as_str();
            let now = now_unix_ms();
            match bounded(unsubscribe::stop_alerts(&s.store, user_id, email, now)).await {
                Ok(true) => {
                    tracing::info!(user_id, "alerts stopped by the unsubscribe link");
                    (Outcome::Unsubscribed, page::stopped(Some(email)))
                }
                // A concurrent request stopped them first, or the user was deleted since.
                Ok(false) => (Outcome::Already, page::stopped(Some(email))),
                Err(e) => {
                    let Refused(outcome, response) = failed(e);
                    (outcome, response)
                }
            }
        }
    };
    metrics::count("POST", outcome);
    response
}

/// The link's routes alone (`GET`/`POST /unsubscribe`), for a server that has its own health
/// and metrics routes (`tickermesh up`).
pub fn routes(store: Store, key: SigningKey) -> Router {
    metrics::init();
    let state = Arc::new(Unsubscribe { store, key });
    Router::new()
        .route(PATH, get(show).post(stop))
        .with_state(state)
}

/// The function's whole HTTP surface: the link, `/healthz` (the probes) and `/metrics`.
pub fn router(store: Store, key: SigningKey) -> Router {
    routes(store, key)
        .route("/healthz", get(|| async { "ok" }))
        .merge(metrics_router())
}

/// The whole life of the container: logging, config (exit 2 naming the variable when invalid),
/// the database, then serving on `PORT` until SIGTERM or Ctrl-C.
pub async fn run(name: &'static str) -> ExitCode {
    use tickermesh_core::server::{load_config, serve_until_signal, startup_failed, Tasks};
    tickermesh_core::telemetry::init();
    let (config, own) = match load_config(name, UnsubscribeConfig::from_env) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let store = match Store::connect_to(&config.service.database).await {
        Ok(s) => s,
        Err(e) => return startup_failed(name, "cannot open the database", &e),
    };
    let app = router(store.clone(), own.signing_key);
    let code = serve_until_signal(name, config.port, app, &config.service, Tasks::new()).await;
    store.close().await;
    code
}
