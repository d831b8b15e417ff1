use std::time::Duration;

use tickermesh_core::config::{var, ConfigError};

/// The query function's own settings.
#[derive(Debug, Clone)]
pub struct QueryConfig {
    /// `TICKERMESH_QUERY_CACHE_MS` (default 1000): how long GetLatestValue may answer from
    /// memory (0: never). Bounds how stale an answer is.
    pub cache_ttl: Duration,
}

impl Default for QueryConfig {
    fn default() -> Self {
        Self {
            cache_ttl: Duration::from_millis(1000),
        }
    }
}

impl QueryConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let default = Self::default().cache_ttl.as_millis() as u64;
        Ok(Self {
            cache_ttl: Duration::from_millis(var("TICKERMESH_QUERY_CACHE_MS", default)?),
        })
    }
}
