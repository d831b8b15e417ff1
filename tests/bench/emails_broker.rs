//! `cargo bench --bench pipeline -- emails-broker [watchers [concurrency]]`: one quote crossing `watchers`
//! (default 100,000) watchers of one ticker → every e-mail accepted by the test suite's SMTP
//! server, through the broker: the local mesh (`tickermesh up` built with Kafka) on MariaDB,
//! the quotes and alerts topics with 3 partitions each, notify at concurrency 1 (before), at
//! 8, at its default (after) and at twice the default, in the same run.

use std::time::{Duration, Instant};

use tickermesh::up::{self, UpConfig};
use tickermesh_core::config::{DatabaseConfig, ServiceConfig};
use tickermesh_core::store::Store;
use tickermesh_notify::{MailConfig, MailSettings, DEFAULT_MAIL_CONCURRENCY};
use tickermesh_query::QueryConfig;
use tickermesh_tests::access::{test_key, test_settings};
use tickermesh_tests::smtp::SmtpServer;
use tickermesh_tests::yahoo::{recent_s, FakeYahoo, Reply};
use tickermesh_tests::{kafka, ping, Backend, TestDb, TestServer};

/// `n` confirmed users watching `MANY` below 150, inserted in bulk (registering one at a time
/// would take longer than what is measured).
async fn watchers(store: &Store, n: usize) {
    let now = tickermesh_core::now_unix_ms();
    for start in (0..n).step_by(1_000) {
        let end = (start + 1_000).min(n);
        let users: Vec<String> = (start..end)
            .map(|i| format!("('w{i}@example.com', {now}, {now}, {now})"))
            .collect();
        let sql = format!(
            "INSERT INTO users (email, created_at_ms, updated_at_ms, confirmed_at_ms) VALUES {}",
            users.join(", ")
        );
        sqlx::query(&sql).execute(store.pool()).await.unwrap();
    }
    let sql = format!(
        "INSERT INTO subscriptions (user_id, ticker, min_price, max_price, created_at_ms, \
         updated_at_ms) SELECT id, 'MANY', NULL, 150, {now}, {now} FROM users"
    );
    sqlx::query(&sql).execute(store.pool()).await.unwrap();
}

async fn count(store: &Store, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

/// One round: a fresh database, topics and SMTP server; prints when the alerts were stored,
/// when the first and the last e-mail were accepted, and the rate between them.
async fn round(n: usize, concurrency: usize) {
    let db = TestDb::new(Backend::MariaDb).await;
    let store = db.store().await;
    watchers(&store, n).await;
    let dir = tempfile::tempdir().unwrap();
    let yahoo = FakeYahoo::start().await;
    let smtp = SmtpServer::start();
    let mut config = UpConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_owned(),
        service: ServiceConfig::new(DatabaseConfig::url(&db.url)),
        query: QueryConfig::default(),
        collect: super::collect_config(&yahoo, 8),
        collect_interval: Duration::from_secs(3600),
        // As the cluster's topics (minikube/kafka.yaml): 3 partitions.
        alerts_topic: kafka::topic("bench-alerts", 3).await,
        collect_requests_topic: kafka::topic("bench-requests", 1).await,
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
        kafka: Some(kafka::settings()),
        access: test_settings(),
        signing: Some(test_key()),
        watch: Default::default(),
        retention: Default::default(),
        links: None,
    };
    config.collect.quotes_topic = kafka::topic("bench-quotes", 3).await;
    let mesh = up::build(&config).await.unwrap();
    let server = TestServer::start(mesh.router.clone()).await;
    let reply = Reply::Price {
        price: 200.0,
        market_time_s: recent_s(),
    };
    yahoo.set("MANY", reply);
    let started = Instant::now();
    ping(&format!("{}/collect", server.url())).await;
    let (mut stored_at, mut first_at) = (None, None);
    let deadline = Duration::from_secs(1800);
    while smtp.count() < n {
        assert!(
            started.elapsed() < deadline,
            "{n} e-mails within {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        if first_at.is_none() && smtp.count() > 0 {
            first_at = Some(started.elapsed());
        }
        if stored_at.is_none() && count(&store, "SELECT COUNT(*) FROM alerts").await >= n as i64 {
            stored_at = Some(started.elapsed());
        }
    }
    let last = started.elapsed().as_secs_f64();
    let first = first_at.map_or(0.0, |d| d.as_secs_f64());
    let rate = n as f64 / (last - first).max(0.001);
    let sent = count(
        &store,
        "SELECT COUNT(*) FROM sent_alerts WHERE outcome <> 'sending'",
    )
    .await;
    println!(
        "  notify concurrency {concurrency:>3}: alerts stored after {:.1} s, first e-mail after \
         {first:.2} s, all {n} e-mails accepted after {last:.1} s ({rate:.0} e-mails/s from the \
         first to the last; {sent} recorded handled, {} accepted)",
        stored_at.map_or(f64::NAN, |d| d.as_secs_f64()),
        smtp.count(),
    );
    drop(mesh);
}

pub async fn run(n: usize, only: Option<usize>) {
    println!(
        "one quote crossing {n} watchers -> {n} e-mails through the broker (tickermesh up with \
         Kafka on {}, MariaDB, 3 partitions per topic, the test suite's SMTP server)",
        kafka::brokers()
    );
    // 1: one alert at a time, as before; 8: the old pool's size; then the default, and twice it.
    let all = [1, 8, DEFAULT_MAIL_CONCURRENCY, 2 * DEFAULT_MAIL_CONCURRENCY];
    for concurrency in only.map_or(all.to_vec(), |c| vec![c]) {
        round(n, concurrency).await;
    }
}
