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

impl Retry {
    fn request<T>(&self, message: T, idempotency_key: Option<&str>) -> Request<T> {
        let mut request = Request::new(message);
        request.set_timeout(self.timeout);
        if let Some(key) = idempotency_key.and_then(|k| MetadataValue::try_from(k).ok()) {
            request.metadata_mut().insert("idempotency-key", key);
        }
        request
    }

    /// Calls `rpc` on a clone of `client` until success, a non-retryable status, or the
    /// retries are spent; every attempt carries the same message, deadline and idempotency
    /// key. Backoff doubles from 100 ms up to 3.2 s.
    pub async fn call<C, M, T, F, Fut>(
        &self,
        client: &C,
        message: &M,
        idempotency_key: Option<&str>,
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
        (|| {
            rpc(
                client.clone(),
                self.request(message.clone(), idempotency_key),
            )
        })
        .retry(backoff)
        .when(|status| retryable(status.code()))
        .await
        .map(Response::into_inner)
        .map_err(ClientError::Rpc)
    }
}
