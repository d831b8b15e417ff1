//! Connection, deadlines and retries.

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Response, Status};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("bad endpoint {endpoint:?}: {reason}")]
    Endpoint { endpoint: String, reason: String },
    #[error("{}: {}", code_name(.0.code()), .0.message())]
    Rpc(Status),
    #[error("{0}")]
    Usage(String),
    #[error("not every function is healthy")]
    Unhealthy,
}

pub fn code_name(code: Code) -> String {
    format!("{code:?}")
}

/// A lazily connected channel: an endpoint that is down shows up as a retried UNAVAILABLE.
pub fn channel(endpoint: &str, timeout: Duration) -> Result<Channel, ClientError> {
    let bad = |reason: String| ClientError::Endpoint {
        endpoint: endpoint.to_owned(),
        reason,
    };
    let ep = Endpoint::from_shared(endpoint.to_owned()).map_err(|e| bad(e.to_string()))?;
    Ok(ep.connect_timeout(timeout).tcp_nodelay(true).connect_lazy())
}

#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub retries: u32,
    pub timeout: Duration,
}

fn retryable(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable | Code::DeadlineExceeded | Code::Aborted
    )
}

/// What a call carries besides its message.
#[derive(Debug, Clone, Copy, Default)]
pub struct Meta<'a> {
    pub idempotency_key: Option<&'a str>,
    /// Sent as `authorization: Bearer <token>`.
    pub token: Option<&'a str>,
}

/// The `authorization` value of `token`, marked sensitive (kept out of HTTP/2 header
/// compression tables and debug output); a token that cannot be a header value is a usage
/// error, and the token itself is not repeated in the message.
pub fn bearer_value(token: &str) -> Result<MetadataValue<tonic::metadata::Ascii>, ClientError> {
    let mut value = MetadataValue::try_from(format!("Bearer {}", token.trim())).map_err(|_| {
        ClientError::Usage("the access token has characters a header cannot carry".into())
    })?;
    value.set_sensitive(true);
    Ok(value)
}

impl Retry {
    fn request<T>(&self, message: T, meta: Meta<'_>) -> Result<Request<T>, ClientError> {
        let mut request = Request::new(message);
        request.set_timeout(self.timeout);
        if let Some(key) = meta
            .idempotency_key
            .and_then(|k| MetadataValue::try_from(k).ok())
        {
            request.metadata_mut().insert("idempotency-key", key);
        }
        if let Some(token) = meta.token {
            request
                .metadata_mut()
                .insert("authorization", bearer_value(token)?);
        }
        Ok(request)
    }

    /// Calls `rpc` on a clone of `client` until success, a non-retryable status, or the
    /// retries are spent; every attempt carries the same message, deadline, idempotency key
    /// and token. Backoff doubles from 100 ms up to 3.2 s.
    pub async fn call<C, M, T, F, Fut>(
        &self,
        client: &C,
        message: &M,
        meta: Meta<'_>,
        rpc: F,
    ) -> Result<T, ClientError>
    where
        C: Clone,
        M: Clone,
        F: Fn(C, Request<M>) -> Fut,
        Fut: Future<Output = Result<Response<T>, Status>>,
    {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_millis(3200))
            .with_max_times(self.retries as usize);
        // Built once: a token that cannot be sent is an error before any call.
        let request = self.request((), meta)?;
        let metadata = request.metadata().clone();
        (|| {
            let mut request = Request::new(message.clone());
            request.set_timeout(self.timeout);
            *request.metadata_mut() = metadata.clone();
            rpc(client.clone(), request)
        })
        .retry(backoff)
        .when(|status| retryable(status.code()))
        .await
        .map(Response::into_inner)
        .map_err(ClientError::Rpc)
    }
}
