//! evaluate by sets, against the model: for many watchers with all kinds of thresholds, a walk
//! of prices and thresholds changed on the way, the alerts stored are exactly those the
//! edge-triggered rules of `crossing.rs` give, watcher by watcher; a redelivered or older
//! quote changes nothing, and a quote that moves nobody writes nothing to the subscriptions.
//! Then the checks on quote events, over HTTP: a forged source and an absurd jump are refused
//! and counted, a normal quote still alerts.

use std::collections::BTreeMap;
use std::sync::Arc;

use tickermesh_core::events::{ChannelBus, Direction, QuoteCollected};
use tickermesh_core::store::{evaluation, Store};
use tickermesh_evaluate::crossing::{decide, position, AlertState};
use tickermesh_evaluate::Evaluator;
use tickermesh_tests::db::{register, store_quote};
use tickermesh_tests::yahoo::recent_s;
use tickermesh_tests::{http_get, on_both_backends, Backend, TestDb, TestServer};

/// The thresholds of watcher `i`: bands of different widths, one side only, or none.
fn band(i: usize) -> (Option<f64>, Option<f64>) {
    let lo = 60.0 + (i % 9) as f64 * 3.0;
    let hi = 130.0 + (i % 7) as f64 * 5.0;
    match i % 5 {
        0 => (Some(lo), None),
        1 => (None, Some(hi)),
        2 => (None, None),
        _ => (Some(lo), Some(hi)),
    }
}

/// The new band of watcher `i` when its thresholds change on the way (every fourth one).
fn changed_band(i: usize) -> (Option<f64>, Option<f64>) {
    (
        Some(45.0 + (i % 4) as f64),
        Some(110.0 + (i % 6) as f64 * 2.0),
    )
}

