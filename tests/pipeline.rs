//! The whole flow inside `tickermesh up` (in-process bus, outbox e-mail): register with a max,
//! the market goes above it, a tick → exactly one e-mail; still above → none; back inside then
//! above again → a second one.

use std::path::Path;
use std::time::Duration;

use tickermesh::up;
use tickermesh_api::v1::threshold_change::Change;
use tickermesh_api::v1::{RegisterUserRequest, ThresholdChange, UpdateUserRequest};
use tickermesh_tests::access::{bearer, confirm};
use tickermesh_tests::yahoo::{FakeYahoo, Reply};
use tickermesh_tests::{eventually, on_both_backends, Backend, TestDb, TestServer};

/// The alert e-mails in the outbox (not the confirmation e-mails, which carry a code).
fn mails(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir.join("outbox"))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                .map(|e| std::fs::read_to_string(e.path()).unwrap())
                .filter(|m| !m.contains("Your code:"))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// One collector tick that ran (a tick that arrives while the mesh's own first tick still runs
/// is skipped: send it again).
async fn tick(server: &TestServer) {
    eventually(Duration::from_secs(10), "a tick that ran", || async {
        let response = tickermesh_tests::ping(&format!("{}/collect", server.url())).await;
        assert_eq!(response.status(), 200);
        let report: serde_json::Value = response.json().await.unwrap();
        (report["skipped"] == false).then_some(())
    })
    .await;
}

/// Waits until evaluate has seen the quote at `market_time_s` for every watched ticker.
async fn evaluated(db: &TestDb, market_time_s: i64) {
    let store = db.store().await;
    eventually(Duration::from_secs(30), "evaluation", || {
        let pool = store.pool().clone();
        async move {
            // Every watched ticker's last evaluated quote is this one or newer.
            let pending: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM (SELECT DISTINCT ticker FROM subscriptions) w \
                 LEFT JOIN quote_evaluations e ON e.ticker = w.ticker \
                 WHERE e.market_time_ms IS NULL OR e.market_time_ms < ?",
            )
            .bind(market_time_s * 1000)
            .fetch_one(&pool)
            .await
            .unwrap();
            (pending == 0).then_some(())
        }
    })
    .await;
    store.close().await;
}

async fn one_email_per_crossing(backend: Backend) {
    run(backend, false).await
}
on_both_backends!(pipeline_through_tickermesh_up, one_email_per_crossing);

async fn one_email_per_crossing_on_kafka(backend: Backend) {
    run(backend, true).await
}
on_both_backends!(
    pipeline_through_tickermesh_up_on_kafka,
    one_email_per_crossing_on_kafka
);

/// The local mesh over a fresh database, a fake Yahoo and an outbox folder, with ada watching
/// AAPL between 100 and 250.
struct Mesh {
    db: TestDb,
    dir: tempfile::TempDir,
    yahoo: FakeYahoo,
    /// The mesh's tasks run while this lives.
    _mesh: up::Mesh,
    server: TestServer,
    market_time_s: std::cell::Cell<i64>,
    /// ada@example.com's access token.
    token: String,
}

impl Mesh {
    /// `kafka`: events through the test broker (fresh topics) instead of the in-process bus.
    async fn start(backend: Backend, kafka: bool) -> Self {
        tickermesh_tests::init_logs();
        let db = TestDb::new(backend).await;
        let dir = tempfile::tempdir().unwrap();
        let yahoo = FakeYahoo::start().await;
        let mut config = tickermesh_tests::up::config(&db, dir.path(), &yahoo);
        if kafka {
            config.kafka = Some(tickermesh_tests::kafka::settings());
            config.collect.quotes_topic = tickermesh_tests::kafka::topic("up-quotes", 1).await;
            config.alerts_topic = tickermesh_tests::kafka::topic("up-alerts", 1).await;
            // The codes' e-mails go to notify's topic too.
            config.access.topic = config.alerts_topic.clone();
        }
        // The mesh ticks once at start, maybe after the registration below: the market knows
        // AAPL from the start (inside the thresholds), so that tick stores a quote and alerts
        // no one (an unknown symbol would be skipped by the ticks after it).
        let market_time_s = tickermesh_tests::yahoo::recent_s();
        yahoo.set(
            "AAPL",
            Reply::Price {
                price: 200.0,
                market_time_s,
            },
        );
        let mesh = up::build(&config).await.unwrap();
        let server = TestServer::start(mesh.router.clone()).await;
        let mut commands = server.commands().await;
        commands
            .register_user(RegisterUserRequest {
                email: "ada@example.com".into(),
                ticker: "AAPL".into(),
                min_price: Some(100.0),
                max_price: Some(250.0),
                ..Default::default()
            })
            .await
            .unwrap();
        // Alerts go to confirmed addresses only.
        let token = confirm(&mut commands, &db.store().await, "ada@example.com").await;
        Self {
            token,
            db,
            dir,
            yahoo,
            _mesh: mesh,
            server,
            market_time_s: std::cell::Cell::new(market_time_s),
        }
    }

