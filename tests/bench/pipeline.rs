//! Pipeline benchmarks (run: `cargo bench --bench pipeline`; uses SQLite,
//! and the Kafka broker of tests/tools.sh for the second one):
//! 1. collect: 1,000 watched tickers against the fake Yahoo answering each request after
//!    100 ms, at several concurrencies — how long one tick takes.
//! 2. tick → e-mail: the local mesh on the tansu broker, time from POSTing a tick whose price
//!    crosses a threshold to the alert e-mail in the outbox; p50 and p99 over 40 crossings.
//! 3. `-- emails`: one tick crossing 1,000 watchers in the local mesh (in-process bus), notify
//!    at concurrency 1 and at its default.
//! 4. `-- emails-broker [watchers [concurrency]]`: one quote crossing 100,000 watchers → every e-mail,
//!    through the broker (see `emails_broker.rs`).

#[path = "emails_broker.rs"]
mod emails_broker;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tickermesh::up::{self, UpConfig};
use tickermesh_collect::{CollectConfig, Collector, MarketKind};
use tickermesh_core::config::{DatabaseConfig, ServiceConfig};
use tickermesh_core::events::ChannelBus;
use tickermesh_notify::{MailConfig, MailSettings, DEFAULT_MAIL_CONCURRENCY};
use tickermesh_query::QueryConfig;
use tickermesh_tests::access::{test_key, test_settings};
use tickermesh_tests::db::register;
use tickermesh_tests::yahoo::{recent_s, FakeYahoo, Reply};
use tickermesh_tests::{eventually, kafka, ping, Backend, TestDb, TestServer};

pub(crate) fn collect_config(yahoo: &FakeYahoo, concurrency: usize) -> CollectConfig {
    CollectConfig {
        market: MarketKind::Yahoo,
        yahoo_base_url: yahoo.base_url().parse().unwrap(),
        yahoo_timeout: Duration::from_secs(5),
        yahoo_rate_limit: std::num::NonZeroU32::new(10_000).unwrap(),
        concurrency,
        breaker_failures: 5,
        breaker_cooldown: Duration::from_secs(30),
        quotes_topic: "ticker-quotes".into(),
    }
}

async fn collect_1000() {
    let db = TestDb::new(Backend::Sqlite).await;
    let store = db.store().await;
    let yahoo = FakeYahoo::start().await;
    for i in 0..1000 {
        let t = format!("T{i:04}");
        register(&store, &format!("u{i}@example.com"), &t, None, Some(1000.0)).await;
        yahoo.set(
            &t,
            Reply::Price {
                price: 10.0,
                market_time_s: recent_s(),
            },
        );
    }
    yahoo.set_latency(Duration::from_millis(100));
    let default = CollectConfig::from_env().unwrap().concurrency;
    println!("collect: 1,000 tickers, 100 ms per Yahoo request (default concurrency {default})");
    for (round, concurrency) in [16, 64, default, 200].into_iter().enumerate() {
        let mut bus = ChannelBus::new();
        let _quotes = bus.topic("ticker-quotes", 10_000);
        let c = Collector::new(
            store.clone(),
            &collect_config(&yahoo, concurrency),
            Arc::new(bus),
        )
        .unwrap();
        // A new market time each round, so every quote is fresh and stored.
        for i in 0..1000 {
            yahoo.set(
                &format!("T{i:04}"),
                Reply::Price {
                    price: 10.0,
                    market_time_s: recent_s() + 10 + round as i64,
                },
            );
        }
        let started = Instant::now();
        let report = c.collect().await.unwrap();
        println!(
            "  concurrency {concurrency:>3}: {:.2} s (stored {}, published {})",
            started.elapsed().as_secs_f64(),
            report.stored,
            report.published
        );
    }
}

