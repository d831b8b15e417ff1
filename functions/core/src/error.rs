//! The one error type of the shared core, and its single mapping to gRPC status codes.

use tonic::{Code, Status};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{field}: {reason}")]
    InvalidArgument { field: &'static str, reason: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    FailedPrecondition(String),
    /// No credentials, or ones that are not valid.
    #[error("{0}")]
    Unauthenticated(String),
    /// Valid credentials that do not give access to what was asked.
    #[error("{0}")]
    PermissionDenied(String),
    /// Over a limit; the client may try again after `retry_after`.
    #[error("{what}; retry in {} s", crate::access::retry_secs(*retry_after))]
    ResourceExhausted {
        what: String,
        retry_after: std::time::Duration,
    },
    /// A conflict the client resolves by retrying (lock contention, a concurrent request with
    /// the same idempotency key still in flight).
    #[error("{0}")]
    Aborted(String),
    /// The database cannot be reached; the function keeps running and recovers when it returns.
    #[error("database unavailable while trying to {context}")]
    Unavailable {
        context: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("database error while trying to {context}")]
    Database {
        context: &'static str,
        #[source]
        source: sqlx::Error,
    },
    /// The event broker did not take an event; the caller retries later.
    #[error("event broker")]
    Broker(#[from] crate::events::PublishError),
    /// A call ran past the server's bound on a call (a database that stopped answering).
    #[error("no answer within {0:?}")]
    TimedOut(std::time::Duration),
    /// The mail server did not take an e-mail for now; the caller retries later.
    #[error("mail server: {0}")]
    Mail(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidArgument {
            field,
            reason: reason.into(),
        }
    }

    /// Classifies a database error at the I/O step that saw it.
    pub fn db(context: &'static str, source: sqlx::Error) -> Self {
        use sqlx::Error as E;
        match &source {
            E::Io(_)
            | E::Tls(_)
            | E::PoolTimedOut
            | E::PoolClosed
            | E::WorkerCrashed
            | E::Protocol(_) => Self::Unavailable { context, source },
            E::Database(db) if is_contention(db.as_ref()) => {
                tracing::info!(%context, error = %db, "database contention; client should retry");
                Self::Aborted("the request conflicted with a concurrent one; retry it".into())
            }
            _ => Self::Database { context, source },
        }
    }

    pub fn code(&self) -> Code {
        match self {
            Self::InvalidArgument { .. } => Code::InvalidArgument,
            Self::NotFound(_) => Code::NotFound,
            Self::AlreadyExists(_) => Code::AlreadyExists,
            Self::FailedPrecondition(_) => Code::FailedPrecondition,
            Self::Unauthenticated(_) => Code::Unauthenticated,
            Self::PermissionDenied(_) => Code::PermissionDenied,
            Self::ResourceExhausted { .. } => Code::ResourceExhausted,
            Self::Aborted(_) => Code::Aborted,
            Self::Unavailable { .. } | Self::Broker(_) | Self::Mail(_) | Self::TimedOut(_) => {
                Code::Unavailable
            }
            Self::Database { .. } | Self::Internal(_) => Code::Internal,
        }
    }
}

/// Deadlocks and lock wait timeouts (MySQL SQLSTATE 40001, error 1205) and a busy or locked
/// SQLite file (codes 5, 6 and their extended forms) resolve on retry.
fn is_contention(db: &dyn sqlx::error::DatabaseError) -> bool {
    matches!(
        db.code().as_deref(),
        Some("40001" | "5" | "6" | "261" | "262" | "517")
    ) || db.message().contains("Lock wait timeout")
        || db.message().contains("database is locked")
}

/// The only place an error becomes a client-visible status. Client errors carry their message;
/// database and internal errors are logged with their cause and answered with a generic text,
/// so no SQL or internal detail reaches the client.
impl From<Error> for Status {
    fn from(err: Error) -> Self {
        let code = err.code();
        match &err {
            Error::Unavailable { source, .. } => {
                tracing::warn!(error = %err, cause = %source, "database unavailable");
                Status::unavailable("database unavailable, retry later")
            }
            Error::Database { source, .. } => {
                tracing::error!(error = %err, cause = %source, "database error");
                Status::internal("internal error")
            }
            Error::Broker(source) => {
                tracing::warn!(error = %err, cause = %source, "event broker unavailable");
                Status::unavailable("event broker unavailable, retry later")
            }
            Error::TimedOut(_) => {
                tracing::warn!(error = %err, "a call ran out of time");
                Status::unavailable("the service did not answer in time, retry later")
            }
            Error::Mail(_) => {
                tracing::warn!(error = %err, "mail server unavailable");
                Status::unavailable("mail server unavailable, retry later")
            }
            Error::Internal(_) => {
                tracing::error!(error = %err, "internal error");
                Status::internal("internal error")
            }
            Error::ResourceExhausted { retry_after, .. } => {
                // The wait in whole seconds, also as metadata a client can read without
                // parsing the message.
                let mut status = Status::new(code, err.to_string());
                let secs = crate::access::retry_secs(*retry_after).to_string();
                if let Ok(value) = secs.parse() {
                    status.metadata_mut().insert("retry-after", value);
                }
                status
            }
            _ => Status::new(code, err.to_string()),
        }
    }
}

/// The same mapping for the HTTP functions (CloudEvent endpoints): a status code and a short
/// text; database, broker and internal details stay in the log.
impl axum::response::IntoResponse for Error {
    fn into_response(self) -> axum::response::Response {
        use axum::http::StatusCode as S;
        let status = match self.code() {
            Code::InvalidArgument => S::BAD_REQUEST,
            Code::NotFound => S::NOT_FOUND,
            Code::AlreadyExists | Code::Aborted => S::CONFLICT,
            Code::FailedPrecondition => S::PRECONDITION_FAILED,
            Code::Unauthenticated => S::UNAUTHORIZED,
            Code::PermissionDenied => S::FORBIDDEN,
            Code::ResourceExhausted => S::TOO_MANY_REQUESTS,
            Code::Unavailable => S::SERVICE_UNAVAILABLE,
            _ => S::INTERNAL_SERVER_ERROR,
        };
        let message = Status::from(self).message().to_owned();
        (status, message).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_details_do_not_reach_the_client() {
        let err = Error::db("load user", sqlx::Error::Protocol("SELECT secret".into()));
        let status = Status::from(err);
        assert_eq!(status.code(), Code::Unavailable);
        assert!(!status.message().contains("SELECT"));

        let err = Error::db("load user", sqlx::Error::RowNotFound);
        let status = Status::from(err);
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(status.message(), "internal error");

        let err = Error::Mail("421 smtp.internal.example busy".into());
        let status = Status::from(err);
        assert_eq!(status.code(), Code::Unavailable);
        assert!(!status.message().contains("smtp.internal"));
    }

    #[test]
    fn a_limit_says_how_long_to_wait() {
        let status = Status::from(Error::ResourceExhausted {
            what: "too many registrations from this client".into(),
            retry_after: std::time::Duration::from_millis(1500),
        });
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert_eq!(
            status.message(),
            "too many registrations from this client; retry in 2 s"
        );
        assert_eq!(status.metadata().get("retry-after").unwrap(), "2");
    }

    #[test]
    fn invalid_argument_names_the_field() {
        let status = Status::from(Error::invalid("email", "is required"));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), "email: is required");
    }
}
