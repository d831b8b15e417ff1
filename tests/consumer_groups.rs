//! Consumer groups across processes, on the broker: two `tickermesh-evaluate` and two
//! `tickermesh-notify` processes, each pair one consumer group over topics of 3 partitions (as
//! minikube/kafka.yaml creates them for KEDA's `maxReplicaCount: 3`), MariaDB, the test
//! suite's SMTP server. One of each is killed with SIGKILL mid-stream; the survivors take over
//! their partitions, and every alert is e-mailed exactly once.
//!
//! notify is killed while the SMTP server holds the messages in flight at their DATA command:
//! a message the server has accepted but whose alert the killed process had not yet recorded
//! would be sent again by the survivor (no SMTP client can make that window vanish; the
//! e-mail's Message-ID lets a mail system drop it). What this test shows is the rest: nothing
//! recorded is sent again, nothing in flight or not yet fetched is lost, and nothing is handled
//! twice by the survivors while the group moves partitions about.

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::producer::FutureProducer;
use tickermesh_core::events::{Direction, QuoteCollected, ThresholdCrossed};
use tickermesh_tests::db::{register, store_quote};
use tickermesh_tests::group::{healthy, send, spawn, Function};
use tickermesh_tests::smtp::SmtpServer;
use tickermesh_tests::yahoo::recent_s;
use tickermesh_tests::{eventually, kafka, Backend, TestDb};

const PARTITIONS: i32 = 3;
const TICKERS: usize = 12;
const WATCHERS: usize = 20;
/// Alerts each notify process handles at once.
const CONCURRENCY: usize = 4;
/// The key notify signs the unsubscribe links of its e-mails with.
const SIGNING_KEY: &str = "a consumer-group test signing key, 32 bytes or more";

