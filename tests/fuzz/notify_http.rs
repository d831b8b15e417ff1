//! CloudEvents over HTTP to notify's real endpoint: an alert stored for each case (with any
//! price, threshold and market time, to any address a user may have registered), then an event
//! that names it, or another, or is no alert at all. The answer is always 202, 400 or 503.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tickermesh_core::events::{Direction, ThresholdCrossed, THRESHOLD_CROSSED};
use tickermesh_core::store::evaluation;
use tickermesh_notify::{MailConfig, MailRetry, Mailer, Notifier};
use tickermesh_tests::{Backend, TestDb, TestServer};

use crate::events_http::{anything, header, post, Delivery, NAMED};
use crate::numbers::{json_number, json_other};

/// The addresses of the stored alerts (each a confirmed user).
const EMAILS: [&str; 3] = [
    "ada@example.com",
    "josé@example.com",
    "i\u{307}@example.com",
];

/// An alert as stored, whatever evaluate might have put in it.
fn stored_alert() -> impl Strategy<Value = ThresholdCrossed> {
    let email = prop_oneof![
        Just(EMAILS[0].to_owned()),
        Just(EMAILS[1].to_owned()),
        Just(EMAILS[2].to_owned()),
    ];
    let price = prop_oneof![any::<f64>(), 1e-6f64..1e9];
    let time = prop_oneof![
        any::<i64>(),
        Just(253_402_300_800_000),
        Just(i64::MIN),
        0i64..4_000_000_000_000
    ];
    let direction = prop_oneof![Just(Direction::Above), Just(Direction::Below)];
    (
        email,
        "[A-Z0-9.^=-]{1,16}",
        price.clone(),
        "[A-Za-z]{1,8}",
        price,
        direction,
        time,
        any::<bool>(),
    )
        .prop_map(
            |(email, ticker, price, currency, threshold, direction, market_time_ms, simulated)| {
                ThresholdCrossed {
                    alert_id: String::new(), // set per case
                    email,
                    ticker,
                    price,
                    currency,
                    threshold,
                    direction,
                    market_time_ms,
                    simulated,
                    subscription_id: None,
                    reference: None,
                }
            },
        )
}

/// The data of a `tickermesh.threshold.crossed` event, mostly naming the stored alert.
fn alert_json() -> impl Strategy<Value = String> {
    let id = prop_oneof![
        8 => Just(NAMED.to_owned()),
        1 => any::<String>().prop_map(|s| serde_json::Value::String(s).to_string()),
        1 => json_other(),
    ];
    let number = || prop_oneof![6 => Just("1".to_owned()), 1 => json_number(), 1 => json_other()];
    let direction = prop_oneof![
        Just("\"above\"".to_owned()),
        Just("\"below\"".to_owned()),
        json_other()
    ];
    (id, number(), number(), number(), direction).prop_map(|(id, price, threshold, time, dir)| {
        format!(
            r#"{{"alert_id":{id},"email":"x@example.com","ticker":"FUZZ","price":{price},"currency":"USD","threshold":{threshold},"direction":{dir},"market_time_ms":{time}}}"#
        )
    })
}

fn binary() -> impl Strategy<Value = Delivery> {
    let extra = prop_oneof![
        2 => Just(Vec::new()),
        1 => proptest::collection::vec(header(), 1..3),
    ];
    (alert_json(), extra).prop_map(|(body, extra)| {
        let mut headers: Vec<(String, Vec<u8>)> = [
            ("ce-specversion", "1.0"),
            ("ce-id", "a-1"),
            ("ce-type", THRESHOLD_CROSSED),
            ("ce-source", "/tickermesh/evaluate"),
            ("content-type", "application/json"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.as_bytes().to_vec()))
        .collect();
        headers.extend(extra);
        Delivery {
            headers,
            body: body.into_bytes(),
        }
    })
}

fn deliveries_are_answered(backend: Backend, cases: u32) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let outbox = tempfile::tempdir().unwrap();
    let (server, db, store) = rt.block_on(async {
        let db = TestDb::new(backend).await;
        let store = db.store().await;
        // The addresses the alerts go to, registered and confirmed: notify mails no one else.
        for email in EMAILS {
            tickermesh_tests::db::register(&store, email, "AAPL", None, None).await;
        }
        let mailer = Mailer::new(&MailConfig::Outbox(outbox.path().to_owned())).unwrap();
        let from = "tickermesh <alerts@example.com>".parse().unwrap();
        let retry = MailRetry {
            attempts: 2,
            first_delay: std::time::Duration::from_millis(10),
        };
        let notifier = Notifier::new(store.clone(), mailer, from).with_retry(retry);
        let server = TestServer::start(tickermesh_notify::router(Arc::new(notifier))).await;
        (server, db, store)
    });
    let client = reqwest::Client::new();
    let url = server.url();
    let mut runner = TestRunner::new(Config {
        // Each case (and each shrinking step) is a real request over a real store.
        max_shrink_iters: 200,
        failure_persistence: None,
        ..Config::with_cases(cases)
    });
    let strategy = (prop_oneof![4 => binary(), 1 => anything()], stored_alert());
    let n = AtomicUsize::new(0);
    // How many were handled: the strategies must reach the store, not only the parser.
    let handled = std::sync::atomic::AtomicUsize::new(0);
    let result = runner.run(&strategy, |(delivery, mut alert)| {
        alert.alert_id = format!("fuzz-{}", n.fetch_add(1, Ordering::Relaxed));
        let named = serde_json::Value::String(alert.alert_id.clone()).to_string();
        let status = rt.block_on(async {
            let mut conn = store.pool().acquire().await.expect("a connection");
            evaluation::insert_alerts(&mut conn, store.backend(), std::slice::from_ref(&alert), 1)
                .await
                .expect("store the alert");
            drop(conn);
            post(&client, &url, &delivery, &named).await
        });
        match status {
            Ok(202) => {
                handled.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Ok(())
            }
            Ok(400 | 503) => Ok(()),
            other => Err(TestCaseError::fail(format!(
                "{other:?} for {delivery:?} naming {alert:?}"
            ))),
        }
    });
    drop(server);
    drop(db);
    if let Err(e) = result {
        panic!("{backend:?}: {e}");
    }
    let handled = handled.into_inner();
    assert!(handled > 0, "{backend:?}: no delivery was handled");
    let mails = std::fs::read_dir(outbox.path()).unwrap().count();
    assert!(
        mails > 0,
        "{backend:?}: {handled} handled, no e-mail written"
    );
}

#[test]
fn notify_over_http_on_sqlite() {
    deliveries_are_answered(Backend::Sqlite, 64);
}

#[test]
fn notify_over_http_on_mariadb() {
    deliveries_are_answered(Backend::MariaDb, 64);
}
