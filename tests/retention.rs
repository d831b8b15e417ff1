//! The retention function over HTTP, on SQLite and MariaDB, ticked as Knative's PingSource
//! does: exactly the quotes and alerts older than their retention go (each ticker's newest
//! quote stays; an alert's delivery record goes with it), in batches of the configured size,
//! and nothing else; a tick's time is its "now", but never later than the clock.

use std::sync::Arc;
use std::time::Duration;

use tickermesh_core::store::Store;
use tickermesh_retention::{PassReport, Retention, RetentionConfig};
use tickermesh_tests::{on_both_backends, Backend, TestDb, TestServer};

const DAY: i64 = 86_400_000;
/// 2026-11-26T12:00:00Z, the time of the ticks below.
const T: i64 = 1_795_694_400_000;
const TICK_TIME: &str = "2026-11-26T12:00:00Z";

fn config() -> RetentionConfig {
    RetentionConfig {
        quotes: Duration::from_secs(30 * 86_400),
        alerts: Duration::from_secs(180 * 86_400),
        batch: 3,
    }
}

async fn start(store: &Store) -> TestServer {
    tickermesh_tests::init_logs();
    let retention = Arc::new(Retention::new(store.clone(), config()));
    TestServer::start(tickermesh_retention::router(retention)).await
}

/// A PingSource tick stamped `time` (binary mode, no body).
async fn tick(server: &TestServer, time: &str) -> PassReport {
    tick_url(&server.url(), time).await
}