/// Until both processes of a group have taken events: something on every partition each
/// round, as the group's assignment is not known from outside. Returns how long it took.
async fn until_both_consume(pair: &[&Function; 2], mut publish: impl AsyncFnMut(u32)) -> Duration {
    let started = Instant::now();
    for round in 0.. {
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "both members of a consumer group get partitions within 3 minutes"
        );
        publish(round).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        if pair[0].events().await > 0 && pair[1].events().await > 0 {
            break;
        }
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_of_each_share_partitions_and_survive_a_sigkill() {
    let db = TestDb::new(Backend::MariaDb).await;
    let store = db.store().await;
    let mut expected = Vec::new();
    for t in 0..TICKERS {
        for w in 0..WATCHERS {
            let email = format!("u{t}-{w}@example.com");
            register(&store, &email, &format!("G{t}"), None, Some(100.0)).await;
            expected.push(email);
        }
    }
    let smtp = SmtpServer::start();
    let quotes = kafka::topic("cg-quotes", PARTITIONS).await;
    let alerts = kafka::topic("cg-alerts", PARTITIONS).await;
    let mut env = kafka::env();
    env.extend([
        ("TICKERMESH_DATABASE_URL", db.url.clone()),
        ("TICKERMESH_QUOTES_TOPIC", quotes.clone()),
        ("TICKERMESH_ALERTS_TOPIC", alerts.clone()),
        ("TICKERMESH_SMTP_URL", smtp.url()),
        ("TICKERMESH_MAIL_CONCURRENCY", CONCURRENCY.to_string()),
        // The alerts the killed notify was mailing wait for their claims to run out; the lease
        // is kept well above what a stall of these two busy cores can be, as in production.
        ("TICKERMESH_MAIL_LEASE_SECS", "30".into()),
        ("TICKERMESH_SHUTDOWN_GRACE_SECS", "1".into()),
    ]);
    let group = |name: &str| ("TICKERMESH_CONSUMER_GROUP", format!("{quotes}-{name}"));
    let evaluate_env = [env.clone(), vec![group("evaluate")]].concat();
    let notify_env = [
        env,
        vec![
            group("notify"),
            ("TICKERMESH_SIGNING_KEY", SIGNING_KEY.into()),
            (
                "TICKERMESH_PUBLIC_URL",
                "http://tickermesh.localhost/".into(),
            ),
        ],
    ]
    .concat();
    let mut e1 = spawn("tickermesh-evaluate", &evaluate_env);
    let e2 = spawn("tickermesh-evaluate", &evaluate_env);
    let mut n1 = spawn("tickermesh-notify", &notify_env);
    let n2 = spawn("tickermesh-notify", &notify_env);
    for f in [&e1, &e2, &n1, &n2] {
        healthy(f).await;
    }
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", kafka::brokers())
        .create()
        .expect("a producer");
    let t0 = recent_s() * 1000;

    // Warm-up: events that change nothing (a quote never stored, an alert never stored: each
    // refused and counted) until each process of both groups has partitions.
    let waited = until_both_consume(&[&e1, &e2], async |round| {
        for p in 0..PARTITIONS {
            let q = quote(&format!("WARM{p}"), 1.0, t0 + i64::from(round));
            send(&producer, &quotes, p, &q.ticker, q.to_event().unwrap()).await;
        }
    })
    .await;
    println!("evaluate: both members consuming after {waited:?}");
    let waited = until_both_consume(&[&n1, &n2], async |round| {
        for p in 0..PARTITIONS {
            let a = unknown_alert(&format!("warm-{round}-{p}"));
            send(&producer, &alerts, p, &a.email, a.to_event().unwrap()).await;
        }
    })
    .await;
    println!("notify: both members consuming after {waited:?}");

    // The stream: a crossing quote per ticker, stored as collect stores it, then its event.
    let cross = async |t: usize| {
        let q = quote(&format!("G{t}"), 150.0, t0 + 60_000);
        store_quote(&store, &q).await;
        let partition = (t % PARTITIONS as usize) as i32;
        send(
            &producer,
            &quotes,
            partition,
            &q.ticker,
            q.to_event().unwrap(),
        )
        .await;
    };
    let e1_before = e1.events().await;
    for t in 0..TICKERS / 2 {
        cross(t).await;
    }
    // evaluate 1 has taken part in the stream: it dies with the rest of its partitions unread.
    let e1_ref = &e1;
    eventually(
        Duration::from_secs(60),
        "evaluate 1 to take a quote",
        || async move { (e1_ref.events().await > e1_before).then_some(()) },
    )
    .await;
    e1.kill();
    eventually(Duration::from_secs(120), "a first e-mail", || async {
        (smtp.count() > 0).then_some(())
    })
    .await;
    // From now on the messages in flight wait at DATA, accepted by nobody.
    smtp.hold();
    for t in TICKERS / 2..TICKERS {
        cross(t).await;
    }
    // Both notify processes full: each has CONCURRENCY alerts in flight.
    eventually(
        Duration::from_secs(180),
        "both notify processes to be sending",
        || async { (smtp.held() >= 2 * CONCURRENCY).then_some(()) },
    )
    .await;
    n1.kill();
    smtp.release();

    let all = expected.len();
    eventually(Duration::from_secs(300), "every alert e-mailed", || async {
        (smtp.per_recipient().len() == all).then_some(())
    })
    .await;
    eventually(Duration::from_secs(60), "every alert recorded", || async {
        let sent: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM sent_alerts WHERE outcome <> 'sending'")
                .fetch_one(store.pool())
                .await
                .unwrap();
        (sent == all as i64).then_some(())
    })
    .await;
    // Anything still on its way (a redelivery the survivors would mail twice) arrives now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let received = smtp.per_recipient();
    let twice: Vec<_> = received.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "e-mailed more than once: {twice:?}");
    for email in &expected {
        assert_eq!(received.get(email), Some(&1), "{email}");
    }
    assert_eq!(smtp.count(), all, "one e-mail per alert, nothing else");
    drop((e2, n2));
}

fn quote(ticker: &str, price: f64, market_time_ms: i64) -> QuoteCollected {
    QuoteCollected {
        ticker: ticker.into(),
        price,
        currency: "USD".into(),
        market_time_ms,
        collected_at_ms: market_time_ms,
        simulated: false,
        previous_close: None,
    }
}

fn unknown_alert(id: &str) -> ThresholdCrossed {
    ThresholdCrossed {
        alert_id: id.into(),
        email: format!("{id}@example.com"),
        ticker: "WARM".into(),
        price: 1.0,
        currency: "USD".into(),
        threshold: 2.0,
        direction: Direction::Below,
        market_time_ms: 0,
        simulated: false,
        subscription_id: None,
        reference: None,
    }
}

/// `TICKERMESH_MAIL_CONCURRENCY` is read like the rest of the config: a bad value stops notify
/// at start with exit code 2, naming the variable.
#[test]
fn an_invalid_mail_concurrency_exits_2_naming_the_variable() {
    let bin = tickermesh_tests::proc::workspace_bin("tickermesh-notify");
    for value in ["0", "many", "100000"] {
        let out = std::process::Command::new(&bin)
            .env("TICKERMESH_SMTP_URL", "smtp://127.0.0.1:25")
            .env("TICKERMESH_SIGNING_KEY", SIGNING_KEY)
            .env("TICKERMESH_MAIL_CONCURRENCY", value)
            .output()
            .expect("run tickermesh-notify");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{value}: {stderr}");
        assert!(
            stderr.contains("TICKERMESH_MAIL_CONCURRENCY"),
            "{value}: {stderr}"
        );
    }
}
