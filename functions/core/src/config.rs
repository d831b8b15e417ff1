//! Typed configuration from `TICKERMESH_*` environment variables. A bad value is an error that
//! names the variable; binaries print it and exit non-zero.

use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

use crate::store::StoreOptions;

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {var}: {reason}")]
pub struct ConfigError {
    pub var: String,
    pub reason: String,
}

/// Reads `name`, or `default` when it is unset or empty.
pub fn var<T>(name: &str, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    Ok(var_opt(name)?.unwrap_or(default))
}

pub fn var_opt<T>(name: &str) -> Result<Option<T>, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    match std::env::var(name) {
        Ok(raw) if raw.trim().is_empty() => Ok(None),
        Ok(raw) => raw.trim().parse().map(Some).map_err(|e| ConfigError {
            var: name.to_owned(),
            reason: format!("{e} (got {raw:?})"),
        }),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(ConfigError {
            var: name.to_owned(),
            reason: "is not valid UTF-8".into(),
        }),
    }
}

fn positive<T: PartialOrd + Default + Display>(name: &str, value: T) -> Result<T, ConfigError> {
    if value <= T::default() {
        return Err(ConfigError {
            var: name.to_owned(),
            reason: format!("must be greater than 0 (got {value})"),
        });
    }
    Ok(value)
}

/// The embedded default: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://tickermesh.db?mode=rwc";

/// Everything a gRPC function needs: where to listen and which database to use.
#[derive(Debug, Clone)]
pub struct FunctionConfig {
    /// `PORT`, as Knative sets it.
    pub port: u16,
    /// `TICKERMESH_DATABASE_URL`: `mysql://…` or `sqlite://…`.
    pub database_url: String,
    /// `TICKERMESH_DB_MAX_CONNECTIONS` and `TICKERMESH_DB_ACQUIRE_TIMEOUT_MS`.
    pub store: StoreOptions,
    /// `TICKERMESH_IDEMPOTENCY_TTL_SECS`: how long a command's key is remembered.
    pub idempotency_ttl: Duration,
    /// `TICKERMESH_SHUTDOWN_GRACE_SECS`: how long open requests may finish after SIGTERM.
    pub shutdown_grace: Duration,
    /// `TICKERMESH_QUERY_CACHE_MS`: how long GetLatestValue may answer from memory (0: never).
    pub query_cache_ttl: Duration,
}

impl FunctionConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let store = StoreOptions {
            max_connections: positive(
                "TICKERMESH_DB_MAX_CONNECTIONS",
                var("TICKERMESH_DB_MAX_CONNECTIONS", 16u32)?,
            )?,
            acquire_timeout: Duration::from_millis(positive(
                "TICKERMESH_DB_ACQUIRE_TIMEOUT_MS",
                var("TICKERMESH_DB_ACQUIRE_TIMEOUT_MS", 3000u64)?,
            )?),
        };
        Ok(Self {
            port: var("PORT", 8080u16)?,
            database_url: var("TICKERMESH_DATABASE_URL", DEFAULT_DATABASE_URL.to_owned())?,
            store,
            idempotency_ttl: Duration::from_secs(positive(
                "TICKERMESH_IDEMPOTENCY_TTL_SECS",
                var("TICKERMESH_IDEMPOTENCY_TTL_SECS", 86_400u64)?,
            )?),
            shutdown_grace: Duration::from_secs(var("TICKERMESH_SHUTDOWN_GRACE_SECS", 10u64)?),
            query_cache_ttl: Duration::from_millis(var("TICKERMESH_QUERY_CACHE_MS", 1000u64)?),
        })
    }
}

/// Connection settings shared by producers and consumers.
#[derive(Debug, Clone)]
pub struct KafkaSettings {
    /// `TICKERMESH_KAFKA_BROKERS`: `host:port[,host:port…]`.
    pub brokers: String,
    /// Extra librdkafka properties from `TICKERMESH_KAFKA_SECURITY_PROTOCOL`,
    /// `TICKERMESH_KAFKA_SASL_MECHANISM`, `TICKERMESH_KAFKA_SASL_USERNAME`,
    /// `TICKERMESH_KAFKA_SASL_PASSWORD` (from a Secret), and consumer tuning
    /// (`TICKERMESH_KAFKA_SESSION_TIMEOUT_MS`, `TICKERMESH_KAFKA_FETCH_WAIT_MS`).
    pub properties: Vec<(String, String)>,
    /// `TICKERMESH_KAFKA_LAG_INTERVAL_MS` (default 5000): how often a consumer measures its lag.
    pub lag_interval: std::time::Duration,
}

impl KafkaSettings {
    /// `None` when `TICKERMESH_KAFKA_BROKERS` is unset.
    pub fn from_env() -> Result<Option<Self>, ConfigError> {
        let Some(brokers) = var_opt::<String>("TICKERMESH_KAFKA_BROKERS")? else {
            return Ok(None);
        };
        let mut properties = Vec::new();
        for (env, key) in [
            ("TICKERMESH_KAFKA_SECURITY_PROTOCOL", "security.protocol"),
            ("TICKERMESH_KAFKA_SASL_MECHANISM", "sasl.mechanism"),
            ("TICKERMESH_KAFKA_SASL_USERNAME", "sasl.username"),
            ("TICKERMESH_KAFKA_SASL_PASSWORD", "sasl.password"),
        ] {
            if let Some(value) = var_opt::<String>(env)? {
                properties.push((key.to_owned(), value));
            }
        }
        let session: u32 = var("TICKERMESH_KAFKA_SESSION_TIMEOUT_MS", 45_000)?;
        let fetch_wait: u32 = var("TICKERMESH_KAFKA_FETCH_WAIT_MS", 500)?;
        properties.push(("session.timeout.ms".into(), session.to_string()));
        properties.push(("fetch.wait.max.ms".into(), fetch_wait.to_string()));
        let lag_interval_ms: u64 = var("TICKERMESH_KAFKA_LAG_INTERVAL_MS", 5_000)?;
        Ok(Some(Self {
            brokers,
            properties,
            lag_interval: std::time::Duration::from_millis(lag_interval_ms.max(100)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_name_the_variable() {
        // Variables unique to this test, so parallel tests do not see them.
        std::env::set_var("TICKERMESH_TEST_CONFIG_NUMBER", "eleven");
        let err = var::<u16>("TICKERMESH_TEST_CONFIG_NUMBER", 1).unwrap_err();
        assert_eq!(err.var, "TICKERMESH_TEST_CONFIG_NUMBER");
        assert!(err.to_string().contains("TICKERMESH_TEST_CONFIG_NUMBER"));

        std::env::set_var("TICKERMESH_TEST_CONFIG_EMPTY", " ");
        assert_eq!(var("TICKERMESH_TEST_CONFIG_EMPTY", 7u16).unwrap(), 7);
        assert!(positive("X", 0u32).is_err());
    }
}
