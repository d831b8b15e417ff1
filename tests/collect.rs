//! The collect function over HTTP: PingSource-style ticks, a fake Yahoo of the real shape,
//! quotes stored once per market time, one event per fresh quote, the breaker, bad input.

use std::sync::Arc;
use std::time::Duration;

use cloudevents::{AttributesReader, Event};
use tickermesh_collect::{CollectConfig, Collector, MarketKind, TickReport};
use tickermesh_core::events::{ChannelBus, QuoteCollected};
use tickermesh_core::store::Store;
use tickermesh_tests::db::register;
use tickermesh_tests::yahoo::{recent_s, FakeYahoo, Reply};
use tickermesh_tests::{on_both_backends, Backend, TestDb, TestServer};
use tokio::sync::mpsc::Receiver;

fn config(yahoo: &FakeYahoo, breaker_failures: u32, concurrency: usize) -> CollectConfig {
    CollectConfig {
        market: MarketKind::Yahoo,
        yahoo_base_url: yahoo.base_url().parse().unwrap(),
        yahoo_timeout: Duration::from_secs(2),
        yahoo_rate_limit: std::num::NonZeroU32::new(10_000).unwrap(),
        concurrency,
        breaker_failures,
        breaker_cooldown: Duration::from_secs(60),
        quotes_topic: "ticker-quotes".into(),
    }
}

async fn start(store: Store, config: CollectConfig) -> (TestServer, Receiver<(String, Event)>) {
    let mut bus = ChannelBus::new();
    let quotes = bus.topic("ticker-quotes", 10_000);
    let collector = Collector::new(store, &config, Arc::new(bus)).unwrap();
    let server = TestServer::start(tickermesh_collect::router(Arc::new(collector))).await;
    (server, quotes)
}

async fn ping(server: &TestServer) -> reqwest::Response {
    tickermesh_tests::ping(&server.url()).await
}

async fn report(server: &TestServer) -> TickReport {
    let response = ping(server).await;
    assert_eq!(response.status(), 200);
    let json: serde_json::Value = response.json().await.unwrap();
    serde_json::from_value(json).unwrap()
}