async fn tick_url(url: &str, time: &str) -> PassReport {
    let r = reqwest::Client::new()
        .post(url)
        .header("ce-specversion", "1.0")
        .header("ce-type", "dev.knative.sources.ping")
        .header(
            "ce-source",
            "/apis/v1/namespaces/tickermesh/pingsources/retention",
        )
        .header("ce-id", uuid::Uuid::new_v4().to_string())
        .header("ce-time", time)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn quote(store: &Store, ticker: &str, market_time_ms: i64) {
    sqlx::query(
        "INSERT INTO quotes (ticker, market_time_ms, price, currency, collected_at_ms, simulated, \
         published_at_ms) VALUES (?, ?, 1.5, 'USD', ?, 0, ?)",
    )
    .bind(ticker)
    .bind(market_time_ms)
    .bind(market_time_ms + 5)
    .bind(market_time_ms + 6)
    .execute(store.pool())
    .await
    .unwrap();
}

/// An alert made at `created_at_ms`, handed to the broker at `published_at_ms`, and notify's
/// record of it when `sent`.
async fn alert(
    store: &Store,
    id: &str,
    created_at_ms: i64,
    published_at_ms: Option<i64>,
    sent: bool,
) {
    sqlx::query(
        "INSERT INTO alerts (alert_id, email, ticker, price, currency, threshold, direction, \
         market_time_ms, simulated, created_at_ms, published_at_ms) \
         VALUES (?, 'r@example.com', 'AAA', 2.0, 'USD', 1.0, 'above', ?, 0, ?, ?)",
    )
    .bind(id)
    .bind(created_at_ms - 100)
    .bind(created_at_ms)
    .bind(published_at_ms)
    .execute(store.pool())
    .await
    .unwrap();
    if sent {
        sqlx::query(
            "INSERT INTO sent_alerts (alert_id, outcome, detail, handled_at_ms) \
             VALUES (?, 'sent', NULL, ?)",
        )
        .bind(id)
        .bind(created_at_ms + 50)
        .execute(store.pool())
        .await
        .unwrap();
    }
}

async fn quotes_left(store: &Store) -> Vec<(String, i64)> {
    sqlx::query_as("SELECT ticker, market_time_ms FROM quotes ORDER BY ticker, market_time_ms")
        .fetch_all(store.pool())
        .await
        .unwrap()
}

async fn ids_left(store: &Store, table: &str) -> Vec<String> {
    let sql = format!("SELECT alert_id FROM {table} ORDER BY alert_id");
    sqlx::query_scalar(&sql)
        .fetch_all(store.pool())
        .await
        .unwrap()
}

async fn deletes_exactly_the_old_rows(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let server = start(&store).await;
    let quote_cut = T - 30 * DAY;
    let alert_cut = T - 180 * DAY;
    let minute = 60_000;

    // AAA: 7 old quotes, one exactly at the cut (kept: "older than"), one recent.
    for k in 1..=7 {
        quote(&store, "AAA", quote_cut - k * minute).await;
    }
    quote(&store, "AAA", quote_cut).await;
    quote(&store, "AAA", T - 3_600_000).await;
    // BBB: only old quotes; the newest stays so that its latest price still answers.
    for k in 1..=4 {
        quote(&store, "BBB", quote_cut - k * minute).await;
    }
    // CCC: only recent ones.
    quote(&store, "CCC", T - 2 * minute).await;
    quote(&store, "CCC", T - minute).await;

    // Old: two never published, four published (two of them mailed).
    alert(&store, "old-u1", alert_cut - 1_000, None, false).await;
    alert(&store, "old-u2", alert_cut - 2_000, None, false).await;
    for k in 1..=4 {
        let created = alert_cut - k * 1_000 - 500;
        alert(
            &store,
            &format!("old-p{k}"),
            created,
            Some(created + 10),
            k <= 2,
        )
        .await;
    }
    // Kept: made exactly at the cut; made before it but published after (taken by a later
    // pass, once its publication is old too); recent and mailed.
    alert(&store, "keep-edge", alert_cut, Some(alert_cut + 10), true).await;
    alert(
        &store,
        "keep-late",
        alert_cut - 1,
        Some(alert_cut + 5),
        false,
    )
    .await;
    alert(&store, "keep-new", T - DAY, Some(T - DAY + 10), true).await;

    let report = tick(&server, TICK_TIME).await;
    assert!(!report.skipped);
    assert_eq!(report.now_ms, T);
    assert_eq!(
        (report.quotes_before_ms, report.alerts_before_ms),
        (quote_cut, alert_cut)
    );
    assert_eq!(report.quotes_deleted, 7 + 3, "{report:?}");
    assert_eq!(report.alerts_deleted, 6, "{report:?}");
    // Batches of 3: AAA 3+3+1, BBB 3+0, CCC 0; alerts (2 unpublished + 1) + 3 + 0.
    assert_eq!(report.batches, 3 + 2 + 1 + 3, "{report:?}");

    let want: Vec<(String, i64)> = [
        ("AAA", quote_cut),
        ("AAA", T - 3_600_000),
        ("BBB", quote_cut - minute),
        ("CCC", T - 2 * minute),
        ("CCC", T - minute),
    ]
    .into_iter()
    .map(|(t, m)| (t.to_owned(), m))
    .collect();
    assert_eq!(quotes_left(&store).await, want);
    assert_eq!(
        ids_left(&store, "alerts").await,
        ["keep-edge", "keep-late", "keep-new"]
    );
    assert_eq!(
        ids_left(&store, "sent_alerts").await,
        ["keep-edge", "keep-new"]
    );

    // Again at the same time: nothing more to do, one short batch per range.
    let again = tick(&server, TICK_TIME).await;
    assert_eq!((again.quotes_deleted, again.alerts_deleted), (0, 0));
    assert_eq!(again.batches, 3 + 1);
    assert_eq!(quotes_left(&store).await, want);

    // Half a day later the late one's publication is old too; the edge one's creation as well.
    let report = tick(&server, "2026-11-27T00:00:00Z").await;
    assert_eq!(report.alerts_deleted, 2, "{report:?}");
    assert_eq!(ids_left(&store, "alerts").await, ["keep-new"]);
    assert_eq!(ids_left(&store, "sent_alerts").await, ["keep-new"]);
    // AAA's quote at the old cut is older than the new one now.
    assert_eq!(report.quotes_deleted, 1, "{report:?}");

    let metrics = tickermesh_tests::http_get(server.addr, "/metrics").await;
    for table in ["quotes", "alerts"] {
        let series = format!("tickermesh_retention_rows_deleted_total{{table=\"{table}\"}} ");
        let value = metrics
            .lines()
            .find_map(|l| l.strip_prefix(series.as_str()))
            .and_then(|v| v.trim().parse::<f64>().ok());
        // Other tests of this binary run in the same process: at least this test's rows.
        assert!(
            value.is_some_and(|v| v >= 8.0),
            "{series}: {value:?}\n{metrics}"
        );
    }
}
on_both_backends!(retention_pass, deletes_exactly_the_old_rows);

/// A tick stamped in the future deletes no more than one stamped now: "now" is capped at the
/// clock, so a skewed or forged time cannot empty the tables.
async fn a_future_tick_is_now(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let server = start(&store).await;
    let now = tickermesh_core::now_unix_ms();
    quote(&store, "DDD", now - 2 * DAY).await;
    quote(&store, "DDD", now - DAY).await;
    alert(&store, "recent", now - DAY, Some(now - DAY + 10), true).await;
    let report = tick(&server, "2100-01-01T00:00:00Z").await;
    assert!(report.now_ms >= now && report.now_ms <= tickermesh_core::now_unix_ms());
    assert_eq!((report.quotes_deleted, report.alerts_deleted), (0, 0));
    assert_eq!(quotes_left(&store).await.len(), 2);
    assert_eq!(ids_left(&store, "sent_alerts").await, ["recent"]);

    // Not a CloudEvent: refused, nothing done.
    let r = reqwest::Client::new()
        .post(server.url())
        .body("tick")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}
on_both_backends!(future_tick, a_future_tick_is_now);

/// The container binary: a bad setting → exit 2 naming it; otherwise it serves the tick on
/// `PORT` over the configured database, and SIGTERM stops it cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_function_binary_runs_a_pass() {
    use tickermesh_tests::proc::{free_port, workspace_bin, Proc};
    for (var, value) in [
        ("TICKERMESH_QUOTE_RETENTION", "30s"),
        ("TICKERMESH_ALERT_RETENTION", "forever"),
        // Under two days: a held or undelivered alert could go before its e-mail.
        ("TICKERMESH_ALERT_RETENTION", "1day"),
        ("TICKERMESH_RETENTION_BATCH", "0"),
    ] {
        let out = std::process::Command::new(workspace_bin("tickermesh-retention"))
            .env(var, value)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{var}={value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(var), "{var}={value}: {stderr}");
    }

    let db = TestDb::new(Backend::Sqlite).await;
    let store = db.store().await;
    for k in 1..=3 {
        quote(&store, "EEE", T - 30 * DAY - k).await;
    }
    quote(&store, "EEE", T).await;
    let port = free_port().to_string();
    let env = [
        ("PORT", port.as_str()),
        ("TICKERMESH_DATABASE_URL", db.url.as_str()),
        ("TICKERMESH_RETENTION_BATCH", "2"),
    ];
    let mut function = Proc::spawn("tickermesh-retention", &env);
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    tickermesh_tests::eventually(Duration::from_secs(10), "the function", || async {
        let r = client.get(format!("{url}/healthz")).send().await.ok()?;
        (r.status() == 200).then_some(())
    })
    .await;
    let server_addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let report = tick_url(&url, TICK_TIME).await;
    assert_eq!(
        (report.quotes_deleted, report.batches),
        (3, 2 + 1),
        "{report:?}"
    );
    assert_eq!(quotes_left(&store).await, [("EEE".to_owned(), T)]);
    let metrics = tickermesh_tests::http_get(server_addr, "/metrics").await;
    assert!(
        metrics.contains("tickermesh_retention_rows_deleted_total{table=\"quotes\"} 3"),
        "{metrics}"
    );
    let status = function
        .terminate(Duration::from_secs(10))
        .expect("exits after SIGTERM");
    assert!(status.success(), "{status}");
}
