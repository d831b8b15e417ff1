use std::sync::Arc;
use std::time::Duration;

use crate::config::FunctionConfig;
use crate::error::Result;
use crate::idempotency::Idempotency;
use crate::store::{Store, StoreOptions};

/// What a command or query handler works with.
#[derive(Clone)]
pub struct Context {
    pub store: Store,
    pub idempotency: Idempotency,
    /// How long the query function may answer GetLatestValue from memory.
    pub query_cache_ttl: Duration,
}

/// Default for [`Context::query_cache_ttl`].
pub const DEFAULT_QUERY_CACHE_TTL: Duration = Duration::from_millis(1000);

impl Context {
    pub fn new(store: Store, idempotency_ttl: Duration) -> Arc<Self> {
        Arc::new(Self {
            store,
            idempotency: Idempotency::new(idempotency_ttl),
            query_cache_ttl: DEFAULT_QUERY_CACHE_TTL,
        })
    }

    /// Opens the database, applies migrations and starts purging expired idempotency keys.
    pub async fn connect(config: &FunctionConfig) -> Result<Arc<Self>> {
        let ctx =
            Self::connect_url(&config.database_url, &config.store, config.idempotency_ttl).await?;
        Ok(ctx.with_query_cache_ttl(config.query_cache_ttl))
    }

    pub fn with_query_cache_ttl(self: Arc<Self>, ttl: Duration) -> Arc<Self> {
        Arc::new(Self {
            query_cache_ttl: ttl,
            ..(*self).clone()
        })
    }

    pub async fn connect_url(
        url: &str,
        options: &StoreOptions,
        idempotency_ttl: Duration,
    ) -> Result<Arc<Self>> {
        let store = Store::connect(url, options).await?;
        Idempotency::spawn_purger(store.clone(), Duration::from_secs(600));
        Ok(Self::new(store, idempotency_ttl))
    }
}
