//! `tickermesh up`: the whole system on one machine, SQLite in a local folder by default.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use secrecy::ExposeSecret;
use tickermesh_collect::{Collector, RequestHandler};
use tickermesh_core::access::{AccessSettings, CodeIssuer, UPKEEP_INTERVAL};
use tickermesh_core::config::KafkaSettings;
use tickermesh_core::events::collect_request::CollectRequests;
use tickermesh_core::events::{consume_channel, ChannelBus, Publisher};
use tickermesh_core::idempotency::{Idempotency, PURGE_INTERVAL};
use tickermesh_core::server::tasks::ServeError;
use tickermesh_core::server::{serve_with_tasks, Router, Tasks};
use tickermesh_core::Context;
use tickermesh_digest::{DigestConfig, Digester};
use tickermesh_evaluate::Evaluator;
use tickermesh_notify::{LinkSettings, MailConfig, Mailer, Notifier};
use tickermesh_retention::Retention;
use tokio::net::TcpListener;

pub use crate::config::UpConfig;

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
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error("cannot set up {part}: {reason}")]
    Setup { part: &'static str, reason: String },
}

/// How often `tickermesh up` deletes old quotes and alerts (the cluster: a PingSource).
pub const RETENTION_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);

/// How often `tickermesh up` mails the digests of quiet hours that ended (the cluster: a
/// PingSource).
pub const DIGEST_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// The local mesh, built: its router and the tasks behind it (the consumers, the ticker, the
/// idempotency purge). Dropping the tasks aborts them, so whoever serves the router holds them.
pub struct Mesh {
    pub router: Router,
    pub tasks: Tasks,
}

