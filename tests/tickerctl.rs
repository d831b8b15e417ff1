//! The `tickerctl` binary against a real mesh: human and JSON output, server errors as a
//! non-zero exit with the server's message, retries against an endpoint that is down.

use tickermesh_tests::db::insert_prices;
use tickermesh_tests::proc::{free_port, stdout, tickerctl};
use tickermesh_tests::{spawn_mesh, Backend, TestDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_and_queries_from_the_cli() {
    let db = TestDb::new(Backend::Sqlite).await;
    let (server, ctx) = spawn_mesh(&db).await;
    let ep = server.url();

    let out = stdout(
        &tickerctl(
            &ep,
            &["register", "cli@example.com", "aapl", "--max", "250"],
        )
        .await,
    );
    assert!(
        out.contains("registered cli@example.com watching AAPL (min none, max 250)"),
        "{out}"
    );

    let out = stdout(
        &tickerctl(
            &ep,
            &["update", "cli@example.com", "--min", "100", "--clear-max"],
        )
        .await,
    );
    assert!(out.contains("(min 100, max none)"), "{out}");

    insert_prices(&ctx.store, "AAPL", &[10.0, 20.0, 30.0, 100.0]).await;
    let out = stdout(&tickerctl(&ep, &["--json", "latest", "cli@example.com"]).await);
    let json: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(json["price"], 100.0);
    assert_eq!(json["ticker"], "AAPL");

    let out = stdout(&tickerctl(&ep, &["--json", "average", "cli@example.com", "-n", "2"]).await);
    let json: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(json["average"], 65.0);
    assert_eq!(json["count_used"], 2);

    let out = stdout(&tickerctl(&ep, &["history", "cli@example.com"]).await);
    assert!(out.contains("AAPL — 4 quotes"), "{out}");
    assert!(out.contains('│') && out.contains('█'), "a chart: {out}");

    let out = tickerctl(&ep, &["latest", "ghost@example.com"]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("NotFound: no user with email ghost@example.com"),
        "{err}"
    );

    let out = tickerctl(&ep, &["register", "bad", "AAPL"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("InvalidArgument: email"));

    let out = stdout(&tickerctl(&ep, &["delete", "cli@example.com"]).await);
    assert!(out.contains("deleted cli@example.com"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_then_reports_unavailable() {
    let ep = format!("http://127.0.0.1:{}", free_port());
    let started = std::time::Instant::now();
    let out = tickerctl(
        &ep,
        &[
            "--retries",
            "2",
            "--timeout",
            "300ms",
            "latest",
            "x@example.com",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Unavailable"));
    // Two backoffs (100 ms, 200 ms) happened before giving up.
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
}

/// `tickerctl bench --method register` sends commands as real clients do: each with its own
/// idempotency key, so it measures the at-most-once work too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_registers_with_idempotency_keys() {
    let db = TestDb::new(Backend::Sqlite).await;
    let (server, ctx) = spawn_mesh(&db).await;
    let args = [
        "bench",
        "--method",
        "register",
        "-c",
        "2",
        "-d",
        "500ms",
        "--connections",
        "1",
    ];
    let out = stdout(&tickerctl(&server.url(), &args).await);
    assert!(out.contains("method=Register"), "{out}");
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(ctx.store.pool())
        .await
        .unwrap();
    let keys: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM idempotency_keys")
        .fetch_one(ctx.store.pool())
        .await
        .unwrap();
    assert!(users > 0, "{out}");
    assert_eq!(keys, users, "one key per registration");
}
