//! A notify process joining the group (KEDA scaling notify up) while the first one is mailing:
//! the partitions it takes over hold alerts the first one is still sending — their offsets are
//! not committed — so the newcomer reads them again. It finds them claimed in the database and
//! waits; when the first has recorded them it finds them handled. Every alert is e-mailed once.
//!
//! Real `tickermesh-notify` processes, the broker (a topic of 3 partitions), MariaDB, the test
//! suite's SMTP server holding every message at its DATA command until the newcomer has met a
//! claim.

use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::producer::FutureProducer;
use tickermesh_tests::db::{alert, store_alert};
use tickermesh_tests::group::{healthy, send, spawn};
use tickermesh_tests::smtp::SmtpServer;
use tickermesh_tests::{eventually, kafka, Backend, TestDb};

const PARTITIONS: i32 = 3;
/// Alerts in flight on the first notify at once: all of them, on every partition.
const ALERTS: usize = 30;
const SIGNING_KEY: &str = "a rebalance test signing key, 32 bytes or more";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joining_notify_waits_for_what_the_first_is_mailing() {
    let db = TestDb::new(Backend::MariaDb).await;
    let store = db.store().await;
    let smtp = SmtpServer::start();
    let topic = kafka::topic("rb-alerts", PARTITIONS).await;
    let mut env = kafka::env();
    env.extend([
        ("TICKERMESH_DATABASE_URL", db.url.clone()),
        ("TICKERMESH_ALERTS_TOPIC", topic.clone()),
        ("TICKERMESH_CONSUMER_GROUP", format!("{topic}-notify")),
        ("TICKERMESH_SMTP_URL", smtp.url()),
        // Room for more than the alerts: a consumer with every slot taken does not poll, and
        // a member that does not poll holds up the rebalance.
        ("TICKERMESH_MAIL_CONCURRENCY", (ALERTS + 2).to_string()),
        ("TICKERMESH_SIGNING_KEY", SIGNING_KEY.into()),
        ("TICKERMESH_SHUTDOWN_GRACE_SECS", "1".into()),
    ]);
    let first = spawn("tickermesh-notify", &env);
    healthy(&first).await;

    // Every alert on the first notify, held at DATA: each partition has alerts in flight.
    smtp.hold();
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", kafka::brokers())
        .create()
        .expect("a producer");
    for i in 0..ALERTS {
        let crossed = alert(&format!("AAPL/{i}/above/1"), &format!("r{i}@example.com"));
        store_alert(&store, &crossed).await;
        let partition = (i % PARTITIONS as usize) as i32;
        let event = crossed.to_event().expect("an event");
        send(&producer, &topic, partition, &crossed.email, event).await;
    }
    eventually(
        Duration::from_secs(120),
        "every alert in flight on the first notify",
        || async { (smtp.held() == ALERTS).then_some(()) },
    )
    .await;

    // The second joins, gets partitions whose alerts are in flight, reads them again.
    let second = spawn("tickermesh-notify", &env);
    healthy(&second).await;
    let claimed = "outcome=\"claimed\"";
    eventually(
        Duration::from_secs(120),
        "the second notify to find an alert claimed",
        || async { (second.counter("tickermesh_emails_total", claimed).await > 0).then_some(()) },
    )
    .await;
    assert_eq!(smtp.held(), ALERTS, "no second message started");

    smtp.release();
    eventually(Duration::from_secs(120), "every alert recorded", || async {
        let sent: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM sent_alerts WHERE outcome = 'sent'")
                .fetch_one(store.pool())
                .await
                .unwrap();
        (sent == ALERTS as i64).then_some(())
    })
    .await;
    // The second notify's retries come round (at most 30 s apart) and find them handled.
    eventually(
        Duration::from_secs(60),
        "the second notify to find them handled",
        || async {
            let duplicates = "outcome=\"duplicate\"";
            (second.counter("tickermesh_emails_total", duplicates).await > 0).then_some(())
        },
    )
    .await;
    let received = smtp.per_recipient();
    let twice: Vec<_> = received.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "e-mailed more than once: {twice:?}");
    assert_eq!(smtp.count(), ALERTS, "one e-mail per alert");
    drop((first, second));
}
