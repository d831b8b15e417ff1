//! `cargo bench --bench register`: RegisterUser with an idempotency key on MariaDB, one caller
//! at a time and 64 at once, measured three ways in one run so that each figure has its floor
//! beside it:
//! 1. **commit floor**: one single-row `INSERT` committed on its own — the least any durable
//!    write costs on this machine's database (its log flushed at each commit, as configured) —
//!    through the store's pool (which pings each connection coming back to it) and on the
//!    connections the batches keep (`floor, kept`: handed on with no ping);
//! 2. **the batch alone**: a new registration's one-trip batch (user, watch, code, key and
//!    response, commit) through the same code the register function runs
//!    (`NewRegistration`, `Idempotency::execute_batch`), no gRPC;
//! 3. **the function**: the register function's production router on a loopback port, a real
//!    tonic client sending RegisterUser with a fresh idempotency key (its code's event handed
//!    to a publisher that drops it, as the broker would take it).
//!
//! `TICKERMESH_BENCH_SECS` (default 4) is how long each measurement runs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tickermesh_api::v1::{RegisterUserRequest, RegisterUserResponse};
use tickermesh_core::domain::{Email, Thresholds, Ticker, WatchRules};
use tickermesh_core::idempotency::IdempotencyKey;
use tickermesh_core::store::registration::{NewRegistration, RETURNING};
use tickermesh_core::Context;
use tickermesh_tests::access::{issuer, test_settings, Discard};
use tickermesh_tests::{keyed, new_key, Backend, TestDb, TestServer};

/// Fresh addresses across tasks and parts of the run.
static NEXT: AtomicU64 = AtomicU64::new(0);

fn next_email(part: &str) -> String {
    format!(
        "{part}-{}@example.com",
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Calls `one` from `callers` tasks for `secs`; the latencies of the calls that succeeded.
async fn drive<F, Fut>(callers: usize, secs: u64, one: F) -> (Vec<Duration>, Duration)
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let one = Arc::new(one);
    let until = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let one = one.clone();
            tokio::spawn(async move {
                let mut took = Vec::new();
                while Instant::now() < until {
                    let t = Instant::now();
                    one().await;
                    took.push(t.elapsed());
                }
                took
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("a caller"));
    }
    (all, started.elapsed())
}

fn report(part: &str, callers: usize, (mut took, elapsed): (Vec<Duration>, Duration)) {
    took.sort();
    let at = |q: f64| {
        let i = ((took.len() as f64 * q) as usize).min(took.len().saturating_sub(1));
        took.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "{part:<14} C={callers:<3} {:>7.0} calls/s  p50 {:.2} ms  p99 {:.2} ms  ({} calls)",
        took.len() as f64 / elapsed.as_secs_f64(),
        at(0.5),
        at(0.99),
        took.len()
    );
}

/// One registration's batch straight into the store, as the register function builds it.
async fn batch_once(ctx: &Context) {
    let email = Email::parse("email", &next_email("batch")).expect("an address");
    let ticker = Ticker::parse("ticker", "BENCH").expect("a ticker");
    let thresholds = Thresholds::new(None, Some(1000.0)).expect("thresholds");
    let rules = WatchRules::new(None, None).expect("rules");
    let policy = test_settings().policy;
    let mut fresh = NewRegistration::new(
        &email,
        &ticker,
        thresholds,
        rules,
        &policy,
        tickermesh_core::now_unix_ms(),
    )
    .expect("a registration");
    let response = RegisterUserResponse {
        user: Some(fresh.user.clone().into()),
        code_expires_at_unix_ms: fresh.expires_at_ms(),
    };
    let key = IdempotencyKey::parse(&new_key()).expect("a key");
    let batch = std::mem::take(&mut fresh.batch);
    let ids = ctx
        .idempotency
        .execute_batch(
            &ctx.store,
            (&key, "RegisterUser", "bench"),
            batch,
            &response,
            RETURNING,
        )
        .await
        .expect("the batch");
    assert!(ids.is_some(), "a new address goes through the batch");
}

#[tokio::main]
async fn main() {
    // `cargo test --all-targets` builds and starts benchmarks too; only `cargo bench` measures.
    if !std::env::args().any(|a| a == "--bench") {
        println!("benchmark: run it with `cargo bench --bench register`");
        return;
    }
    let secs: u64 = std::env::var("TICKERMESH_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    let db = TestDb::new(Backend::MariaDb).await;
    let ctx = db.context().await;
    sqlx::query("CREATE TABLE bench_floor (id BIGINT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64))")
        .execute(ctx.store.pool())
        .await
        .expect("the floor's table");
    let server = TestServer::start(
        tickermesh_register::router(ctx.clone(), issuer(Arc::new(Discard))).await,
    )
    .await;
    let client = server.commands().await;
    println!("RegisterUser on MariaDB, {secs} s each, the store's pool of 16 connections");
    for callers in [1, 64] {
        let store = ctx.store.clone();
        let floor = drive(callers, secs, move || {
            let store = store.clone();
            async move {
                sqlx::query("INSERT INTO bench_floor (v) VALUES (?)")
                    .bind(next_email("floor"))
                    .execute(store.pool())
                    .await
                    .expect("a one-row commit");
            }
        })
        .await;
        report("commit floor", callers, floor);
        let store = ctx.store.clone();
        let kept = drive(callers, secs, move || {
            let store = store.clone();
            async move {
                let mut lent = store
                    .batch_connections()
                    .expect("MySQL's batch connections")
                    .get()
                    .await
                    .expect("a kept connection");
                sqlx::query("INSERT INTO bench_floor (v) VALUES (?)")
                    .bind(next_email("floor"))
                    .execute(lent.connection())
                    .await
                    .expect("a one-row commit");
            }
        })
        .await;
        report("floor, kept", callers, kept);
        let c = ctx.clone();
        let batch = drive(callers, secs, move || {
            let c = c.clone();
            async move { batch_once(&c).await }
        })
        .await;
        report("batch alone", callers, batch);
        let client = client.clone();
        let function = drive(callers, secs, move || {
            let mut client = client.clone();
            async move {
                let request = RegisterUserRequest {
                    email: next_email("grpc"),
                    ticker: "BENCH".into(),
                    max_price: Some(1000.0),
                    ..Default::default()
                };
                client
                    .register_user(keyed(request, &new_key()))
                    .await
                    .expect("RegisterUser");
            }
        })
        .await;
        report("function", callers, function);
    }
}