fn drain(rx: &mut Receiver<(String, Event)>) -> Vec<(String, QuoteCollected)> {
    let mut out = Vec::new();
    while let Ok((key, event)) = rx.try_recv() {
        assert_eq!(event.ty(), "tickermesh.quote.collected");
        out.push((key, QuoteCollected::from_event(&event).unwrap()));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

async fn collects_stores_and_publishes_fresh_quotes(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    for (email, ticker) in [
        ("a@example.com", "AAPL"),
        ("b@example.com", "AAPL"),
        ("c@example.com", "^GSPC"),
        ("d@example.com", "NOPE"),
    ] {
        register(&store, email, ticker, None, Some(1000.0)).await;
    }
    let yahoo = FakeYahoo::start().await;
    let t0 = recent_s();
    yahoo.set(
        "AAPL",
        Reply::Price {
            price: 189.5,
            market_time_s: t0,
        },
    );
    yahoo.set(
        "^GSPC",
        Reply::Price {
            price: 5000.25,
            market_time_s: t0 + 10,
        },
    );
    let (server, mut events) = start(store.clone(), config(&yahoo, 3, 16)).await;

    let r = report(&server).await;
    assert_eq!(
        (r.tickers, r.quotes, r.stored, r.not_found, r.published),
        (3, 2, 2, 1, 2)
    );
    assert_eq!(
        (r.upstream_errors, r.breaker_open),
        (0, 0),
        "404 is not a failure"
    );
    assert_eq!(yahoo.requests(), 3, "each distinct ticker once");
    let got = drain(&mut events);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].0, "AAPL", "keyed by ticker");
    assert_eq!(got[0].1.price, 189.5);
    assert_eq!(got[0].1.market_time_ms, t0 * 1000);
    assert!(!got[0].1.simulated);
    assert_eq!(got[1].1.ticker, "^GSPC");

    // Same market time again: nothing stored, nothing published.
    let r = report(&server).await;
    assert_eq!((r.quotes, r.stored, r.published), (2, 0, 0));
    assert!(drain(&mut events).is_empty());

    // A new market time for one symbol: one quote, one event.
    yahoo.set(
        "AAPL",
        Reply::Price {
            price: 190.0,
            market_time_s: t0 + 60,
        },
    );
    let r = report(&server).await;
    assert_eq!((r.stored, r.published), (1, 1));
    assert_eq!(drain(&mut events)[0].1.price, 190.0);

    let latest = tickermesh_core::store::quotes::latest(
        store.pool(),
        &tickermesh_core::domain::Ticker::parse("t", "AAPL").unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(latest.price, 190.0);
}
on_both_backends!(collect_ticks, collects_stores_and_publishes_fresh_quotes);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breaker_opens_on_upstream_failures_only() {
    let db = TestDb::new(Backend::Sqlite).await;
    let store = db.store().await;
    let yahoo = FakeYahoo::start().await;
    for t in ["A1", "A2", "A3", "A4", "A5", "A6"] {
        register(&store, &format!("{t}@example.com"), t, None, Some(10.0)).await;
        yahoo.set(t, Reply::Status(503));
    }
    let (server, _events) = start(store, config(&yahoo, 2, 1)).await;
    let r = report(&server).await;
    assert_eq!(r.upstream_errors, 2, "two failures open it");
    assert_eq!(r.breaker_open, 4, "then it fails fast");
    assert_eq!(yahoo.requests(), 2);
    // Still open on the next tick: no request goes out.
    let r = report(&server).await;
    assert_eq!((r.upstream_errors, r.breaker_open), (0, 6));
    assert_eq!(yahoo.requests(), 2);
    let metrics = tickermesh_tests::http_get(server.addr, "/metrics").await;
    assert!(
        metrics.contains("tickermesh_yahoo_breaker_state"),
        "{metrics}"
    );
    assert!(metrics.contains("tickermesh_collector_iterations_total{outcome=\"ok\"}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_symbols_do_not_trip_the_breaker() {
    let db = TestDb::new(Backend::Sqlite).await;
    let store = db.store().await;
    let yahoo = FakeYahoo::start().await;
    for t in ["N1", "N2", "N3", "N4", "OK"] {
        register(&store, &format!("{t}@example.com"), t, None, Some(10.0)).await;
    }
    yahoo.set(
        "OK",
        Reply::Price {
            price: 1.0,
            market_time_s: recent_s(),
        },
    );
    let (server, _events) = start(store, config(&yahoo, 1, 1)).await;
    let r = report(&server).await;
    assert_eq!((r.not_found, r.quotes, r.breaker_open), (4, 1, 0));
    // The next tick leaves the unknown symbols alone (they are asked for again after a day,
    // or when a watch of them changes), and the breaker is still closed.
    let r = report(&server).await;
    assert_eq!((r.not_found, r.quotes, r.breaker_open), (0, 1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_cloudevent_is_400() {
    let db = TestDb::new(Backend::Sqlite).await;
    let yahoo = FakeYahoo::start().await;
    let (server, _events) = start(db.store().await, config(&yahoo, 3, 1)).await;
    let response = reqwest::Client::new()
        .post(server.url())
        .header("ce-specversion", "0.1-bogus")
        .header("ce-type", "dev.knative.sources.ping")
        .header("ce-source", "/x")
        .header("ce-id", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let response = reqwest::Client::new()
        .post(server.url())
        .header("content-type", "application/cloudevents+json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // Structured mode is accepted too.
    let response = reqwest::Client::new()
        .post(server.url())
        .header("content-type", "application/cloudevents+json")
        .body(r#"{"specversion":"1.0","type":"dev.knative.sources.ping","source":"/apis/v1/namespaces/default/pingsources/t","id":"9"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(yahoo.requests(), 0, "no one watches anything yet");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_that_could_not_be_published_go_out_on_the_next_tick() {
    let db = TestDb::new(Backend::Sqlite).await;
    let store = db.store().await;
    register(&store, "o@example.com", "OUT", None, Some(10.0)).await;
    let yahoo = FakeYahoo::start().await;
    yahoo.set(
        "OUT",
        Reply::Price {
            price: 5.0,
            market_time_s: recent_s(),
        },
    );
    // A bus whose consumer is gone: publishing fails.
    let (server, events) = start(store.clone(), config(&yahoo, 3, 1)).await;
    drop(events);
    let response = ping(&server).await;
    assert_eq!(response.status(), 503, "the tick must be retried");
    assert!(!response.text().await.unwrap().contains("SELECT"));

    let (server, mut events) = start(store, config(&yahoo, 3, 1)).await;
    let r = report(&server).await;
    assert_eq!(
        (r.stored, r.published),
        (0, 1),
        "stored before, published now"
    );
    assert_eq!(drain(&mut events).len(), 1);
}

/// The collector never asks the market data service for more than its rate limit in any
/// second, and leaves it alone for as long as a `429`'s `Retry-After` says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_keep_to_the_rate_limit_and_honour_retry_after() {
    let db = TestDb::new(Backend::Sqlite).await;
    let store = db.store().await;
    let yahoo = FakeYahoo::start().await;
    for i in 0..30 {
        let t = format!("R{i:02}");
        register(&store, &format!("{t}@example.com"), &t, None, Some(1000.0)).await;
        let reply = Reply::Price {
            price: 10.0,
            market_time_s: recent_s(),
        };
        yahoo.set(&t, reply);
    }
    let mut config = config(&yahoo, 100, 30);
    config.yahoo_rate_limit = std::num::NonZeroU32::new(20).unwrap();
    let (server, _events) = start(store.clone(), config).await;
    let r = report(&server).await;
    assert_eq!(r.quotes, 30);
    let arrivals = yahoo.arrivals();
    for (i, first) in arrivals.iter().enumerate() {
        let within_a_second = arrivals[i..]
            .iter()
            .take_while(|t| t.duration_since(*first) < std::time::Duration::from_secs(1))
            .count();
        assert!(
            within_a_second <= 20,
            "{within_a_second} requests in one second"
        );
    }

    // One symbol (asked first) answers 429 with Retry-After: 2; nothing goes out for those
    // two seconds once the answer is read. Requests that passed the limiter before it was read
    // (one every 50 ms) still go: on a busy machine that can be a few, so the quiet spell seen
    // here may be a little under the 2 s, never near the 50 ms spacing.
    register(&store, "slow@example.com", "A429", None, Some(1000.0)).await;
    yahoo.set("A429", Reply::TooMany { retry_after_s: 2 });
    // The limiter's one permit is back (the first tick took its last just now): the tick's
    // first symbol, A429, takes it at once. Without it all wait alike and any may go first.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let before = yahoo.arrivals().len();
    report(&server).await;
    let arrivals = yahoo.arrivals();
    let after = &arrivals[before..];
    let longest = after
        .windows(2)
        .map(|w| w[1].duration_since(w[0]))
        .max()
        .unwrap_or_default();
    assert!(
        longest >= std::time::Duration::from_millis(1_500),
        "no pause after the 429: {} requests, longest gap {longest:?}",
        after.len()
    );
}
