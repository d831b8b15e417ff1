//! CloudEvents over HTTP: arbitrary headers and bodies POSTed to evaluate's real endpoint (a
//! real store with a watcher whose thresholds the quotes may cross, the in-process bus). The
//! answer is always 202, 400 or 503 — never another status, a dropped connection or a panic.

use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tickermesh_core::events::{ChannelBus, PING, QUOTE_COLLECTED, THRESHOLD_CROSSED};
use tickermesh_core::store::quotes::{self, Quote};
use tickermesh_evaluate::Evaluator;
use tickermesh_tests::db::register;
use tickermesh_tests::{Backend, TestDb, TestServer};

use crate::numbers::{json_number, json_other};

/// Stands for what names the record stored for the case (a quote's market time, an alert's
/// id), so that most events name a stored record (the functions refuse the others) and reach
/// the store.
pub const NAMED: &str = "\"@named@\"";

/// One POST: headers in order (a name may repeat) and a body.
#[derive(Clone)]
pub struct Delivery {
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

/// Values as text, so that a failing case reads as the request it is.
impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<_> = self
            .headers
            .iter()
            .map(|(k, v)| (k, String::from_utf8_lossy(v)))
            .collect();
        f.debug_struct("Delivery")
            .field("headers", &headers)
            .field("body", &String::from_utf8_lossy(&self.body))
            .finish()
    }
}

/// Bytes a header value may hold: visible ASCII, blanks and obs-text (0x80-0xff).
fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![8 => 0x20u8..0x7f, 1 => Just(b'\t'), 2 => 0x80u8..=0xff],
        0..40,
    )
}

fn text(values: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    proptest::sample::select(values).prop_map(|v| v.as_bytes().to_vec())
}

/// A header a CloudEvent delivery may carry, with a plausible or an arbitrary value.
pub fn header() -> impl Strategy<Value = (String, Vec<u8>)> {
    let named = |name: &'static str, values: &'static [&'static str]| {
        prop_oneof![text(values), header_bytes()].prop_map(move |v| (name.to_owned(), v))
    };
    prop_oneof![
        named("ce-specversion", &["1.0", "0.3", "2.0", ""]),
        named("ce-type", &[QUOTE_COLLECTED, THRESHOLD_CROSSED, PING, "x"]),
        named("ce-id", &["AAPL@1", "1"]),
        named("ce-source", &["/tickermesh/collect", "http://x/", "::"]),
        named(
            "ce-time",
            &[
                "2024-01-01T00:00:00Z",
                "9999-12-31T23:59:59.999999999Z",
                "+275760-09-13T00:00:00Z",
                "yesterday",
            ]
        ),
        named("ce-subject", &["AAPL"]),
        named("ce-dataschema", &["http://x/s", "not a uri"]),
        named("ce-datacontenttype", &["application/json"]),
        named(
            "content-type",
            &[
                "application/json",
                "application/json; charset=utf-8",
                "application/cloudevents+json",
                "application/cloudevents-batch+json",
                "text/plain",
            ]
        ),
        ("ce-[a-z0-9]{1,20}", header_bytes()),
        ("[a-z][a-z0-9-]{0,20}", header_bytes()),
    ]
}

/// A `tickermesh.quote.collected` data object: mostly well-typed (so that most reach the
/// handler and the store), with any value in any field now and then, or a field missing.
fn quote_json() -> impl Strategy<Value = String> {
    let ticker = prop_oneof![
        12 => Just("\"FUZZ\"".to_owned()),
        1 => any::<String>().prop_map(|s| serde_json::Value::String(s).to_string()),
        1 => json_other(),
    ];
    let price = prop_oneof![
        // Below, inside and above the watcher's band of 50..100.
        6 => prop_oneof![1e-9f64..50.0, 50.0f64..100.0, 100.0f64..1e12].prop_map(|p| p.to_string()),
        2 => json_number(),
        1 => json_other(),
    ];
    let currency = prop_oneof![
        9 => Just("\"USD\"".to_owned()),
        1 => "[A-Z]{0,12}".prop_map(|s| format!("\"{s}\"")),
        // Longer than any column keeps.
        1 => (4000usize..5000).prop_map(|n| format!("\"{}\"", "C".repeat(n))),
        1 => json_other(),
    ];
    // Mostly the market time of the quote stored for this case (see `NAMED`).
    let market = prop_oneof![
        30 => Just(NAMED.to_owned()),
        4 => any::<i64>().prop_map(|t| t.to_string()),
        1 => json_number(),
        1 => json_other(),
    ];
    let collected = prop_oneof![
        10 => any::<i64>().prop_map(|t| t.to_string()),
        1 => json_number(),
        1 => json_other(),
    ];
    (
        ticker,
        price,
        currency,
        market,
        collected,
        any::<bool>(),
        0usize..24,
    )
        .prop_map(
            |(ticker, price, currency, market, collected, simulated, drop)| {
                let fields = [
                    format!("\"ticker\":{ticker}"),
                    format!("\"price\":{price}"),
                    format!("\"currency\":{currency}"),
                    format!("\"market_time_ms\":{market}"),
                    format!("\"collected_at_ms\":{collected}"),
                    format!("\"simulated\":{simulated}"),
                ];
                // A quarter of the time one field is missing.
                let kept: Vec<&str> = fields
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != drop)
                    .map(|(_, f)| f.as_str())
                    .collect();
                format!("{{{}}}", kept.join(","))
            },
        )
}

