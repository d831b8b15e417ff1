//! evaluate and notify over HTTP, as a Knative KafkaSource delivers: binary mode, lower-case
//! `ce-` headers, KafkaSource extensions, `Prefer: reply`. Malformed → 400, bad data → 400,
//! a redelivered alert mails nobody twice, a refused address is dead-lettered. An event only
//! names a stored quote or alert: one that names nothing stored is refused, and what an event
//! says beyond the name is not believed.

use std::sync::Arc;

use tickermesh_core::events::{ChannelBus, Direction, QuoteCollected, ThresholdCrossed};
use tickermesh_evaluate::Evaluator;
use tickermesh_notify::MailRetry;
use tickermesh_notify::{MailConfig, Mailer, Notifier};
use tickermesh_tests::db::{register, store_alert, store_quote};
use tickermesh_tests::smtp::SmtpServer;
use tickermesh_tests::{eventually, Backend, TestDb, TestServer};

/// The CloudEvent source of each event type: the function that publishes it.
fn source_of(ty: &str) -> &'static str {
    if ty == "tickermesh.quote.collected" {
        "/tickermesh/collect"
    } else {
        "/tickermesh/evaluate"
    }
}

/// POSTs `data` as a KafkaSource would deliver a record of `topic`.
async fn deliver(url: &str, ty: &str, id: &str, data: &serde_json::Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(url)
        .header("ce-specversion", "1.0")
        .header("ce-id", id)
        .header("ce-type", ty)
        // A KafkaSource forwards a record that is a CloudEvent with its own attributes, so
        // the source is the function that published it.
        .header("ce-source", source_of(ty))
        .header("ce-subject", "AAPL")
        .header("ce-key", "AAPL")
        .header("ce-partitionkey", "AAPL")
        .header("ce-knativekafkapartition", "0")
        .header("ce-knativekafkaoffset", "42")
        .header("content-type", "application/json")
        .header("prefer", "reply")
        .body(data.to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluate_takes_kafkasource_deliveries() {
    let db = TestDb::new(Backend::Sqlite).await;
    let store = db.store().await;
    register(&store, "e@example.com", "AAPL", None, Some(100.0)).await;
    let mut bus = ChannelBus::new();
    let mut alerts = bus.topic("threshold-alerts", 16);
    let evaluator = Arc::new(Evaluator::new(store, Arc::new(bus), "threshold-alerts"));
    let server = TestServer::start(tickermesh_evaluate::router(evaluator)).await;
    let now = tickermesh_core::now_unix_ms();
    let quote = QuoteCollected {
        ticker: "AAPL".into(),
        price: 120.0,
        currency: "USD".into(),
        market_time_ms: now - 1_000,
        collected_at_ms: now,
        simulated: false,
        previous_close: None,
    };
    store_quote(&db.store().await, &quote).await;
    // The event's own price is not believed: the stored quote (120, above 100) is evaluated.
    let forged = QuoteCollected {
        price: 50.0,
        ..quote.clone()
    };
    let data = serde_json::to_value(&forged).unwrap();
    let id = format!("AAPL@{}", quote.market_time_ms);
    let r = deliver(&server.url(), "tickermesh.quote.collected", &id, &data).await;
    assert_eq!(r.status(), 202);
    let (key, event) = alerts.recv().await.unwrap();
    assert_eq!(key, "e@example.com", "alerts are keyed by e-mail");
    let alert = ThresholdCrossed::from_event(&event).unwrap();
    assert_eq!(
        (alert.direction, alert.threshold, alert.price),
        (Direction::Above, 100.0, 120.0)
    );

    // Redelivery of the same record: accepted, no second alert.
    let r = deliver(&server.url(), "tickermesh.quote.collected", &id, &data).await;
    assert_eq!(r.status(), 202);
    assert!(alerts.try_recv().is_err());

    // A quote that was never collected, and one stamped a year ahead: refused, no alert.
    let invented = QuoteCollected {
        market_time_ms: now + 60_000,
        price: 130.0,
        ..quote.clone()
    };
    let data = serde_json::to_value(&invented).unwrap();
    let r = deliver(&server.url(), "tickermesh.quote.collected", "x0", &data).await;
    assert_eq!(
        r.status(),
        400,
        "an event names a collected quote or nothing"
    );
    let ahead = QuoteCollected {
        market_time_ms: now + 365 * 24 * 3_600_000,
        ..quote.clone()
    };
    store_quote(&db.store().await, &ahead).await;
    let data = serde_json::to_value(&ahead).unwrap();
    let r = deliver(&server.url(), "tickermesh.quote.collected", "x00", &data).await;
    assert_eq!(r.status(), 400, "a market time a year ahead is absurd");
    assert!(alerts.try_recv().is_err());

    // Bad data in a valid CloudEvent, a wrong type, and a malformed CloudEvent: 400.
    let bad = serde_json::json!({"ticker": "AAPL", "price": "high"});
    let r = deliver(&server.url(), "tickermesh.quote.collected", "x1", &bad).await;
    assert_eq!(r.status(), 400);
    let r = deliver(&server.url(), "something.else", "x2", &data).await;
    assert_eq!(r.status(), 400);
    let r = reqwest::Client::new()
        .post(server.url())
        .header("ce-specversion", "1.0")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "no ce-id, ce-type, ce-source");
}

fn alert(id: &str, email: &str) -> ThresholdCrossed {
    ThresholdCrossed {
        alert_id: id.into(),
        email: email.into(),
        ticker: "AAPL".into(),
        price: 99.0,
        currency: "USD".into(),
        threshold: 100.0,
        direction: Direction::Below,
        market_time_ms: tickermesh_core::now_unix_ms(),
        simulated: false,
        subscription_id: None,
        reference: None,
    }
}

/// The notify function over HTTP, mailing through the SMTP server at `url`; a deferred
/// message is tried three times, 50 ms apart at first.
async fn notify_server(store: &tickermesh_core::store::Store, url: String) -> TestServer {
    let mailer = Mailer::new(&MailConfig::Smtp {
        url: url.into(),
        credentials: None,
    })
    .unwrap();
    let from = "tickermesh <alerts@example.com>".parse().unwrap();
    let retry = MailRetry {
        attempts: 3,
        first_delay: std::time::Duration::from_millis(50),
    };
    let notifier = Arc::new(Notifier::new(store.clone(), mailer, from).with_retry(retry));
    TestServer::start(tickermesh_notify::router(notifier)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_mails_once_per_alert_over_smtp() {
    let db = TestDb::new(Backend::MariaDb).await;
    let store = db.store().await;
    let smtp = SmtpServer::start();
    let server = notify_server(&store, smtp.url()).await;
    store_alert(&store, &alert("a-1", "n@example.com")).await;
    store_alert(&store, &alert("a-2", "not an address")).await;
    let a = serde_json::to_value(alert("a-1", "n@example.com")).unwrap();
    for _ in 0..3 {
        let r = deliver(&server.url(), "tickermesh.threshold.crossed", "a-1", &a).await;
        assert_eq!(r.status(), 202);
    }
    let mails = eventually(std::time::Duration::from_secs(5), "the e-mail", || async {
        let m = smtp.mails();
        (!m.is_empty()).then_some(m)
    })
    .await;
    assert_eq!(mails.len(), 1, "three deliveries, one e-mail");
    assert_eq!(mails[0].to, vec!["n@example.com".to_owned()]);
    assert!(mails[0].data.contains("Subject: AAPL"));
    assert!(mails[0]
        .data
        .contains("AAPL fell below your minimum of 100.00 USD."));

    // An address no mail server takes: refused for good, dead-lettered, not retried.
    let bad = serde_json::to_value(alert("a-2", "not an address")).unwrap();
    let r = deliver(&server.url(), "tickermesh.threshold.crossed", "a-2", &bad).await;
    assert_eq!(r.status(), 202, "handled: dead-lettered");
    let outcome: String =
        sqlx::query_scalar("SELECT outcome FROM sent_alerts WHERE alert_id = 'a-2'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(outcome, "dead_letter");
    assert_eq!(smtp.mails().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_asks_for_redelivery_while_smtp_is_down() {
    let db = TestDb::new(Backend::Sqlite).await;
    let store = db.store().await;
    let port = tickermesh_tests::proc::free_port();
    let server = notify_server(&store, format!("smtp://127.0.0.1:{port}")).await;
    store_alert(&store, &alert("down-1", "d@example.com")).await;
    let a = serde_json::to_value(alert("down-1", "d@example.com")).unwrap();
    let r = deliver(&server.url(), "tickermesh.threshold.crossed", "down-1", &a).await;
    assert_eq!(r.status(), 503, "not sent: deliver it again");
    let handled: Option<String> =
        sqlx::query_scalar("SELECT outcome FROM sent_alerts WHERE alert_id = 'down-1'")
            .fetch_optional(store.pool())
            .await
            .unwrap();
    // At most its claim, run out at once: a redelivery takes it over and sends it.
    assert!(
        matches!(handled.as_deref(), None | Some("sending")),
        "nothing recorded: {handled:?}"
    );
}

async fn outcome_of(store: &tickermesh_core::store::Store, id: &str) -> (String, Option<String>) {
    sqlx::query_as("SELECT outcome, detail FROM sent_alerts WHERE alert_id = ?")
        .bind(id)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

/// notify mails what the alerts table holds: an event naming an alert that was never stored is
/// refused and mails nobody; a forged body for a stored alert changes nothing of the e-mail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_believes_the_alerts_table_not_the_event() {
    let db = TestDb::new(Backend::Sqlite).await;
    let store = db.store().await;
    let smtp = SmtpServer::start();
    let server = notify_server(&store, smtp.url()).await;
    let forged = ThresholdCrossed {
        email: "victim@example.com".into(),
        ticker: "SCAM".into(),
        ..alert("never-stored", "victim@example.com")
    };
    let data = serde_json::to_value(&forged).unwrap();
    let r = deliver(&server.url(), "tickermesh.threshold.crossed", "f-1", &data).await;
    assert_eq!(r.status(), 400, "no such alert");

    store_alert(&store, &alert("real-1", "owner@example.com")).await;
    let forged = ThresholdCrossed {
        alert_id: "real-1".into(),
        ..forged
    };
    let data = serde_json::to_value(&forged).unwrap();
    let r = deliver(
        &server.url(),
        "tickermesh.threshold.crossed",
        "real-1",
        &data,
    )
    .await;
    assert_eq!(r.status(), 202);
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].to, vec!["owner@example.com".to_owned()]);
    assert!(mails[0].data.contains("Subject: AAPL"), "{}", mails[0].data);
    let metrics = tickermesh_tests::http_get(server.addr, "/metrics").await;
    assert!(
        metrics.contains("tickermesh_emails_total{outcome=\"unknown\"} 1"),
        "{metrics}"
    );
}

/// An address the mail server cannot take (non-ASCII, and no SMTPUTF8 offered) is
/// dead-lettered with the reason; a message the server keeps deferring is dead-lettered after
/// its attempts. Neither holds up the alert behind it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_undeliverable_address_does_not_stop_the_others() {
    let db = TestDb::new(Backend::MariaDb).await;
    let store = db.store().await;
    let smtp = SmtpServer::deferring(&["grey@example.com"]);
    let server = notify_server(&store, smtp.url()).await;
    for (id, email) in [
        ("u-1", "josé@example.com"),
        ("g-1", "grey@example.com"),
        ("ok-1", "ada@example.com"),
    ] {
        store_alert(&store, &alert(id, email)).await;
        let data = serde_json::to_value(alert(id, email)).unwrap();
        let started = std::time::Instant::now();
        let r = deliver(&server.url(), "tickermesh.threshold.crossed", id, &data).await;
        assert_eq!(r.status(), 202, "{email}: handled");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{email}"
        );
    }
    let (outcome, detail) = outcome_of(&store, "u-1").await;
    assert_eq!(outcome, "dead_letter");
    assert!(detail.unwrap_or_default().contains("SMTPUTF8"));
    let (outcome, detail) = outcome_of(&store, "g-1").await;
    assert_eq!(outcome, "dead_letter");
    assert!(detail.unwrap_or_default().contains("3 attempts"));
    assert_eq!(outcome_of(&store, "ok-1").await.0, "sent");
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, vec!["ada@example.com".to_owned()]);
}
