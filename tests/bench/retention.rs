//! `cargo bench --bench retention`: quote reads at 10,000 and 10,000,000 quotes, on MariaDB and
//! SQLite — the latest quote and the average of the last 100 of one ticker, median and p99 of
//! many calls — to show that a read costs the same whatever the table's size (each is a range
//! of the primary key); then one retention pass deleting the oldest tenth of every ticker's
//! quotes in batches, with its longest batch and the slowest write beside it.
//!
//! `TICKERMESH_BENCH_SIZES` (default `10000,10000000`) and `TICKERMESH_BENCH_BACKENDS`
//! (default `mariadb,sqlite`) pick what runs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tickermesh_core::domain::{Count, Ticker};
use tickermesh_core::store::quotes::{self, Quote};
use tickermesh_core::store::{Backend as Dialect, Store};
use tickermesh_retention::{Retention, RetentionConfig};
use tickermesh_tests::{Backend, TestDb};

const TICKERS: i64 = 100;
const MINUTE: i64 = 60_000;
const DAY: i64 = 86_400_000;
const CALLS: usize = 2_000;

/// `rows` quotes, `TICKERS` tickers of one-minute quotes each ending about now, written with
/// one `INSERT … SELECT` from a recursive CTE per ticker. Returns the first market time.
async fn fill(store: &Store, rows: i64) -> i64 {
    let per = rows / TICKERS;
    let t0 = tickermesh_core::now_unix_ms() / MINUTE * MINUTE - per * MINUTE;
    let mut conn = store.pool().acquire().await.unwrap();
    if store.backend() == Dialect::MySql {
        // MariaDB stops a recursive CTE after 1000 iterations unless told otherwise.
        sqlx::query("SET SESSION max_recursive_iterations = 100000000")
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    for t in 0..TICKERS {
        sqlx::query(
            "INSERT INTO quotes (ticker, market_time_ms, price, currency, collected_at_ms, \
             simulated, published_at_ms) \
             WITH RECURSIVE seq(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM seq WHERE n < ?) \
             SELECT ?, ? + n * 60000, 100 + (n % 1000) / 100.0, 'USD', ? + n * 60000 + 5, 0, \
             ? + n * 60000 + 6 FROM seq",
        )
        .bind(per - 1)
        .bind(format!("T{t:03}"))
        .bind(t0)
        .bind(t0)
        .bind(t0)
        .execute(&mut *conn)
        .await
        .unwrap();
    }
    t0
}

fn micros(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

/// Median and p99 of `CALLS` calls of `call`, after 100 to warm up.
async fn timed<F, Fut>(mut call: F) -> (Duration, Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..100 {
        call().await;
    }
    let mut took = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let started = Instant::now();
        call().await;
        took.push(started.elapsed());
    }
    took.sort();
    (took[CALLS / 2], took[CALLS * 99 / 100])
}

async fn reads(store: &Store, label: &str) {
    let ticker = &Ticker::parse("ticker", "T050").unwrap();
    let n = Count::parse("count", 100).unwrap();
    let pool = store.pool();
    let (median, p99) = timed(|| async move {
        let q = quotes::latest(pool, ticker).await.unwrap();
        assert!(q.is_some());
    })
    .await;
    println!(
        "  {label}: latest       median {}, p99 {}",
        micros(median),
        micros(p99)
    );
    let (median, p99) = timed(|| async move {
        let a = quotes::average(pool, ticker, n).await.unwrap();
        // 100, or what a pass left of the 10k table's hundred.
        assert!(a.is_some_and(|a| a.count >= 90));
    })
    .await;
    println!(
        "  {label}: average(100) median {}, p99 {}",
        micros(median),
        micros(p99)
    );
}

/// One retention pass deleting the oldest tenth of every ticker's quotes, batches of 1000,
/// while a writer stores a quote of another ticker every 10 ms (as collect would).
async fn pass(store: &Store, rows: i64, t0: i64) {
    let per = rows / TICKERS;
    // "now" such that the cut falls after the first tenth of each ticker's quotes.
    let now = t0 + per / 10 * MINUTE + 30 * DAY;
    let retention = Retention::new(store.clone(), RetentionConfig::default());
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (store, stop) = (store.clone(), stop.clone());
        tokio::spawn(async move {
            let (mut slowest, mut writes) = (Duration::ZERO, 0u32);
            let mut at = tickermesh_core::now_unix_ms();
            while !stop.load(Ordering::Relaxed) {
                at += 1;
                let quote = Quote {
                    ticker: "LIVE".into(),
                    price: 1.0,
                    currency: "USD".into(),
                    market_time_ms: at,
                    collected_at_ms: at,
                    simulated: false,
                    previous_close: None,
                };
                let started = Instant::now();
                quotes::insert(store.pool(), store.backend(), &quote)
                    .await
                    .unwrap();
                slowest = slowest.max(started.elapsed());
                writes += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (slowest, writes)
        })
    };
    let started = Instant::now();
    let report = retention.pass(now).await.unwrap();
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (slowest, writes) = writer.await.unwrap();
    assert_eq!(report.quotes_deleted as i64, per / 10 * TICKERS);
    println!(
        "  retention pass: {} quotes deleted in {:.2} s, {} batches of at most 1000 \
         (longest {} ms); {writes} concurrent quote writes, slowest {}",
        report.quotes_deleted,
        took.as_secs_f64(),
        report.batches,
        report.longest_batch_ms,
        micros(slowest)
    );
}

async fn run(backend: Backend, rows: i64) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let started = Instant::now();
    let t0 = fill(&store, rows).await;
    println!(
        "{backend:?}, {rows} quotes ({TICKERS} tickers × {}): filled in {:.1} s",
        rows / TICKERS,
        started.elapsed().as_secs_f64()
    );
    reads(&store, "before the pass").await;
    pass(&store, rows, t0).await;
    reads(&store, "after the pass ").await;
    store.close().await;
    if backend == Backend::MariaDb {
        drop_database(&db.url).await;
    }
}

/// The bench's MariaDB database is large: dropped when done.
async fn drop_database(url: &str) {
    use sqlx::Executor;
    let (server, name) = url.rsplit_once('/').unwrap();
    let admin = sqlx::AnyPool::connect(server).await.unwrap();
    admin
        .execute(format!("DROP DATABASE `{name}`").as_str())
        .await
        .unwrap();
    admin.close().await;
}

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("benchmark: run it with `cargo bench --bench retention`");
        return;
    }
    let list = |name: &str, default: &str| -> Vec<String> {
        std::env::var(name)
            .unwrap_or_else(|_| default.to_owned())
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let sizes: Vec<i64> = list("TICKERMESH_BENCH_SIZES", "10000,10000000")
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    let backends = list("TICKERMESH_BENCH_BACKENDS", "mariadb,sqlite");
    for rows in sizes {
        for b in &backends {
            let backend = match b.as_str() {
                "mariadb" => Backend::MariaDb,
                "sqlite" => Backend::Sqlite,
                other => panic!("TICKERMESH_BENCH_BACKENDS: unknown backend {other}"),
            };
            run(backend, rows).await;
        }
    }
}
