//! A real Prometheus (Debian's package) scraping `tickermesh up` on loopback with the
//! repository's config and alert rules, while `tickerctl` drives traffic; then the seed
//! metrics, the rules, the dashboard's queries and `tickerctl status` are checked against it.

use std::time::Duration;

use serde_json::Value;
use tickermesh_tests::access::local_code;
use tickermesh_tests::eventually;
use tickermesh_tests::proc::{free_port, stdout, tickerctl, workspace_bin, Proc, Tickerctl};
use tickermesh_tests::prometheus::{dashboard_queries, Prometheus};

const WITHIN: Duration = Duration::from_secs(60);

/// `tickermesh up` on the simulated market, ticking every second, in a temporary folder.
fn start_mesh(port: u16, dir: &std::path::Path) -> Proc {
    let child = std::process::Command::new(workspace_bin("tickermesh"))
        .arg("up")
        .env("TICKERMESH_PORT", port.to_string())
        .env("TICKERMESH_DATA_DIR", dir)
        .env("TICKERMESH_MARKET", "sim")
        .env("TICKERMESH_COLLECT_INTERVAL_SECS", "1")
        .env("TICKERMESH_LOG", "warn")
        .env_remove("TICKERMESH_DATABASE_URL")
        .env_remove("TICKERMESH_KAFKA_BROKERS")
        .env_remove("TICKERMESH_SMTP_URL")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn tickermesh up");
    Proc { child }
}

/// Polls Prometheus until `promql` gives a value that `ok` accepts.
async fn until(prometheus: &Prometheus, promql: &str, ok: impl Fn(f64) -> bool) -> f64 {
    eventually(WITHIN, promql, || async {
        let v = prometheus.scalar(promql).await?;
        ok(v).then_some(v)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_sees_the_seed_metrics_move() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _mesh = start_mesh(port, dir.path());
    let endpoint = format!("http://127.0.0.1:{port}");
    let metrics = format!("{endpoint}/metrics");
    eventually(WITHIN, "the mesh's /metrics", || async {
        reqwest::get(&metrics).await.ok()?.error_for_status().ok()
    })
    .await;
    let prometheus = Prometheus::start(&format!("127.0.0.1:{port}"), "1s").await;
    until(
        &prometheus,
        r#"up{job="tickermesh",function="mesh"}"#,
        |v| v == 1.0,
    )
    .await;

    // Before any traffic the counters are exported at zero.
    let created = r#"sum(tickermesh_register_user_total{outcome="created"})"#;
    assert_eq!(prometheus.scalar(created).await, Some(0.0));

    // Traffic, as a user makes it: a threshold every simulated price is above, so the
    // pipeline alerts and mails once. (A tick between registering and confirming alerts once
    // more, unmailed: confirming re-arms the watch, and the next quote alerts the one mailed.)
    let cli = Tickerctl::new(&endpoint);
    stdout(
        &cli.run(&["register", "prom@example.com", "AAPL", "--max", "0.5"])
            .await,
    );
    // The code from the confirmation e-mail (derived here with the mesh's own key).
    let code = local_code(dir.path(), "prom@example.com").await;
    stdout(&cli.run(&["confirm", "prom@example.com", &code]).await);
    eventually(WITHIN, "a first quote", || async {
        let out = cli.run(&["latest", "prom@example.com"]).await;
        out.status.success().then_some(())
    })
    .await;
    stdout(&cli.run(&["average", "prom@example.com", "-n", "3"]).await);

    until(&prometheus, created, |v| v == 1.0).await;
    until(
        &prometheus,
        "sum(tickermesh_collector_iterations_total)",
        |v| v > 0.0,
    )
    .await;
    until(
        &prometheus,
        "sum(tickermesh_yahoo_request_duration_seconds_count)",
        |v| v > 0.0,
    )
    .await;
    until(
        &prometheus,
        "sum(tickermesh_get_latest_value_duration_seconds_count)",
        |v| v > 0.0,
    )
    .await;
    until(
        &prometheus,
        r#"sum(tickermesh_alerts_emitted_total{direction="above"})"#,
        |v| v == 1.0 || v == 2.0,
    )
    .await;
    until(
        &prometheus,
        r#"sum(tickermesh_emails_total{outcome="sent"})"#,
        |v| v == 1.0,
    )
    .await;
    until(
        &prometheus,
        "time() - max(tickermesh_collector_last_iteration_timestamp_seconds)",
        |age| (0.0..30.0).contains(&age),
    )
    .await;

    // The alert rules are loaded and evaluate without errors.
    let rules = eventually(WITHIN, "every rule evaluated", || async {
        let body = prometheus.get("/api/v1/rules").await;
        let rules: Vec<Value> = body["data"]["groups"]
            .as_array()?
            .iter()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .collect();
        let evaluated = !rules.is_empty()
            && rules
                .iter()
                .all(|r| r["health"] == "ok" && r["lastEvaluation"].as_str() > Some("2000"));
        evaluated.then_some(rules)
    })
    .await;
    assert!(rules.len() >= 6, "{rules:?}");
    let stalled = rules
        .iter()
        .find(|r| r["name"] == "TickermeshCollectorStalled")
        .expect("the collector alert is loaded");
    assert_eq!(
        stalled["state"], "inactive",
        "the collector ticks every second"
    );

    // Every dashboard query is valid PromQL for this Prometheus.
    for query in dashboard_queries() {
        if let Err(e) = prometheus.query(&query).await {
            panic!("dashboard query rejected: {e}");
        }
    }

    // `tickerctl status`, from the mesh's /metrics and from Prometheus.
    let text = stdout(&tickerctl(&endpoint, &["status"]).await);
    for line in [
        "register     serving",
        "query        serving",
        "collect      up",
        "breaker       closed",
    ] {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }
    for args in [
        vec!["--json", "status"],
        vec!["--json", "status", "--prometheus", &prometheus.url],
    ] {
        let report: Value = serde_json::from_str(&stdout(&tickerctl(&endpoint, &args).await))
            .expect("status --json is JSON");
        assert_eq!(report["healthy"], true, "{args:?}: {report}");
        assert_eq!(report["emails"]["sent"], 1.0, "{args:?}: {report}");
        // One alert, or two when a tick fell before the confirmation (that one not mailed).
        let above = report["alerts"]["above"].as_f64();
        assert!(matches!(above, Some(1.0 | 2.0)), "{args:?}: {report}");
        assert_eq!(report["breaker"], "closed", "{args:?}: {report}");
        let age = report["last_collect"]["age_seconds"]
            .as_f64()
            .expect("a last collect");
        assert!(age < 30.0, "{args:?}: {report}");
        // Lag by consumer, also where Prometheus moved the consumer to `exported_function`.
        for consumer in ["evaluate/ticker-quotes", "notify/threshold-alerts"] {
            assert!(
                report["consumer_lag"][consumer].is_number(),
                "{args:?}: no lag of {consumer}: {report}"
            );
        }
        let functions = report["functions"].as_array().unwrap();
        assert_eq!(functions.len(), 12, "{report}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_a_mesh_that_is_down() {
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let out = tickerctl(&endpoint, &["--timeout", "1s", "--json", "status"]).await;
    assert_eq!(out.status.code(), Some(1), "a dead mesh is not healthy");
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON even when down");
    assert_eq!(report["healthy"], false);
    assert_eq!(report["functions"][0]["health"], "unreachable", "{report}");
    assert!(report["metrics_error"].as_str().is_some(), "{report}");
}
