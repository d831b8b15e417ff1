use std::sync::Arc;
use std::time::Duration;

use crate::config::DatabaseConfig;
use crate::error::Result;
use crate::idempotency::Idempotency;
use crate::store::Store;

/// What a command or query handler works with. A function's own settings (the query cache,
/// say) live in that function's crate, not here.
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

    /// Opens the database and applies migrations. Purging expired idempotency keys is the
    /// caller's task ([`Idempotency::purge_every`]), so that the caller owns it.
    pub async fn connect(
        database: &DatabaseConfig,
        idempotency_ttl: Duration,
    ) -> Result<Arc<Self>> {
        Ok(Self::new(
            Store::connect_to(database).await?,
            idempotency_ttl,
        ))
    }
}