/// Opens the database, starts the pipeline (collect on an interval → in-process bus or Kafka
/// → evaluate → notify) and builds the router of the whole mesh: every gRPC function, a
/// manual tick on `POST /collect`, and one `/metrics`.
pub async fn build(config: &UpConfig) -> Result<Mesh, UpError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| UpError::DataDir {
        path: config.data_dir.clone(),
        source,
    })?;
    let service = &config.service;
    let ctx = Context::connect(service).await?;
    let mut tasks = Tasks::new();
    let purge = Idempotency::purge_every(ctx.store.clone(), PURGE_INTERVAL);
    tasks.spawn_until_stopped("the idempotency purge", purge);
    let retention = Arc::new(Retention::new(ctx.store.clone(), config.retention.clone()));
    let hourly = retention.clone().every(RETENTION_INTERVAL);
    tasks.spawn_until_stopped("the retention pass", hourly);
    let setup = |part: &'static str| move |reason: String| UpError::Setup { part, reason };

    let mailer = Mailer::new(&config.mail.transport).map_err(setup("e-mail"))?;
    let mail = &config.mail;
    let notifier = Notifier::new(ctx.store.clone(), mailer, mail.from.clone());
    let notifier = notifier.with_retry(mail.retry).with_lease(mail.lease);
    let key = match &config.signing {
        Some(key) => key.clone(),
        None => crate::keys::local_key(&config.data_dir).map_err(setup("the signing key"))?,
    };
    let links = match &config.links {
        Some(links) => links.clone(),
        None => local_links(config.addr).map_err(setup("the unsubscribe links"))?,
    };
    let notifier = notifier.with_access(key.clone(), Some(links));
    let notifier = Arc::new(notifier.with_concurrency(mail.concurrency));
    let store = ctx.store.clone();
    let alerts_topic = config.alerts_topic.clone();
    let evaluator = move |publisher: Arc<dyn Publisher>| {
        Arc::new(Evaluator::new(store.clone(), publisher, &alerts_topic))
    };
    // Collect requests on the bus (none on Kafka, where collect has a consumer group).
    let mut collect_requests = None;
    let publisher: Arc<dyn Publisher> = match &config.kafka {
        None => {
            let mut bus = ChannelBus::new();
            let quotes = bus.topic(&config.collect.quotes_topic, 1024);
            let alerts = bus.topic(&config.alerts_topic, 1024);
            collect_requests = Some(bus.topic(&config.collect_requests_topic, 1024));
            let bus = Arc::new(bus);
            // The bus keeps nothing across a stop or a crash: each consumer first takes up
            // what the tables say an earlier run left (alerts not yet handed on, alerts handed
            // on but never mailed), then what the bus brings.
            let started_ms = tickermesh_core::now_unix_ms();
            let topic = config.collect.quotes_topic.clone();
            let evaluator = evaluator(bus.clone());
            tasks.spawn_until_stopped("the evaluate consumer", async move {
                if let Err(e) = evaluator.publish_pending().await {
                    tracing::warn!(error = %e, "alerts left unpublished wait for the next quote");
                }
                consume_channel(topic, quotes, evaluator).await;
            });
            let topic = config.alerts_topic.clone();
            tasks.spawn_until_stopped("the notify consumer", async move {
                if let Err(e) = notifier.deliver_unhandled(started_ms).await {
                    tracing::warn!(error = %e, "alerts left undelivered could not be loaded");
                }
                consume_channel(topic, alerts, notifier).await;
            });
            bus
        }
        Some(kafka) => kafka_pipeline(kafka, config, evaluator, notifier, &mut tasks)?,
    };
    let collector = Arc::new(
        Collector::new(ctx.store.clone(), &config.collect, publisher.clone())
            .map_err(|e| setup("the collector")(e.to_string()))?,
    );
    let ticker = collector.clone();
    let every = config.collect_interval;
    tasks.spawn_until_stopped("the collector's ticker", async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            if let Err(e) = ticker.collect().await {
                tracing::warn!(error = %e, "tick failed; the next one retries");
            }
        }
    });
    // A ticker's first price: access and watch ask collect for it, through the bus or a
    // consumer group on Kafka.
    let topic = config.collect_requests_topic.clone();
    let requests = Arc::new(RequestHandler(collector.clone()));
    let name = "the collect request consumer";
    match collect_requests {
        Some(rx) => tasks.spawn_until_stopped(name, consume_channel(topic.clone(), rx, requests)),
        #[cfg(feature = "kafka")]
        None => {
            if let Some(kafka) = &config.kafka {
                kafka_consumer(&mut tasks, name, kafka, &topic, requests);
            }
        }
        #[cfg(not(feature = "kafka"))]
        None => {}
    }
    let first_prices = Arc::new(CollectRequests::new(publisher.clone(), &topic));

    // Digests of quiet hours that ended, once a minute, to notify on its alerts topic.
    let digest = DigestConfig {
        alerts_topic: config.alerts_topic.clone(),
        ..DigestConfig::default()
    };
    let digester = Arc::new(Digester::new(ctx.store.clone(), &digest, publisher.clone()));
    let digests = digester.clone().every(DIGEST_INTERVAL);
    tasks.spawn_until_stopped("the digest schedule", digests);

    // The codes' e-mails go where notify listens in this mesh: its alerts topic.
    let access = AccessSettings {
        topic: config.alerts_topic.clone(),
        ..config.access.clone()
    };
    let codes = Arc::new(CodeIssuer::new(&access, publisher.clone()));
    let upkeep = codes.clone().upkeep(ctx.store.clone(), UPKEEP_INTERVAL);
    tasks.spawn_until_stopped("the access code upkeep", upkeep);
    let unsubscribe = tickermesh_unsubscribe::routes(ctx.store.clone(), key.clone());
    let watch = config.watch;
    let router = crate::router_with(ctx, &config.query, codes, key, watch, Some(first_prices))
        .await
        .merge(unsubscribe)
        .merge(tickermesh_collect::tick_router("/collect", collector))
        .merge(tickermesh_digest::tick_router("/digest", digester))
        .merge(tickermesh_retention::tick_router("/retention", retention));
    Ok(Mesh { router, tasks })
}

/// The links of the local mesh's e-mails: to itself, unless `TICKERMESH_PUBLIC_URL` says
/// otherwise (an address that listens everywhere is written as loopback).
fn local_links(addr: SocketAddr) -> Result<LinkSettings, String> {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    Ok(LinkSettings {
        public_url: format!("http://{addr}").parse()?,
        mailto: None,
    })
}

