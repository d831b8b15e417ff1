//! `tickermesh up`: the whole system on one machine, SQLite in a local folder by default.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use std::sync::Arc;

use tickermesh_collect::{CollectConfig, Collector};
use tickermesh_core::config::{self, ConfigError, KafkaSettings};
use tickermesh_core::events::{consume_channel, ChannelBus, Publisher, DEFAULT_ALERTS_TOPIC};
use tickermesh_core::server::Router;
use tickermesh_core::store::StoreOptions;
use tickermesh_core::Context;
use tickermesh_evaluate::Evaluator;
use tickermesh_notify::{MailConfig, MailSettings, Mailer, Notifier};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub struct UpConfig {
    /// `TICKERMESH_HOST` (default 127.0.0.1) and `TICKERMESH_PORT` (default 50051).
    pub addr: SocketAddr,
    /// `TICKERMESH_DATA_DIR` (default `.tickermesh`): the SQLite file and, later, the outbox.
    pub data_dir: PathBuf,
    /// `TICKERMESH_DATABASE_URL`; default a SQLite file in the data folder.
    pub database_url: String,
    pub store: StoreOptions,
    pub idempotency_ttl: Duration,
    pub shutdown_grace: Duration,
    /// `TICKERMESH_QUERY_CACHE_MS` (default 1000): how long GetLatestValue may answer from memory.
    pub query_cache_ttl: Duration,
    /// The collector's settings (`TICKERMESH_MARKET`, `TICKERMESH_YAHOO_*`, …).
    pub collect: CollectConfig,
    /// `TICKERMESH_COLLECT_INTERVAL_SECS` (default 60): time between ticks; the first is at start.
    pub collect_interval: Duration,
    /// `TICKERMESH_ALERTS_TOPIC`.
    pub alerts_topic: String,
    /// E-mail: an outbox folder in the data folder unless `TICKERMESH_SMTP_URL` is set.
    pub mail: MailSettings,
    /// `TICKERMESH_KAFKA_BROKERS` (and the other `TICKERMESH_KAFKA_*`): events go through this
    /// broker instead of the in-process bus (needs a build with `--features kafka`).
    pub kafka: Option<KafkaSettings>,
}

impl UpConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let host: IpAddr = config::var("TICKERMESH_HOST", IpAddr::V4(Ipv4Addr::LOCALHOST))?;
        let port: u16 = config::var("TICKERMESH_PORT", 50051)?;
        let data_dir: PathBuf = config::var("TICKERMESH_DATA_DIR", PathBuf::from(".tickermesh"))?;
        let database_url =
            config::var_opt("TICKERMESH_DATABASE_URL")?.unwrap_or_else(|| sqlite_url(&data_dir));
        Ok(Self {
            addr: SocketAddr::new(host, port),
            database_url,
            store: StoreOptions::default(),
            idempotency_ttl: Duration::from_secs(config::var(
                "TICKERMESH_IDEMPOTENCY_TTL_SECS",
                86_400,
            )?),
            shutdown_grace: Duration::from_secs(config::var("TICKERMESH_SHUTDOWN_GRACE_SECS", 5)?),
            query_cache_ttl: Duration::from_millis(config::var("TICKERMESH_QUERY_CACHE_MS", 1000)?),
            collect: CollectConfig::from_env()?,
            collect_interval: Duration::from_secs(config::var(
                "TICKERMESH_COLLECT_INTERVAL_SECS",
                60,
            )?)
            .max(Duration::from_secs(1)),
            alerts_topic: config::var("TICKERMESH_ALERTS_TOPIC", DEFAULT_ALERTS_TOPIC.to_owned())?,
            mail: MailSettings::from_env(Some(data_dir.join("outbox")))?,
            kafka: KafkaSettings::from_env()?,
            data_dir,
        })
    }

    /// Moves the data folder; the default SQLite file moves with it unless
    /// `TICKERMESH_DATABASE_URL` names another database.
    pub fn use_data_dir(&mut self, dir: Option<PathBuf>) {
        let Some(dir) = dir else { return };
        if std::env::var_os("TICKERMESH_DATABASE_URL").is_none() {
            self.database_url = sqlite_url(&dir);
        }
        if let (MailConfig::Outbox(_), None) = (
            &self.mail.transport,
            std::env::var_os("TICKERMESH_MAIL_OUTBOX"),
        ) {
            self.mail.transport = MailConfig::Outbox(dir.join("outbox"));
        }
        self.data_dir = dir;
    }
}

