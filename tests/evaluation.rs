//! evaluate by sets, against the model: for many watchers with all kinds of thresholds and a
//! walk of prices, the alerts stored are exactly those the edge-triggered rules of
//! `crossing.rs` give, watcher by watcher; a redelivered or older quote changes nothing, and a
//! quote that moves nobody writes nothing to the subscriptions.

use std::collections::BTreeMap;
use std::sync::Arc;

use tickermesh_core::events::{ChannelBus, Direction, QuoteCollected};
use tickermesh_evaluate::crossing::{decide, position, AlertState};
use tickermesh_evaluate::Evaluator;
use tickermesh_tests::db::register;
use tickermesh_tests::yahoo::recent_s;
use tickermesh_tests::{on_both_backends, Backend, TestDb};

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

async fn count(store: &tickermesh_core::store::Store, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

async fn matches_the_model(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    const N: usize = 120;
    for i in 0..N {
        let (min, max) = band(i);
        register(&store, &format!("w{i}@example.com"), "SET", min, max).await;
    }
    let mut bus = ChannelBus::new();
    let _alerts = bus.topic("threshold-alerts", 10_000);
    let evaluator = Evaluator::new(store.clone(), Arc::new(bus), "threshold-alerts");

    let mut model = [AlertState::Armed; N];
    let mut expected: BTreeMap<(String, &str), i64> = BTreeMap::new();
    let t0 = recent_s() * 1000;
    let prices = [
        100.0, 160.0, 170.0, 100.0, 40.0, 45.0, 200.0, 100.0, 100.5, 61.0, 150.0,
    ];
    for (k, price) in prices.into_iter().enumerate() {
        let quote = QuoteCollected {
            ticker: "SET".into(),
            price,
            currency: "USD".into(),
            market_time_ms: t0 + k as i64 * 60_000,
            collected_at_ms: t0,
            simulated: false,
        };
        let mut alerts_now = 0;
        for (i, state) in model.iter_mut().enumerate() {
            let (min, max) = band(i);
            if min.is_none() && max.is_none() {
                continue;
            }
            let (next, alert) = decide(*state, position(price, min, max));
            *state = next;
            if let Some(d) = alert {
                let direction = match d {
                    Direction::Above => "above",
                    Direction::Below => "below",
                };
                *expected
                    .entry((format!("w{i}@example.com"), direction))
                    .or_default() += 1;
                alerts_now += 1;
            }
        }
        let writes_before = count(
            &store,
            "SELECT COUNT(*) FROM subscriptions WHERE evaluated_market_time_ms IS NOT NULL",
        )
        .await;
        let created = evaluator.evaluate(&quote).await.unwrap();
        assert_eq!(created, alerts_now, "quote {k} at {price}");
        if k == 8 {
            // 100 → 100.5 moves nobody: not a single subscription is written.
            let after = count(
                &store,
                "SELECT COUNT(*) FROM subscriptions WHERE evaluated_market_time_ms IS NOT NULL",
            )
            .await;
            assert_eq!(after, writes_before);
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
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT email, payload FROM alerts")
        .fetch_all(store.pool())
        .await
        .unwrap();
    let mut stored: BTreeMap<(String, &str), i64> = BTreeMap::new();
    for (email, payload) in rows {
        let direction = if payload.contains("\"direction\":\"above\"") {
            "above"
        } else {
            "below"
        };
        *stored.entry((email, direction)).or_default() += 1;
    }
    assert_eq!(stored, expected);
    // Every subscription's state is the model's.
    let states: Vec<(String, String)> = sqlx::query_as(
        "SELECT u.email, s.alert_state FROM subscriptions s JOIN users u ON u.id = s.user_id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    for (email, state) in states {
        let i: usize = email[1..email.find('@').unwrap()].parse().unwrap();
        assert_eq!(state, model[i].as_str(), "{email}");
    }
}
on_both_backends!(set_based_evaluation, matches_the_model);