    /// The market's next price, a minute after the last; returns its market time.
    fn price(&self, p: f64) -> i64 {
        let market_time_s = self.market_time_s.get() + 60;
        self.market_time_s.set(market_time_s);
        let reply = Reply::Price {
            price: p,
            market_time_s,
        };
        self.yahoo.set("AAPL", reply);
        market_time_s
    }
}

async fn run(backend: Backend, kafka: bool) {
    let mesh = Mesh::start(backend, kafka).await;
    let (db, server) = (&mesh.db, &mesh.server);
    let dir = mesh.dir.path().to_owned();
    let price = |p: f64| mesh.price(p);

    let at = price(260.0);
    tick(server).await;
    let first = eventually(Duration::from_secs(30), "the first e-mail", || async {
        let m = mails(&dir);
        (m.len() == 1).then(|| m[0].clone())
    })
    .await;
    assert!(first.contains("To: ada@example.com"), "{first}");
    assert!(first.contains("Subject: AAPL"), "{first}");
    assert!(
        first.contains("AAPL rose above your maximum of 250.00 USD."),
        "{first}"
    );
    assert!(first.contains("Price: 260.00 USD"), "{first}");
    evaluated(db, at).await;

    // Still above: no second e-mail.
    let at = price(270.0);
    tick(server).await;
    evaluated(db, at).await;
    // Back inside: re-armed, no e-mail.
    let at = price(200.0);
    tick(server).await;
    evaluated(db, at).await;
    assert_eq!(mails(&dir).len(), 1);

    // Above again: a second e-mail. Then below the minimum: a third.
    price(255.0);
    tick(server).await;
    eventually(Duration::from_secs(30), "the second e-mail", || async {
        (mails(&dir).len() == 2).then_some(())
    })
    .await;
    price(90.0);
    tick(server).await;
    let all = eventually(Duration::from_secs(30), "the third e-mail", || async {
        let m = mails(&dir);
        (m.len() == 3).then_some(m)
    })
    .await;
    assert!(all
        .iter()
        .any(|m| m.contains("AAPL fell below your minimum of 100.00 USD.")));
}

/// An update that changes nothing leaves the alert where it is: the same crossing is not mailed
/// again. A real change re-arms it, so a new maximum the price already breaches alerts once.
async fn no_op_updates_do_not_re_alert(backend: Backend) {
    let mesh = Mesh::start(backend, false).await;
    let dir = mesh.dir.path().to_owned();
    let mut commands = mesh.server.commands().await;
    mesh.price(260.0);
    tick(&mesh.server).await;
    eventually(Duration::from_secs(30), "the first e-mail", || async {
        (mails(&dir).len() == 1).then_some(())
    })
    .await;
    let same_max = Some(ThresholdChange {
        change: Some(Change::Set(250.0)),
    });
    for max_price in [None, same_max, None] {
        let update = UpdateUserRequest {
            email: "ada@example.com".into(),
            max_price,
            ..Default::default()
        };
        commands
            .update_user(bearer(update, &mesh.token))
            .await
            .unwrap();
        let at = mesh.price(265.0);
        tick(&mesh.server).await;
        evaluated(&mesh.db, at).await;
    }
    // Anything still in flight would have reached the outbox by now (each quote was evaluated).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(mails(&dir).len(), 1, "a no-op update re-armed the alert");

    let update = UpdateUserRequest {
        email: "ada@example.com".into(),
        max_price: Some(ThresholdChange {
            change: Some(Change::Set(255.0)),
        }),
        ..Default::default()
    };
    commands
        .update_user(bearer(update, &mesh.token))
        .await
        .unwrap();
    mesh.price(266.0);
    tick(&mesh.server).await;
    eventually(
        Duration::from_secs(30),
        "the e-mail for the new maximum",
        || async { (mails(&dir).len() == 2).then_some(()) },
    )
    .await;
}
on_both_backends!(no_op_update, no_op_updates_do_not_re_alert);