/// Every subscription row as it is stored, to see that a quote wrote none.
async fn snapshot(store: &Store) -> Vec<(i64, String, Option<i64>)> {
    sqlx::query_as(
        "SELECT id, alert_state, evaluated_market_time_ms FROM subscriptions ORDER BY id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap()
}

fn quote(ticker: &str, market_time_ms: i64, price: f64) -> QuoteCollected {
    QuoteCollected {
        ticker: ticker.into(),
        price,
        currency: "USD".into(),
        market_time_ms,
        collected_at_ms: market_time_ms,
        simulated: false,
    }
}

async fn matches_the_model(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    const N: usize = 120;
    let mut bands: Vec<_> = (0..N).map(band).collect();
    for (i, (min, max)) in bands.iter().enumerate() {
        register(&store, &format!("w{i}@example.com"), "SET", *min, *max).await;
    }
    let mut bus = ChannelBus::new();
    let _alerts = bus.topic("threshold-alerts", 10_000);
    let evaluator = Evaluator::new(store.clone(), Arc::new(bus), "threshold-alerts");

    let mut model = [AlertState::Armed; N];
    let mut expected: BTreeMap<(String, &str), i64> = BTreeMap::new();
    let t0 = recent_s() * 1000;
    let prices = [
        100.0, 160.0, 170.0, 100.0, 40.0, 45.0, 200.0, 100.0, 100.5, 61.0, 150.0, 120.0, 44.0,
    ];
    for (k, price) in prices.into_iter().enumerate() {
        if k == 5 || k == 10 {
            // Thresholds changed between quotes: the update re-arms (as users::update does).
            for i in (k % 4..N).step_by(4) {
                bands[i] = changed_band(i + k);
                let (min, max) = bands[i];
                sqlx::query(
                    "UPDATE subscriptions SET min_price = ?, max_price = ?, \
                     alert_state = 'armed', evaluated_market_time_ms = NULL \
                     WHERE user_id = (SELECT id FROM users WHERE email = ?)",
                )
                .bind(min)
                .bind(max)
                .bind(format!("w{i}@example.com"))
                .execute(store.pool())
                .await
                .unwrap();
                model[i] = AlertState::Armed;
            }
        }
        let quote = quote("SET", t0 + k as i64 * 60_000, price);
        let mut alerts_now = 0;
        for (i, state) in model.iter_mut().enumerate() {
            let (min, max) = bands[i];
            let (next, alert) = decide(*state, position(price, min, max));
            *state = next;
            if let Some(d) = alert {
                *expected
                    .entry((format!("w{i}@example.com"), d.as_str()))
                    .or_default() += 1;
                alerts_now += 1;
            }
        }
        let before = snapshot(&store).await;
        let created = evaluator.evaluate(&quote).await.unwrap();
        assert_eq!(created, alerts_now, "quote {k} at {price}");
        if k == 8 {
            // 100 → 100.5 moves nobody: not a single subscription is written.
            assert_eq!(snapshot(&store).await, before);
        }
        // The same quote again, and an older one: nothing.
        assert_eq!(evaluator.evaluate(&quote).await.unwrap(), 0, "redelivery");
        let older = QuoteCollected {
            market_time_ms: quote.market_time_ms - 30_000,
            price: 1.0,
            ..quote.clone()
        };
        assert_eq!(evaluator.evaluate(&older).await.unwrap(), 0, "older quote");
    }
    let rows: Vec<(String, String, String, i64, i64)> = sqlx::query_as(
        "SELECT a.email, a.direction, a.alert_id, a.market_time_ms, s.id FROM alerts a \
         JOIN users u ON u.email = a.email JOIN subscriptions s ON s.user_id = u.id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let mut stored: BTreeMap<(String, &str), i64> = BTreeMap::new();
    for (email, direction, id, time, subscription) in rows {
        let d = if direction == "above" {
            Direction::Above
        } else {
            Direction::Below
        };
        assert_eq!(id, evaluation::alert_id("SET", subscription, d, time));
        *stored.entry((email, d.as_str())).or_default() += 1;
    }
    assert_eq!(stored, expected);
    // Where each subscription stands, as shown to its user, is the model's.
    let states: Vec<(String, String)> = sqlx::query_as(&format!(
        "SELECT u.email, {} FROM subscriptions s JOIN users u ON u.id = s.user_id \
         LEFT JOIN quote_evaluations e ON e.ticker = s.ticker",
        evaluation::ALERT_STATE_SQL
    ))
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(states.len(), N);
    for (email, state) in states {
        let i: usize = email[1..email.find('@').unwrap()].parse().unwrap();
        assert_eq!(state, model[i].as_str(), "{email}");
    }
}
on_both_backends!(set_based_evaluation, matches_the_model);

/// Subscriptions evaluated before the ticker kept its last price (rows from before the
/// migration: `above`, `below`) are judged on their own state once, then follow the price.
async fn states_from_before_are_kept(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    for (email, state) in [("up@x.example", "above"), ("down@x.example", "below")] {
        register(&store, email, "OLD", Some(50.0), Some(100.0)).await;
        sqlx::query(
            "UPDATE subscriptions SET alert_state = ?, evaluated_market_time_ms = 1 \
             WHERE user_id = (SELECT id FROM users WHERE email = ?)",
        )
        .bind(state)
        .bind(email)
        .execute(store.pool())
        .await
        .unwrap();
    }
    register(&store, "new@x.example", "OLD", Some(50.0), Some(100.0)).await;
    let t0 = recent_s() * 1000;
    sqlx::query("INSERT INTO quote_evaluations (ticker, market_time_ms) VALUES ('OLD', ?)")
        .bind(t0)
        .execute(store.pool())
        .await
        .unwrap();
    let mut bus = ChannelBus::new();
    let _alerts = bus.topic("threshold-alerts", 100);
    let evaluator = Evaluator::new(store.clone(), Arc::new(bus), "threshold-alerts");
    // 120: the row already above stays quiet, the one below and the new one cross.
    let walk = [(120.0, 2), (130.0, 0), (90.0, 0), (40.0, 3), (120.0, 3)];
    for (k, (price, alerts)) in walk.into_iter().enumerate() {
        let q = quote("OLD", t0 + (k as i64 + 1) * 60_000, price);
        assert_eq!(evaluator.evaluate(&q).await.unwrap(), alerts, "at {price}");
    }
}
on_both_backends!(states_from_before, states_from_before_are_kept);

/// The outbox goes out whole and once: 2,500 alerts of one quote, published in batches (read
/// on from a cursor while the batch before is marked), each id once on the bus, none left.
async fn outbox_goes_out_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    const N: usize = 2_500;
    let users: Vec<String> = (0..N)
        .map(|i| format!("('p{i}@example.com', 1, 1)"))
        .collect();
    let sql = format!(
        "INSERT INTO users (email, created_at_ms, updated_at_ms) VALUES {}",
        users.join(", ")
    );
    sqlx::query(&sql).execute(store.pool()).await.unwrap();
    sqlx::query(
        "INSERT INTO subscriptions (user_id, ticker, min_price, max_price, created_at_ms, \
         updated_at_ms) SELECT id, 'PUB', 50, 150, 1, 1 FROM users",
    )
    .execute(store.pool())
    .await
    .unwrap();
    let mut bus = ChannelBus::new();
    let mut alerts = bus.topic("threshold-alerts", 2 * N);
    let evaluator = Evaluator::new(store.clone(), Arc::new(bus), "threshold-alerts");
    let t0 = recent_s() * 1000;
    assert_eq!(
        evaluator.evaluate(&quote("PUB", t0, 100.0)).await.unwrap(),
        0
    );
    let crossing = quote("PUB", t0 + 60_000, 200.0);
    assert_eq!(evaluator.evaluate(&crossing).await.unwrap(), N);
    assert_eq!(
        evaluator.publish_pending().await.unwrap(),
        0,
        "nothing left"
    );
    let mut ids = std::collections::BTreeSet::new();
    while let Ok((_, event)) = alerts.try_recv() {
        assert!(ids.insert(cloudevents::AttributesReader::id(&event).to_owned()));
    }
    assert_eq!(ids.len(), N);
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM alerts WHERE published_at_ms IS NULL")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(left, 0);
}
on_both_backends!(outbox, outbox_goes_out_once);

/// POSTs `quote`'s event as the collector does, from `source`.
async fn post_quote(url: &str, quote: &QuoteCollected, source: &str) -> u16 {
    reqwest::Client::new()
        .post(url)
        .header("ce-specversion", "1.0")
        .header(
            "ce-id",
            format!("{}@{}", quote.ticker, quote.market_time_ms),
        )
        .header("ce-type", "tickermesh.quote.collected")
        .header("ce-source", source)
        .header("content-type", "application/json")
        .body(serde_json::to_string(quote).unwrap())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// `tickermesh_quotes_refused_total{reason}` as the function's `/metrics` says.
async fn refused(server: &TestServer, reason: &str) -> u64 {
    let metrics = http_get(server.addr, "/metrics").await;
    let line = format!("tickermesh_quotes_refused_total{{reason=\"{reason}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(line.as_str()))
        .unwrap_or_else(|| panic!("no {line} in {metrics}"))
        .trim()
        .parse()
        .unwrap()
}

/// Over the wire, on both backends in turn (the counters are the process's): a quote event
/// from another source is refused, counted and alerts nobody; so is a price ten times off
/// the ticker's previous prices; a normal quote after it still alerts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quote_events_are_checked_against_their_source_and_the_last_price() {
    for backend in [Backend::Sqlite, Backend::MariaDb] {
        let db = TestDb::new(backend).await;
        let store = db.store().await;
        register(&store, "g@example.com", "GRD", None, Some(100.0)).await;
        let mut bus = ChannelBus::new();
        let mut alerts = bus.topic("threshold-alerts", 16);
        let evaluator = Arc::new(Evaluator::new(
            store.clone(),
            Arc::new(bus),
            "threshold-alerts",
        ));
        let server = TestServer::start(tickermesh_evaluate::router(evaluator)).await;
        let url = server.url();
        let collector = tickermesh_core::events::checks::COLLECTOR_SOURCE;
        let t = recent_s() * 1000 - 10 * 60_000;
        let at = |k: i64, price: f64| quote("GRD", t + k * 60_000, price);
        for q in [at(0, 90.0), at(1, 120.0), at(2, 5_000.0), at(3, 121.0)] {
            store_quote(&store, &q).await;
        }
        assert_eq!(post_quote(&url, &at(0, 90.0), collector).await, 202);

        let before = refused(&server, "source").await;
        let forged = "/apis/v1/namespaces/default/kafkasources/tickermesh-quotes#ticker-quotes";
        assert_eq!(
            post_quote(&url, &at(1, 120.0), forged).await,
            400,
            "{backend:?}"
        );
        assert_eq!(refused(&server, "source").await, before + 1);
        assert!(alerts.try_recv().is_err(), "a forged source alerts nobody");

        // 5,000 after 120 (collected) and 90 (evaluated): more than ten times both.
        let before = refused(&server, "jump").await;
        assert_eq!(post_quote(&url, &at(2, 5_000.0), collector).await, 400);
        assert_eq!(refused(&server, "jump").await, before + 1);
        assert!(alerts.try_recv().is_err(), "an absurd jump alerts nobody");

        // 121 follows the last evaluated 90 closely: evaluated, and it crosses 100.
        assert_eq!(post_quote(&url, &at(3, 121.0), collector).await, 202);
        let (key, _) = alerts.recv().await.unwrap();
        assert_eq!(key, "g@example.com");
    }
}
