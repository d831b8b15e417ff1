//! `cargo bench --bench evaluate`: one quote for many watchers of one ticker, on MariaDB and
//! SQLite — the first quote after they registered, quotes crossing none of them, all of them,
//! and bringing all back inside — then the alerts outbox published.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tickermesh_core::events::{ChannelBus, QuoteCollected};
use tickermesh_core::store::Store;
use tickermesh_evaluate::Evaluator;
use tickermesh_tests::yahoo::recent_s;
use tickermesh_tests::{Backend, TestDb};

/// `n` users watching `BIG` between 50 and 150, inserted in bulk.
async fn watchers(store: &Store, n: usize) {
    let now = tickermesh_core::now_unix_ms();
    for start in (0..n).step_by(1_000) {
        let end = (start + 1_000).min(n);
        let users: Vec<String> = (start..end)
            .map(|i| format!("('b{i}@example.com', {now}, {now})"))
            .collect();
        let sql = format!(
            "INSERT INTO users (email, created_at_ms, updated_at_ms) VALUES {}",
            users.join(", ")
        );
        sqlx::query(&sql).execute(store.pool()).await.unwrap();
    }
    let sql = format!(
        "INSERT INTO subscriptions (user_id, ticker, min_price, max_price, created_at_ms, \
         updated_at_ms) SELECT id, 'BIG', 50, 150, {now}, {now} FROM users"
    );
    sqlx::query(&sql).execute(store.pool()).await.unwrap();
}

async fn run(backend: Backend, n: usize) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    watchers(&store, n).await;
    let mut bus = ChannelBus::new();
    let _alerts = bus.topic("threshold-alerts", 400_000);
    // The outbox is published apart from the evaluation being measured.
    let evaluator = Evaluator::new(store.clone(), Arc::new(bus), "threshold-alerts");
    let t0 = recent_s() * 1000;
    let at = |k: i64, price: f64| QuoteCollected {
        ticker: "BIG".into(),
        price,
        currency: "USD".into(),
        market_time_ms: t0 + k * 60_000,
        collected_at_ms: t0,
        simulated: false,
        previous_close: Some(100.0),
    };
    let time = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    let steps = [
        (
            1,
            100.0,
            "is the first after they registered (crosses nobody)",
        ),
        (2, 101.0, "crosses nobody"),
        (3, 200.0, "crosses all"),
        (4, 210.0, "crosses nobody (all above)"),
        (5, 100.0, "brings all back inside"),
        (6, 100.5, "crosses nobody"),
        (7, 40.0, "crosses all (below)"),
        (8, 100.0, "brings all back inside"),
    ];
    for (k, price, what) in steps {
        let quote = at(k, price);
        let started = Instant::now();
        let alerts = evaluator.store_alerts(&quote).await.unwrap();
        let evaluated = started.elapsed();
        let started = Instant::now();
        evaluator.publish_pending().await.unwrap();
        println!(
            "evaluate {backend:?}, {n} watchers, a quote that {what}: {} ({alerts} alerts \
             stored), then published in {}",
            time(evaluated),
            time(started.elapsed())
        );
        if k == 1 {
            // The first quote wrote every new subscription once; quotes come a minute apart,
            // time in which MariaDB purges the index entries that write left behind (until
            // then range scans step over them).
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    }
}

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("benchmark: run it with `cargo bench --bench evaluate`");
        return;
    }
    for n in [10_000, 100_000] {
        run(Backend::MariaDb, n).await;
        run(Backend::Sqlite, n).await;
    }
}
