//! The settings of `tickermesh up`: the same typed settings the function containers read (the
//! database, idempotency, shutdown, each function's own), with the local mesh's defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tickermesh_collect::CollectConfig;
use tickermesh_core::access::AccessSettings;
use tickermesh_core::config::{self, ConfigError, KafkaSettings, ServiceConfig};
use tickermesh_core::events::collect_request::collect_requests_topic;
use tickermesh_core::events::DEFAULT_ALERTS_TOPIC;
use tickermesh_core::signing::{SigningKey, SIGNING_KEY_VAR};
use tickermesh_notify::{LinkSettings, MailSettings};
use tickermesh_query::QueryConfig;
use tickermesh_retention::RetentionConfig;
use tickermesh_watch::WatchConfig;

#[derive(Debug, Clone)]
pub struct UpConfig {
    /// `--host`/`TICKERMESH_HOST` and `--port`/`TICKERMESH_PORT`.
    pub addr: SocketAddr,
    /// `--data-dir`/`TICKERMESH_DATA_DIR`: the SQLite file and the e-mail outbox.
    pub data_dir: PathBuf,
    /// The database (default: a SQLite file in the data folder), idempotency and shutdown.
    pub service: ServiceConfig,
    /// The query function's settings (`TICKERMESH_QUERY_CACHE_MS`).
    pub query: QueryConfig,
    /// The collector's settings (`TICKERMESH_MARKET`, `TICKERMESH_YAHOO_*`, …).
    pub collect: CollectConfig,
    /// `TICKERMESH_COLLECT_INTERVAL_SECS` (default 60): time between ticks; the first is at start.
    pub collect_interval: Duration,
    /// `TICKERMESH_ALERTS_TOPIC`.
    pub alerts_topic: String,
    /// `TICKERMESH_COLLECT_REQUESTS_TOPIC`: access and watch ask collect for first prices.
    pub collect_requests_topic: String,
    /// E-mail: an outbox folder in the data folder unless `TICKERMESH_SMTP_URL` is set.
    pub mail: MailSettings,
    /// `TICKERMESH_KAFKA_BROKERS` (and the other `TICKERMESH_KAFKA_*`): events go through this
    /// broker instead of the in-process bus (needs a build with `--features kafka`).
    pub kafka: Option<KafkaSettings>,
    /// Access codes and per-client limits (`TICKERMESH_ACCESS_*`, `TICKERMESH_CLIENT_*`).
    pub access: AccessSettings,
    /// `TICKERMESH_SIGNING_KEY`; unset: a key kept in the data folder ([`crate::keys`]).
    pub signing: Option<SigningKey>,
    /// The watch function's settings (`TICKERMESH_MAX_WATCHES`).
    pub watch: WatchConfig,
    /// Retention (`TICKERMESH_QUOTE_RETENTION`, `TICKERMESH_ALERT_RETENTION`,
    /// `TICKERMESH_RETENTION_BATCH`), run hourly.
    pub retention: RetentionConfig,
    /// `TICKERMESH_PUBLIC_URL` (and `TICKERMESH_UNSUBSCRIBE_MAILTO`): the base of the links in
    /// e-mails; unset: the mesh's own address.
    pub links: Option<LinkSettings>,
}

/// How long `tickermesh up` lets open requests finish on Ctrl-C, unless configured.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

impl UpConfig {
    /// The mesh on `addr` with its data in `data_dir` (both from flags or their variables),
    /// the rest from `TICKERMESH_*`.
    pub fn from_env(addr: SocketAddr, data_dir: PathBuf) -> Result<Self, ConfigError> {
        Ok(Self {
            addr,
            service: ServiceConfig::from_env(&sqlite_url(&data_dir), DEFAULT_GRACE)?,
            query: QueryConfig::from_env()?,
            collect: CollectConfig::from_env()?,
            collect_interval: Duration::from_secs(config::positive_var(
                "TICKERMESH_COLLECT_INTERVAL_SECS",
                60,
            )?),
            alerts_topic: config::var("TICKERMESH_ALERTS_TOPIC", DEFAULT_ALERTS_TOPIC.to_owned())?,
            collect_requests_topic: collect_requests_topic()?,
            mail: MailSettings::from_env(Some(data_dir.join("outbox")))?,
            kafka: KafkaSettings::from_env()?,
            access: AccessSettings::from_env()?,
            watch: WatchConfig::from_env()?,
            retention: RetentionConfig::from_env()?,
            links: LinkSettings::from_env()?,
            signing: match std::env::var_os(SIGNING_KEY_VAR) {
                Some(v) if !v.is_empty() => Some(SigningKey::from_env()?),
                _ => None,
            },
            data_dir,
        })
    }
}

/// The embedded default database: a SQLite file in the data folder.
pub fn sqlite_url(data_dir: &Path) -> String {
    format!(
        "sqlite://{}?mode=rwc",
        data_dir.join("tickermesh.db").display()
    )
}