/// Binary mode: the attributes in `ce-` headers, the data as the body.
fn binary() -> impl Strategy<Value = Delivery> {
    let base = |body: String| {
        let headers = [
            ("ce-specversion", "1.0"),
            ("ce-id", "FUZZ@1"),
            ("ce-type", QUOTE_COLLECTED),
            ("ce-source", "/tickermesh/collect"),
            ("content-type", "application/json"),
        ];
        Delivery {
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.as_bytes().to_vec()))
                .collect(),
            body: body.into_bytes(),
        }
    };
    let extra = prop_oneof![
        2 => Just(Vec::new()),
        1 => proptest::collection::vec(header(), 1..3),
    ];
    (quote_json(), extra).prop_map(move |(body, extra)| {
        let mut d = base(body);
        d.headers.extend(extra);
        d
    })
}

/// Structured mode: the whole event as a JSON body.
fn structured() -> impl Strategy<Value = Delivery> {
    let ty = prop_oneof![Just(QUOTE_COLLECTED.to_owned()), any::<String>()];
    (ty, quote_json(), json_other()).prop_map(|(ty, data, id)| {
        let ty = serde_json::Value::String(ty);
        Delivery {
            headers: vec![(
                "content-type".to_owned(),
                b"application/cloudevents+json".to_vec(),
            )],
            body: format!(
                r#"{{"specversion":"1.0","id":{id},"type":{ty},"source":"/x","datacontenttype":"application/json","data":{data}}}"#
            )
            .into_bytes(),
        }
    })
}

/// Anything: any headers, any bytes.
pub fn anything() -> impl Strategy<Value = Delivery> {
    (
        proptest::collection::vec(header(), 0..8),
        proptest::collection::vec(any::<u8>(), 0..256),
    )
        .prop_map(|(headers, body)| Delivery { headers, body })
}

/// POSTs `d` with [`NAMED`] replaced by `named`: the status, or how the request failed (a
/// dropped connection is a failure).
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    d: &Delivery,
    named: &str,
) -> Result<u16, String> {
    let body = match String::from_utf8(d.body.clone()) {
        Ok(text) => text.replace(NAMED, named).into_bytes(),
        Err(_) => d.body.clone(),
    };
    let mut request = client.post(url).body(body);
    for (name, value) in &d.headers {
        request = request.header(name.as_str(), value.as_slice());
    }
    request
        .send()
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| format!("{e:?}"))
}

fn deliveries_are_answered(backend: Backend, cases: u32) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (server, db, store) = rt.block_on(async {
        let db = TestDb::new(backend).await;
        let store = db.store().await;
        let mut bus = ChannelBus::new();
        let mut alerts = bus.topic("threshold-alerts", 16);
        // Alerts are taken as they come, so the evaluator never waits on a full channel.
        tokio::spawn(async move { while alerts.recv().await.is_some() {} });
        let evaluator = Arc::new(Evaluator::new(
            store.clone(),
            Arc::new(bus),
            "threshold-alerts",
        ));
        let server = TestServer::start(tickermesh_evaluate::router(evaluator)).await;
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
    let deliveries = prop_oneof![4 => binary(), 1 => structured(), 1 => anything()];
    // The price of the stored quote: mostly around the band (below, inside, above it), so that
    // each follows the one before within the guard's jump factor and most cases reach the
    // store; now and then far off it or at the bounds, which the guard refuses as a jump.
    let stored_price = prop_oneof![
        12 => 30.0f64..150.0,
        1 => 1e-6f64..30.0,
        1 => 150.0f64..=1e9,
        1 => Just(1e9),
    ];
    let strategy = (deliveries, stored_price);
    let n = std::sync::atomic::AtomicUsize::new(0);
    // How many were handled: the strategies must reach the store, not only the parser.
    let handled = std::sync::atomic::AtomicUsize::new(0);
    let result = runner.run(&strategy, |(delivery, price)| {
        // A fresh watcher of FUZZ each case, armed between 50 and 100, and a fresh quote of
        // FUZZ a minute old: an event that names it moves the watcher's state, and many cross
        // a threshold and store an alert.
        let n = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let email = format!("w{n}@example.com");
        let named_time = tickermesh_core::now_unix_ms() - 60_000 + n as i64;
        let quote = Quote {
            ticker: "FUZZ".to_owned(),
            price,
            currency: "USD".to_owned(),
            market_time_ms: named_time,
            collected_at_ms: named_time + 5,
            simulated: false,
            previous_close: None,
        };
        let status = rt.block_on(async {
            register(&store, &email, "FUZZ", Some(50.0), Some(100.0)).await;
            quotes::insert(store.pool(), store.backend(), &quote)
                .await
                .expect("store the quote");
            post(&client, &url, &delivery, &named_time.to_string()).await
        });
        match status {
            Ok(202) => {
                handled.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Ok(())
            }
            Ok(400 | 503) => Ok(()),
            other => Err(TestCaseError::fail(format!("{other:?} for {delivery:?}"))),
        }
    });
    drop(server);
    drop(db);
    if let Err(e) = result {
        panic!("{backend:?}: {e}");
    }
    let handled = handled.into_inner();
    assert!(handled > 0, "{backend:?}: no delivery was handled");
}

#[test]
fn cloudevents_over_http_on_sqlite() {
    deliveries_are_answered(Backend::Sqlite, 64);
}

#[test]
fn cloudevents_over_http_on_mariadb() {
    deliveries_are_answered(Backend::MariaDb, 64);
}