/// 1,000 watchers of one ticker crossed by one tick in `tickermesh up` (SQLite, in-process bus,
/// a real SMTP server on loopback): e-mails per second, end to end, with notify handling
/// `concurrency` alerts at once.
async fn one_tick_1000_emails(concurrency: usize) {
    let db = TestDb::new(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let yahoo = FakeYahoo::start().await;
    let smtp = tickermesh_tests::smtp::SmtpServer::start();
    let config = UpConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_owned(),
        service: ServiceConfig::new(DatabaseConfig::url(&db.url)),
        query: QueryConfig::default(),
        collect: collect_config(&yahoo, 8),
        collect_interval: Duration::from_secs(3600),
        alerts_topic: "threshold-alerts".into(),
        collect_requests_topic: "collect-requests".into(),
        mail: MailSettings {
            transport: MailConfig::Smtp {
                url: smtp.url().into(),
                credentials: None,
            },
            from: "tickermesh <alerts@example.com>".parse().unwrap(),
            retry: Default::default(),
            concurrency,
            lease: tickermesh_notify::DEFAULT_MAIL_LEASE,
        },
        kafka: None,
        access: test_settings(),
        signing: Some(test_key()),
        watch: Default::default(),
        retention: Default::default(),
        links: None,
    };
    let mesh = up::build(&config).await.unwrap();
    let server = TestServer::start(mesh.router.clone()).await;
    let store = db.store().await;
    for i in 0..1000 {
        register(
            &store,
            &format!("m{i}@example.com"),
            "MANY",
            None,
            Some(100.0),
        )
        .await;
    }
    let reply = Reply::Price {
        price: 150.0,
        market_time_s: recent_s(),
    };
    yahoo.set("MANY", reply);
    let started = Instant::now();
    ping(&format!("{}/collect", server.url())).await;
    eventually(Duration::from_secs(300), "1,000 e-mails", || async {
        (smtp.count() >= 1000).then_some(())
    })
    .await;
    let took = started.elapsed();
    println!(
        "one tick crossing 1,000 watchers in tickermesh up (SQLite, in-process bus, SMTP), \
         notify concurrency {concurrency}: 1,000 e-mails in {:.2} s = {:.0} e-mails/s",
        took.as_secs_f64(),
        1000.0 / took.as_secs_f64()
    );
}

