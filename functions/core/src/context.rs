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
}

impl Context {
    pub fn new(store: Store, idempotency_ttl: Duration) -> Arc<Self> {
        Arc::new(Self {
            store,
            idempotency: Idempotency::new(idempotency_ttl),
        })
    }

    /// Opens the database, applies migrations and starts purging expired idempotency keys.
    pub async fn connect(config: &FunctionConfig) -> Result<Arc<Self>> {
        Self::connect_url(&config.database_url, &config.store, config.idempotency_ttl).await
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
