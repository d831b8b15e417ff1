//! Typed configuration from `TICKERMESH_*` environment variables. A bad value is an error that
//! names the variable; binaries print it and exit non-zero.

use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

use secrecy::SecretString;

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

/// Reads `name` like [`var`]; 0 or less is refused.
pub fn positive_var<T>(name: &str, default: T) -> Result<T, ConfigError>
where
    T: FromStr + PartialOrd + Default + Display,
    T::Err: Display,
{
    positive(name, var(name, default)?)
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

/// A secret from the environment (a password, a URL that may hold one): never printed, never
/// in a `Debug` output.
pub fn secret_opt(name: &str) -> Result<Option<SecretString>, ConfigError> {
    Ok(var_opt::<String>(name)?.map(SecretString::from))
}

/// Where the data lives.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// `TICKERMESH_DATABASE_URL`: `mysql://…` or `sqlite://…`; it may carry a password.
    pub url: SecretString,
    /// `TICKERMESH_DB_MAX_CONNECTIONS` and `TICKERMESH_DB_ACQUIRE_TIMEOUT_MS`.
    pub store: StoreOptions,
}

impl DatabaseConfig {
    pub fn from_env(default_url: &str) -> Result<Self, ConfigError> {
        Ok(Self {
            url: secret_opt("TICKERMESH_DATABASE_URL")?
                .unwrap_or_else(|| SecretString::from(default_url)),
            store: StoreOptions {
                max_connections: positive_var("TICKERMESH_DB_MAX_CONNECTIONS", 16u32)?,
                acquire_timeout: Duration::from_millis(positive_var(
                    "TICKERMESH_DB_ACQUIRE_TIMEOUT_MS",
                    3000u64,
                )?),
            },
        })
    }

    /// A database given by its URL, with the default pool.
    pub fn url(url: &str) -> Self {
        Self {
            url: SecretString::from(url),
            store: StoreOptions::default(),
        }
    }
}

/// What every tickermesh server reads the same way, the function containers and
/// `tickermesh up` alike (only the defaults differ).
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub database: DatabaseConfig,
    /// `TICKERMESH_IDEMPOTENCY_TTL_SECS`: how long a command's key is remembered.
    pub idempotency_ttl: Duration,
    /// `TICKERMESH_SHUTDOWN_GRACE_SECS`: how long open requests may finish after SIGTERM.
    pub shutdown_grace: Duration,
    /// `TICKERMESH_REQUEST_TIMEOUT_MS` (default 5000): the most one call may take, so that a
    /// database that stops answering makes calls fail (UNAVAILABLE) instead of hang.
    pub request_timeout: Duration,
    /// `TICKERMESH_HTTP_*`: what the server bears from a client.
    pub http: HttpLimits,
}

impl ServiceConfig {
    /// The defaults over `database`: what a binary reads when no variable is set.
    pub fn new(database: DatabaseConfig) -> Self {
        Self {
            database,
            idempotency_ttl: Duration::from_secs(86_400),
            shutdown_grace: Duration::from_secs(10),
            request_timeout: crate::context::DEFAULT_REQUEST_TIMEOUT,
            http: HttpLimits::default(),
        }
    }

    pub fn from_env(
        default_database_url: &str,
        default_grace: Duration,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            database: DatabaseConfig::from_env(default_database_url)?,
            idempotency_ttl: Duration::from_secs(positive_var(
                "TICKERMESH_IDEMPOTENCY_TTL_SECS",
                86_400u64,
            )?),
            shutdown_grace: Duration::from_secs(var(
                "TICKERMESH_SHUTDOWN_GRACE_SECS",
                default_grace.as_secs(),
            )?),
            request_timeout: Duration::from_millis(positive_var(
                "TICKERMESH_REQUEST_TIMEOUT_MS",
                crate::context::DEFAULT_REQUEST_TIMEOUT.as_millis() as u64,
            )?),
            http: HttpLimits::from_env()?,
        })
    }
}

/// What the server of every binary bears from a client on its one port (gRPC and plain HTTP
/// alike), so that no client — slow, idle, flooding or sending a huge body — can exhaust its
/// memory or its file descriptors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// `TICKERMESH_HTTP_BODY_LIMIT_BYTES` (1 MiB): the largest request body; above it, 413
    /// (whether the size is declared or the body is chunked).
    pub body_limit: usize,
    /// `TICKERMESH_HTTP_HEADER_TIMEOUT_MS` (10 s): time to send a request head over HTTP/1.1,
    /// and for a new connection to begin its first request; an HTTP/1.1 keep-alive connection
    /// is closed when its next request does not come within it either.
    pub header_timeout: Duration,
    /// `TICKERMESH_HTTP_IDLE_TIMEOUT_MS` (60 s): a connection with no request in flight for
    /// this long is closed (HTTP/2: GOAWAY).
    pub idle_timeout: Duration,
    /// `TICKERMESH_HTTP_MAX_CONNECTIONS`: connections open at once; past it a new one is closed
    /// as soon as it is accepted. Default 1024, lowered to leave 128 descriptors spare when
    /// the open-file limit is lower.
    pub max_connections: usize,
    /// `TICKERMESH_HTTP2_MAX_STREAMS` (100): requests in flight at once on one HTTP/2
    /// connection.
    pub max_streams: u32,
    /// `TICKERMESH_HTTP2_KEEPALIVE_MS` (20 s): how often an HTTP/2 peer is pinged; one that does
    /// not answer within the same time is dropped.
    pub keepalive: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            body_limit: 1024 * 1024,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: default_max_connections(),
            max_streams: 100,
            keepalive: Duration::from_secs(20),
        }
    }
}