async fn tick_to_email() {
    let db = TestDb::new(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let yahoo = FakeYahoo::start().await;
    let config = UpConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_owned(),
        service: ServiceConfig {
            idempotency_ttl: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(1),
            ..ServiceConfig::new(DatabaseConfig::url(&db.url))
        },
        query: QueryConfig {
            cache_ttl: Duration::ZERO,
        },
        collect: collect_config(&yahoo, 8),
        collect_interval: Duration::from_secs(3600),
        alerts_topic: kafka::topic("bench-alerts", 1).await,
        collect_requests_topic: "collect-requests".into(),
        mail: MailSettings {
            transport: MailConfig::Outbox(dir.path().join("outbox")),
            from: "tickermesh <alerts@example.com>".parse().unwrap(),
            retry: Default::default(),
            concurrency: DEFAULT_MAIL_CONCURRENCY,
            lease: tickermesh_notify::DEFAULT_MAIL_LEASE,
        },
        kafka: Some(kafka::settings()),
        access: test_settings(),
        signing: Some(test_key()),
        watch: Default::default(),
        retention: Default::default(),
        links: None,
    };
    let mut config = config;
    config.collect.quotes_topic = kafka::topic("bench-quotes", 1).await;
    // The mesh's tasks run while `mesh` lives.
    let mesh = up::build(&config).await.unwrap();
    let server = TestServer::start(mesh.router.clone()).await;
    register(&db.store().await, "b@example.com", "LAT", None, Some(100.0)).await;
    let outbox = dir.path().join("outbox");
    let mails = || std::fs::read_dir(&outbox).map(|d| d.count()).unwrap_or(0);
    let store = db.store().await;
    let tick_url = format!("{}/collect", server.url());
    let mut latencies = Vec::new();
    let mut t = recent_s();
    for i in 0..41 {
        // Inside the band, evaluated (re-armed) before the next crossing.
        t += 1;
        yahoo.set(
            "LAT",
            Reply::Price {
                price: 90.0,
                market_time_s: t,
            },
        );
        ping(&tick_url).await;
        let pool = store.pool().clone();
        eventually(Duration::from_secs(30), "re-arm", || {
            let pool = pool.clone();
            async move {
                // The quote the ticker was last evaluated at: subscriptions are not written
                // by a quote that moves nobody.
                let seen: Option<i64> = sqlx::query_scalar(
                    "SELECT market_time_ms FROM quote_evaluations WHERE ticker = 'LAT'",
                )
                .fetch_optional(&pool)
                .await
                .unwrap();
                (seen == Some(t * 1000)).then_some(())
            }
        })
        .await;
        t += 1;
        yahoo.set(
            "LAT",
            Reply::Price {
                price: 110.0,
                market_time_s: t,
            },
        );
        let before = mails();
        let started = Instant::now();
        ping(&tick_url).await;
        eventually(Duration::from_secs(30), "the e-mail", || async {
            (mails() > before).then_some(())
        })
        .await;
        // The first crossing includes the consumer groups joining.
        if i > 0 {
            latencies.push(started.elapsed());
        }
    }
    latencies.sort();
    let p = |q: f64| {
        latencies[((q * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len()) - 1]
    };
    println!(
        "tick -> e-mail through tansu ({} crossings): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        p(0.5).as_secs_f64() * 1000.0,
        p(0.99).as_secs_f64() * 1000.0,
        latencies.last().unwrap().as_secs_f64() * 1000.0
    );
}

/// 10,000 watched tickers, 100 ms per request, a limit of 200 requests per second: one tick
/// takes about 50 s and no second holds more than 200 requests.
async fn collect_10000_rate_limited() {
    let db = TestDb::new(Backend::Sqlite).await;
    let store = db.store().await;
    let yahoo = FakeYahoo::start().await;
    for i in 0..10_000 {
        let t = format!("L{i:05}");
        register(&store, &format!("l{i}@example.com"), &t, None, Some(1000.0)).await;
        let reply = Reply::Price {
            price: 10.0,
            market_time_s: recent_s(),
        };
        yahoo.set(&t, reply);
    }
    yahoo.set_latency(Duration::from_millis(100));
    let mut config = collect_config(&yahoo, 100);
    config.yahoo_rate_limit = std::num::NonZeroU32::new(200).unwrap();
    let mut bus = ChannelBus::new();
    let _quotes = bus.topic("ticker-quotes", 20_000);
    let c = Collector::new(store.clone(), &config, Arc::new(bus)).unwrap();
    let started = Instant::now();
    let report = c.collect().await.unwrap();
    let took = started.elapsed();
    let arrivals = yahoo.arrivals();
    let busiest = (0..arrivals.len())
        .map(|i| {
            arrivals[i..]
                .iter()
                .take_while(|t| t.duration_since(arrivals[i]) < Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap_or(0);
    println!(
        "collect: 10,000 tickers, 100 ms per request, limit 200/s: {} quotes in {:.1} s; \
         busiest second {busiest} requests",
        report.quotes,
        took.as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    // `cargo test --all-targets` builds and starts benchmarks too; only `cargo bench` measures.
    if !std::env::args().any(|a| a == "--bench") {
        println!("benchmark: run it with `cargo bench --bench pipeline`");
        return;
    }
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "emails-broker") {
        let watchers = args.get(at + 1).and_then(|n| n.parse().ok());
        let only = args.get(at + 2).and_then(|c| c.parse().ok());
        emails_broker::run(watchers.unwrap_or(100_000), only).await;
        return;
    }
    let emails = || async {
        for concurrency in [1, DEFAULT_MAIL_CONCURRENCY] {
            one_tick_1000_emails(concurrency).await;
        }
    };
    if args.iter().any(|a| a == "emails") {
        emails().await;
        return;
    }
    collect_1000().await;
    collect_10000_rate_limited().await;
    emails().await;
    tick_to_email().await;
}
