//! The notify function over HTTP, as a test talks to it: a real server on port 0 mailing
//! through a real SMTP server, and events POSTed to it as a KafkaSource or Trigger delivers.

use std::sync::Arc;
use std::time::Duration;

use tickermesh_core::events::DigestDue;
use tickermesh_core::store::Store;
use tickermesh_notify::{MailConfig, MailRetry, Mailer, Notifier};

use crate::TestServer;

/// notify mailing through the SMTP server at `smtp_url`; a deferred message is tried three
/// times, 50 ms apart at first. Each call is another notify process as far as notify can tell
/// (its own locks, its own SMTP connections), on the same database.
pub async fn notify_server(store: &Store, smtp_url: &str) -> TestServer {
    let mailer = Mailer::new(&MailConfig::Smtp {
        url: smtp_url.to_owned().into(),
        credentials: None,
    })
    .expect("a mailer");
    let from = "tickermesh <alerts@example.com>".parse().expect("from");
    let retry = MailRetry {
        attempts: 3,
        first_delay: Duration::from_millis(50),
    };
    let notifier = Notifier::new(store.clone(), mailer, from).with_retry(retry);
    TestServer::start(tickermesh_notify::router(Arc::new(notifier))).await
}

/// An alert event as the broker delivers it to notify (binary mode). notify takes only the id
/// from it; the rest is what evaluate would have sent.
pub async fn post_alert(url: &str, alert_id: &str, email: &str) -> reqwest::Response {
    let data = serde_json::json!({
        "alert_id": alert_id, "email": email, "ticker": "AAPL", "price": 251.5,
        "currency": "USD", "threshold": 250.0, "direction": "above",
        "market_time_ms": 900, "simulated": false,
    });
    reqwest::Client::new()
        .post(url)
        .header("ce-specversion", "1.0")
        .header("ce-id", alert_id)
        .header("ce-type", "tickermesh.threshold.crossed")
        .header("ce-source", "/tickermesh/evaluate")
        .header("content-type", "application/json")
        .body(data.to_string())
        .send()
        .await
        .expect("POST an alert event")
}

/// `email`'s digest event, due as of `as_of_ms`, as the digest function publishes it
/// (structured mode).
pub async fn post_digest(url: &str, email: &str, as_of_ms: i64) -> reqwest::Response {
    let due = DigestDue {
        email: email.to_owned(),
    };
    let event = due.to_event(as_of_ms).expect("a digest event");
    reqwest::Client::new()
        .post(url)
        .header("content-type", "application/cloudevents+json")
        .body(serde_json::to_string(&event).expect("the event as JSON"))
        .send()
        .await
        .expect("POST a digest event")
}
