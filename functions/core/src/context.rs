use std::sync::Arc;
use std::time::Duration;

use crate::config::ServiceConfig;
use crate::error::Result;
use crate::idempotency::Idempotency;
use crate::store::Store;

/// What a command or query handler works with. A function's own settings (the query cache,
/// say) live in that function's crate, not here.
#[derive(Clone)]
pub struct Context {
    pub store: Store,
    pub idempotency: Idempotency,
    /// The most one call may take (`TICKERMESH_REQUEST_TIMEOUT_MS`); a client's shorter
    /// deadline wins.
    pub request_timeout: Duration,
}

/// Default of [`Context::request_timeout`].
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

impl Context {
    pub fn new(store: Store, idempotency_ttl: Duration) -> Arc<Self> {
        Arc::new(Self {
            store,
            idempotency: Idempotency::new(idempotency_ttl),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        })
    }

    pub fn with_request_timeout(self: Arc<Self>, limit: Duration) -> Arc<Self> {
        Arc::new(Self {
            request_timeout: limit,
            ..(*self).clone()
        })
    }

    /// Opens the database and applies migrations. Purging expired idempotency keys is the
    /// caller's task ([`Idempotency::purge_every`]), so that the caller owns it.
    pub async fn connect(service: &ServiceConfig) -> Result<Arc<Self>> {
        let store = Store::connect_to(&service.database).await?;
        Ok(Self::new(store, service.idempotency_ttl).with_request_timeout(service.request_timeout))
    }
}