/// The embedded default database: a SQLite file in the data folder.
pub fn sqlite_url(data_dir: &std::path::Path) -> String {
    format!(
        "sqlite://{}?mode=rwc",
        data_dir.join("tickermesh.db").display()
    )
}

#[derive(Debug, thiserror::Error)]
pub enum UpError {
    #[error("cannot create the data folder {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the database: {0}")]
    Database(#[from] tickermesh_core::Error),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("server failed: {0}")]
    Serve(std::io::Error),
    #[error("cannot set up {part}: {reason}")]
    Setup { part: &'static str, reason: String },
}

/// Opens the database, starts the pipeline (collect on an interval → in-process bus →
/// evaluate → notify) and returns the router of the whole mesh: every gRPC function, a manual
/// tick on `POST /collect`, and one `/metrics`. The pipeline's tasks run until the process
/// ends.
pub async fn build(config: &UpConfig) -> Result<Router, UpError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| UpError::DataDir {
        path: config.data_dir.clone(),
        source,
    })?;
    let ctx = Context::connect_url(&config.database_url, &config.store, config.idempotency_ttl)
        .await?
        .with_query_cache_ttl(config.query_cache_ttl);
    let setup = |part: &'static str| move |reason: String| UpError::Setup { part, reason };

    let mailer = Mailer::new(&config.mail.transport).map_err(setup("e-mail"))?;
    let notifier = Arc::new(Notifier::new(
        ctx.store.clone(),
        mailer,
        config.mail.from.clone(),
    ));
    let store = ctx.store.clone();
    let alerts_topic = config.alerts_topic.clone();
    let evaluator = move |publisher: Arc<dyn Publisher>| {
        Arc::new(Evaluator::new(store.clone(), publisher, &alerts_topic))
    };
    let publisher: Arc<dyn Publisher> = match &config.kafka {
        None => {
            let mut bus = ChannelBus::new();
            let quotes = bus.topic(&config.collect.quotes_topic, 1024);
            let alerts = bus.topic(&config.alerts_topic, 1024);
            let bus = Arc::new(bus);
            tokio::spawn(consume_channel(
                config.collect.quotes_topic.clone(),
                quotes,
                evaluator(bus.clone()),
            ));
            tokio::spawn(consume_channel(
                config.alerts_topic.clone(),
                alerts,
                notifier,
            ));
            bus
        }
        Some(kafka) => kafka_pipeline(kafka, config, evaluator, notifier)?,
    };
    let collector = Arc::new(
        Collector::new(ctx.store.clone(), &config.collect, publisher)
            .map_err(|e| setup("the collector")(e.to_string()))?,
    );
    let ticker = collector.clone();
    let every = config.collect_interval;
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            if let Err(e) = ticker.collect().await {
                tracing::warn!(error = %e, "tick failed; the next one retries");
            }
        }
    });

    Ok(crate::router(ctx)
        .await
        .merge(tickermesh_collect::tick_router("/collect", collector)))
}

/// Events through Kafka: one producer, and a consumer group per function on its topic.
#[cfg(feature = "kafka")]
fn kafka_pipeline(
    kafka: &KafkaSettings,
    config: &UpConfig,
    evaluator: impl Fn(Arc<dyn Publisher>) -> Arc<Evaluator>,
    notifier: Arc<Notifier>,
) -> Result<Arc<dyn Publisher>, UpError> {
    use tickermesh_core::kafka::{consume, KafkaPublisher};
    let publisher: Arc<dyn Publisher> =
        Arc::new(KafkaPublisher::new(kafka).map_err(|e| UpError::Setup {
            part: "Kafka",
            reason: e.to_string(),
        })?);
    let evaluator = evaluator(publisher.clone());
    let (settings, topic) = (kafka.clone(), config.collect.quotes_topic.clone());
    tokio::spawn(async move {
        let group = format!("tickermesh-up-evaluate-{topic}");
        if let Err(e) = consume(&settings, &group, &topic, evaluator, std::future::pending()).await
        {
            tracing::error!(error = %e, "the evaluate consumer stopped");
        }
    });
    let (settings, topic) = (kafka.clone(), config.alerts_topic.clone());
    tokio::spawn(async move {
        let group = format!("tickermesh-up-notify-{topic}");
        if let Err(e) = consume(&settings, &group, &topic, notifier, std::future::pending()).await {
            tracing::error!(error = %e, "the notify consumer stopped");
        }
    });
    Ok(publisher)
}