/// Events through Kafka: one producer, and a consumer group per function on its topic.
fn kafka_pipeline(
    kafka: &KafkaSettings,
    config: &UpConfig,
    evaluator: impl Fn(Arc<dyn Publisher>) -> Arc<Evaluator>,
    notifier: Arc<Notifier>,
    tasks: &mut Tasks,
) -> Result<Arc<dyn Publisher>, UpError> {
    #[cfg(not(feature = "kafka"))]
    {
        let _ = (kafka, config, evaluator, notifier, tasks);
        Err(UpError::Setup {
            part: "Kafka",
            reason: "TICKERMESH_KAFKA_BROKERS is set but this build has no Kafka client; \
                     build with `--features kafka`"
                .into(),
        })
    }
    #[cfg(feature = "kafka")]
    {
        use tickermesh_core::kafka::KafkaPublisher;
        let publisher: Arc<dyn Publisher> =
            Arc::new(KafkaPublisher::new(kafka).map_err(|e| UpError::Setup {
                part: "Kafka",
                reason: e.to_string(),
            })?);
        let evaluate = evaluator(publisher.clone());
        let quotes = &config.collect.quotes_topic;
        kafka_consumer(tasks, "the evaluate consumer", kafka, quotes, evaluate);
        kafka_consumer(
            tasks,
            "the notify consumer",
            kafka,
            &config.alerts_topic,
            notifier,
        );
        Ok(publisher)
    }
}

/// A consumer group of the local mesh on `topic`, feeding `handler` until the mesh stops.
#[cfg(feature = "kafka")]
fn kafka_consumer<H: tickermesh_core::events::EventHandler>(
    tasks: &mut Tasks,
    name: &'static str,
    kafka: &KafkaSettings,
    topic: &str,
    handler: Arc<H>,
) {
    let (settings, topic) = (kafka.clone(), topic.to_owned());
    let stopping = tasks.stopping();
    tasks.spawn(name, async move {
        let group = format!("tickermesh-up-{}-{topic}", handler.name());
        tickermesh_core::kafka::consume(&settings, &group, &topic, handler, stopping)
            .await
            .map_err(Into::into)
    });
}

/// Binds the configured address, prints what runs where, and serves until `shutdown` — or
/// until one of the mesh's tasks stops, which is an error (exit code 1).
pub async fn run(
    config: UpConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), UpError> {
    let listener = TcpListener::bind(config.addr)
        .await
        .map_err(|source| UpError::Listen {
            addr: config.addr,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| UpError::Listen {
        addr: config.addr,
        source,
    })?;
    // The links in e-mails name the port actually bound (port 0 picks one).
    let config = UpConfig { addr, ..config };
    let mesh = build(&config).await?;
    print_banner(&config, addr);
    let result =
        serve_with_tasks(listener, mesh.router, shutdown, &config.service, mesh.tasks).await;
    println!("tickermesh stopped");
    Ok(result?)
}

fn print_banner(config: &UpConfig, addr: SocketAddr) {
    println!("tickermesh up: the local mesh on the embedded default");
    println!("  gRPC     http://{addr}");
    println!("           tickermesh.v1.UserCommands  RegisterUser (register), ConfirmEmail and RequestAccess (access),");
    println!("                                       UpdateUser (update), DeleteUser (delete),");
    println!("                                       AddWatch and RemoveWatch (watch)");
    println!("           tickermesh.v1.TickerQueries GetLatestValue, GetAverageValue, GetHistory, ListWatches,");
    println!("                                       ListAlerts (query)");
    println!("           grpc.health.v1.Health, server reflection");
    println!("  metrics  http://{addr}/metrics");
    println!("  unsubscribe links  http://{addr}/unsubscribe (unsubscribe)");
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
    println!(
        "  digest   every {}s, the alerts held in quiet hours; POST http://{addr}/digest runs it now",
        DIGEST_INTERVAL.as_secs()
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
        MailConfig::Smtp { url, .. } => {
            println!("  e-mail   SMTP {}", without_password(url.expose_secret()));
        }
    }
    let database = config.service.database.url.expose_secret();
    println!("  database {}", without_password(database));
    println!("try: tickerctl --endpoint http://{addr} register you@example.com AAPL --max 250");
    println!("Ctrl-C stops it.");
}

/// A URL fit to print: its password left out (by the URL parser, not by hand).
fn without_password(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) => {
            let _ = url.set_password(None);
            url.to_string()
        }
        Err(_) => "(a URL that does not parse; not shown)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::without_password;

    #[test]
    fn passwords_are_not_printed() {
        let shown = without_password("mysql://app:s3cret@db:3306/tickermesh");
        assert_eq!(shown, "mysql://app@db:3306/tickermesh");
        assert_eq!(without_password("mysql://root@db/x"), "mysql://root@db/x");
        assert_eq!(
            without_password("sqlite://.tickermesh/tickermesh.db?mode=rwc"),
            "sqlite://.tickermesh/tickermesh.db?mode=rwc"
        );
        assert!(!without_password("smtp://u:p%40ss@mail:587?tls=required").contains("p%40ss"));
    }
}