/// 1024, or fewer when the open-file limit would run out first: the database pool, the files
/// and the connections refused at the cap need descriptors too.
fn default_max_connections() -> usize {
    const CAP: u64 = 1024;
    const SPARE: u64 = 128;
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    let cap = soft.map_or(CAP, |n| n.saturating_sub(SPARE).clamp(16, CAP));
    usize::try_from(cap).unwrap_or(1024)
}

impl HttpLimits {
    pub fn from_env() -> Result<Self, ConfigError> {
        let default = Self::default();
        let ms = |name: &str, default: Duration| -> Result<Duration, ConfigError> {
            let default = u64::try_from(default.as_millis()).unwrap_or(u64::MAX);
            Ok(Duration::from_millis(positive_var(name, default)?))
        };
        Ok(Self {
            body_limit: positive_var("TICKERMESH_HTTP_BODY_LIMIT_BYTES", default.body_limit)?,
            header_timeout: ms("TICKERMESH_HTTP_HEADER_TIMEOUT_MS", default.header_timeout)?,
            idle_timeout: ms("TICKERMESH_HTTP_IDLE_TIMEOUT_MS", default.idle_timeout)?,
            max_connections: positive_var(
                "TICKERMESH_HTTP_MAX_CONNECTIONS",
                default.max_connections,
            )?,
            max_streams: positive_var("TICKERMESH_HTTP2_MAX_STREAMS", default.max_streams)?,
            keepalive: ms("TICKERMESH_HTTP2_KEEPALIVE_MS", default.keepalive)?,
        })
    }
}

/// Everything a function container needs beyond its own settings.
#[derive(Debug, Clone)]
pub struct FunctionConfig {
    /// `PORT`, as Knative sets it.
    pub port: u16,
    pub service: ServiceConfig,
}

impl FunctionConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            port: var("PORT", 8080u16)?,
            service: ServiceConfig::from_env(DEFAULT_DATABASE_URL, Duration::from_secs(10))?,
        })
    }
}

/// Connection settings shared by producers and consumers.
#[derive(Debug, Clone)]
pub struct KafkaSettings {
    /// `TICKERMESH_KAFKA_BROKERS`: `host:port[,host:port…]`.
    pub brokers: String,
    /// Extra librdkafka properties from `TICKERMESH_KAFKA_SECURITY_PROTOCOL`,
    /// `TICKERMESH_KAFKA_SASL_MECHANISM`, `TICKERMESH_KAFKA_SASL_USERNAME`, and consumer
    /// tuning (`TICKERMESH_KAFKA_SESSION_TIMEOUT_MS`, `TICKERMESH_KAFKA_FETCH_WAIT_MS`).
    pub properties: Vec<(String, String)>,
    /// `TICKERMESH_KAFKA_SASL_PASSWORD` (from a Secret).
    pub sasl_password: Option<SecretString>,
    /// `TICKERMESH_KAFKA_LAG_INTERVAL_MS` (default 5000): how often a consumer measures its lag.
    pub lag_interval: Duration,
}

impl KafkaSettings {
    /// The settings of a broker at `brokers` with librdkafka's defaults.
    pub fn brokers(brokers: &str) -> Self {
        Self {
            brokers: brokers.to_owned(),
            properties: Vec::new(),
            sasl_password: None,
            lag_interval: Duration::from_secs(5),
        }
    }

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
            sasl_password: secret_opt("TICKERMESH_KAFKA_SASL_PASSWORD")?,
            lag_interval: Duration::from_millis(lag_interval_ms.max(100)),
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
        assert!(positive_var("TICKERMESH_TEST_CONFIG_EMPTY", 0u32).is_err());
        assert_eq!(var("TICKERMESH_TEST_CONFIG_EMPTY", 7u16).unwrap(), 7);
        assert!(positive("X", 0u32).is_err());
    }

    #[test]
    fn http_limits_have_sane_defaults() {
        let limits = HttpLimits::default();
        assert_eq!(limits.body_limit, 1024 * 1024);
        assert!((16..=1024).contains(&limits.max_connections));
        assert!(limits.header_timeout < limits.idle_timeout);
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let database = DatabaseConfig::url("mysql://app:s3cret-pw@db:3306/tickermesh");
        let mut kafka = KafkaSettings::brokers("b:9092");
        kafka.sasl_password = Some("kafka-pw".into());
        let shown = format!("{database:?} {kafka:?}");
        assert!(
            !shown.contains("s3cret-pw") && !shown.contains("kafka-pw"),
            "{shown}"
        );
    }
}