#[cfg(not(feature = "kafka"))]
fn kafka_pipeline(
    _kafka: &KafkaSettings,
    _config: &UpConfig,
    _evaluator: impl Fn(Arc<dyn Publisher>) -> Arc<Evaluator>,
    _notifier: Arc<Notifier>,
) -> Result<Arc<dyn Publisher>, UpError> {
    Err(UpError::Setup {
        part: "Kafka",
        reason: "TICKERMESH_KAFKA_BROKERS is set but this build has no Kafka client; \
                 build with `--features kafka`"
            .into(),
    })
}

/// Binds the configured address, prints what runs where, and serves until `shutdown`.
pub async fn run(
    config: UpConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), UpError> {
    let app = build(&config).await?;
    let listener = TcpListener::bind(config.addr)
        .await
        .map_err(|source| UpError::Listen {
            addr: config.addr,
            source,
        })?;
    let addr = listener.local_addr().map_err(UpError::Serve)?;
    print_banner(&config, addr);
    let result = tickermesh_core::server::serve(listener, app, shutdown, config.shutdown_grace)
        .await
        .map_err(UpError::Serve);
    println!("tickermesh stopped");
    result
}

fn print_banner(config: &UpConfig, addr: SocketAddr) {
    println!("tickermesh up: the local mesh on the embedded default");
    println!("  gRPC     http://{addr}");
    println!("           tickermesh.v1.UserCommands  RegisterUser (register), UpdateUser (update), DeleteUser (delete)");
    println!("           tickermesh.v1.TickerQueries GetLatestValue, GetAverageValue, GetHistory (query)");
    println!("           grpc.health.v1.Health, server reflection");
    println!("  metrics  http://{addr}/metrics");
    let market = match config.collect.market {
        tickermesh_collect::MarketKind::Sim => {
            "the simulated market (TICKERMESH_MARKET=sim)".to_owned()
        }
        tickermesh_collect::MarketKind::Yahoo => {
            format!("Yahoo Finance at {}", config.collect.yahoo_base_url)
        }
    };
    println!(
        "  collect  every {}s from {market}; POST http://{addr}/collect ticks now",
        config.collect_interval.as_secs()
    );
    let bus = match &config.kafka {
        Some(kafka) => format!("Kafka at {}", kafka.brokers),
        None => "in-process bus".to_owned(),
    };
    println!(
        "  events   {bus}: {} -> evaluate -> {} -> notify",
        config.collect.quotes_topic, config.alerts_topic
    );
    match &config.mail.transport {
        MailConfig::Outbox(dir) => println!("  e-mail   .eml files in {}", dir.display()),
        MailConfig::Smtp { url, .. } => println!("  e-mail   SMTP {}", redact(url)),
    }
    println!("  database {}", redact(&config.database_url));
    println!("try: tickerctl --endpoint http://{addr} register you@example.com AAPL --max 250");
    println!("Ctrl-C stops it.");
}

/// Hides a password in a database URL before it is printed.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_not_printed() {
        assert_eq!(
            redact("mysql://app:s3cret@db:3306/tickermesh"),
            "mysql://app:***@db:3306/tickermesh"
        );
        assert_eq!(redact("mysql://root@db/x"), "mysql://root@db/x");
        assert_eq!(redact("sqlite://a.db?mode=rwc"), "sqlite://a.db?mode=rwc");
    }
}
