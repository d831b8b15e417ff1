//! ListAlerts over the wire, on SQLite and MariaDB: a user's alerts newest first with what
//! became of each e-mail, only with the user's token, limit and ticker checked; through the
//! real pipeline (a crossing, notify, then SENT); and DeleteUser taking the user's alerts and
//! their delivery records with it, so an alert still on its way is mailed to no one.

use std::time::Duration;

use tickermesh_api::v1::{
    AlertRecord, DeleteUserRequest, DeliveryStatus, ListAlertsRequest, RegisterUserRequest,
};
use tickermesh_core::store::Store;
use tickermesh_tests::access::{bearer, confirm, keyed_bearer, signed_up};
use tickermesh_tests::notify::{notify_server, post_alert};
use tickermesh_tests::smtp::SmtpServer;
use tickermesh_tests::yahoo::{FakeYahoo, Reply};
use tickermesh_tests::{
    eventually, new_key, on_both_backends, spawn_mesh, Backend, TestDb, TestServer,
};
use tonic::Code;

/// An alert row as evaluate stores one, made at `created_at_ms`.
struct Row<'a> {
    id: &'a str,
    email: &'a str,
    ticker: &'a str,
    rule: &'a str,
    price: f64,
    threshold: f64,
    reference: Option<f64>,
    created_at_ms: i64,
}

async fn insert_alert(store: &Store, r: Row<'_>) {
    sqlx::query(
        "INSERT INTO alerts (alert_id, email, ticker, price, currency, threshold, direction, \
         market_time_ms, simulated, created_at_ms, published_at_ms, reference) \
         VALUES (?, ?, ?, ?, 'USD', ?, ?, ?, 0, ?, ?, ?)",
    )
    .bind(r.id)
    .bind(r.email)
    .bind(r.ticker)
    .bind(r.price)
    .bind(r.threshold)
    .bind(r.rule)
    .bind(r.created_at_ms - 100)
    .bind(r.created_at_ms)
    .bind(r.created_at_ms + 10)
    .bind(r.reference)
    .execute(store.pool())
    .await
    .unwrap();
}

/// notify's record of an alert, as it writes one.
async fn handled(store: &Store, id: &str, outcome: &str, detail: Option<&str>, due: Option<i64>) {
    sqlx::query(
        "INSERT INTO sent_alerts (alert_id, outcome, detail, handled_at_ms, due_at_ms) \
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(id)
    .bind(outcome)
    .bind(detail)
    .bind(77_000i64)
    .bind(due)
    .execute(store.pool())
    .await
    .unwrap();
}

fn list(
    email: &str,
    limit: u32,
    ticker: Option<&str>,
    token: &str,
) -> tonic::Request<ListAlertsRequest> {
    bearer(
        ListAlertsRequest {
            email: email.into(),
            limit,
            ticker: ticker.map(str::to_owned),
        },
        token,
    )
}

fn ids(alerts: &[AlertRecord]) -> Vec<&str> {
    alerts.iter().map(|a| a.alert_id.as_str()).collect()
}

fn status(a: &AlertRecord) -> DeliveryStatus {
    DeliveryStatus::try_from(a.status).unwrap()
}

async fn newest_first_with_statuses(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (server, ctx) = spawn_mesh(&db).await;
    let mut c = server.commands().await;
    let token = signed_up(
        &mut c,
        &ctx.store,
        "h@example.com",
        "AAPL",
        None,
        Some(250.0),
    )
    .await;
    let other = signed_up(
        &mut c,
        &ctx.store,
        "o@example.com",
        "AAPL",
        None,
        Some(250.0),
    )
    .await;
    let store = &ctx.store;
    let row = |id, ticker, rule, created_at_ms| Row {
        id,
        email: "h@example.com",
        ticker,
        rule,
        price: 251.5,
        threshold: 250.0,
        reference: None,
        created_at_ms,
    };
    insert_alert(store, row("a1", "AAPL", "above", 1_000)).await;
    handled(store, "a1", "sent", None, None).await;
    insert_alert(store, row("a2", "AAPL", "below", 2_000)).await;
    handled(
        store,
        "a2",
        "suppressed",
        Some("the user unsubscribed"),
        None,
    )
    .await;
    // A ticker the user does not watch (any more): its alerts are still the user's.
    insert_alert(store, row("a3", "MSFT", "above", 3_000)).await;
    let mut moved = row("a4", "AAPL", "up", 4_000);
    (moved.threshold, moved.reference) = (5.0, Some(240.0));
    insert_alert(store, moved).await;
    handled(store, "a4", "held", None, Some(9_000_000)).await;
    // Two in the same millisecond: by id, descending.
    insert_alert(store, row("a5a", "AAPL", "above", 5_000)).await;
    handled(store, "a5a", "sent", Some("digest"), None).await;
    insert_alert(store, row("a5b", "AAPL", "below", 5_000)).await;
    handled(store, "a5b", "dead_letter", Some("550 no such user"), None).await;
    insert_alert(store, row("a7", "AAPL", "down", 7_000)).await;
    handled(store, "a7", "cooldown", None, None).await;
    // Another user's alert, newer than all: never in h's list.
    insert_alert(
        store,
        Row {
            email: "o@example.com",
            ..row("o1", "AAPL", "above", 8_000)
        },
    )
    .await;

    let mut q = server.queries().await;
    let all = q
        .list_alerts(list("h@example.com", 100, None, &token))
        .await
        .unwrap()
        .into_inner();
    let all = all.alerts;
    assert_eq!(ids(&all), ["a7", "a5b", "a5a", "a4", "a3", "a2", "a1"]);
    let statuses: Vec<(DeliveryStatus, &str)> =
        all.iter().map(|a| (status(a), a.detail.as_str())).collect();
    use DeliveryStatus as S;
    assert_eq!(
        statuses,
        [
            (S::Suppressed, "cooldown"),
            (S::Failed, "550 no such user"),
            (S::Sent, "digest"),
            (S::Held, ""),
            (S::Pending, ""),
            (S::Suppressed, "the user unsubscribed"),
            (S::Sent, ""),
        ]
    );
    let held = &all[3];
    assert_eq!(
        (held.rule.as_str(), held.threshold, held.reference),
        ("up", 5.0, Some(240.0))
    );
    assert_eq!(held.deliver_after_unix_ms, 9_000_000);
    assert_eq!(held.handled_at_unix_ms, 77_000);
    let pending = &all[4];
    assert_eq!(
        (pending.ticker.as_str(), pending.handled_at_unix_ms),
        ("MSFT", 0)
    );
    let first = &all[6];
    assert_eq!(
        (first.price, first.currency.as_str(), first.threshold),
        (251.5, "USD", 250.0)
    );
    assert_eq!(
        (first.created_at_unix_ms, first.market_time_unix_ms),
        (1_000, 900)
    );
    assert_eq!((first.reference, first.deliver_after_unix_ms), (None, 0));

    // The limit takes the newest.
    let two = q
        .list_alerts(list("h@example.com", 2, None, &token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ids(&two.alerts), ["a7", "a5b"]);
    // One ticker, as typed (normalized); one never alerted: none.
    let msft = q
        .list_alerts(list("h@example.com", 10, Some(" msft "), &token))
        .await
        .unwrap();
    assert_eq!(ids(&msft.into_inner().alerts), ["a3"]);
    let aapl = q
        .list_alerts(list("h@example.com", 3, Some("AAPL"), &token))
        .await
        .unwrap();
    assert_eq!(ids(&aapl.into_inner().alerts), ["a7", "a5b", "a5a"]);
    let ibm = q
        .list_alerts(list("h@example.com", 10, Some("IBM"), &token))
        .await
        .unwrap();
    assert!(ibm.into_inner().alerts.is_empty());
    let err = q
        .list_alerts(list("h@example.com", 10, Some("no such!"), &token))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().starts_with("ticker"), "{}", err.message());

    for (limit, ok) in [
        (0, false),
        (1, true),
        (1000, true),
        (1001, false),
        (u32::MAX, false),
    ] {
        match q
            .list_alerts(list("h@example.com", limit, None, &token))
            .await
        {
            Ok(r) => assert!(ok, "limit {limit} taken: {:?}", r.into_inner().alerts.len()),
            Err(e) => {
                assert!(!ok, "limit {limit}: {e:?}");
                assert_eq!(e.code(), Code::InvalidArgument);
                assert!(e.message().starts_with("limit"), "{}", e.message());
            }
        }
    }

    // Only the owner: another user's token, none, or a made-up one.
    let err = q
        .list_alerts(list("h@example.com", 10, None, &other))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let own = q
        .list_alerts(list("o@example.com", 10, None, &other))
        .await
        .unwrap();
    assert_eq!(ids(&own.into_inner().alerts), ["o1"]);
    let anonymous = ListAlertsRequest {
        email: "h@example.com".into(),
        limit: 10,
        ticker: None,
    };
    let err = q.list_alerts(anonymous).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let err = q
        .list_alerts(list("h@example.com", 10, None, "made-up"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
}
on_both_backends!(list_alerts, newest_first_with_statuses);

async fn count(store: &Store, sql: &str, email: &str) -> i64 {
    sqlx::query_scalar(sql)
        .bind(email)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

async fn alerts_of(store: &Store, email: &str) -> (i64, i64) {
    let alerts = count(store, "SELECT COUNT(*) FROM alerts WHERE email = ?", email).await;
    let sent = count(
        store,
        "SELECT COUNT(*) FROM sent_alerts s JOIN alerts a ON a.alert_id = s.alert_id \
         WHERE a.email = ?",
        email,
    )
    .await;
    (alerts, sent)
}

async fn deletion_takes_the_alerts(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (server, ctx) = spawn_mesh(&db).await;
    let mut c = server.commands().await;
    let token = signed_up(&mut c, &ctx.store, "gone@example.com", "AAPL", None, None).await;
    signed_up(&mut c, &ctx.store, "stays@example.com", "AAPL", None, None).await;
    let store = &ctx.store;
    for (i, email) in ["gone@example.com", "stays@example.com"]
        .into_iter()
        .enumerate()
    {
        for k in 0..3 {
            let id = format!("d{i}-{k}");
            let row = Row {
                id: &id,
                email,
                ticker: "AAPL",
                rule: "above",
                price: 251.5,
                threshold: 250.0,
                reference: None,
                created_at_ms: 1_000 * (k + 1),
            };
            insert_alert(store, row).await;
            // The last of each is still on its way to notify.
            if k < 2 {
                handled(store, &id, "sent", None, None).await;
            }
        }
    }
    assert_eq!(alerts_of(store, "gone@example.com").await, (3, 2));

    let delete = DeleteUserRequest {
        email: "gone@example.com".into(),
    };
    c.delete_user(keyed_bearer(delete, &new_key(), &token))
        .await
        .unwrap();
    assert_eq!(alerts_of(store, "gone@example.com").await, (0, 0));
    let left: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM sent_alerts WHERE alert_id LIKE 'd0-%'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(left, 0, "no delivery record outlives its alert");
    assert_eq!(
        alerts_of(store, "stays@example.com").await,
        (3, 2),
        "another user's stay"
    );

    // The alert that was on its way: notify finds no such alert, mails no one, records nothing.
    let smtp = SmtpServer::start();
    let notify = notify_server(store, &smtp.url()).await;
    let r = post_alert(&notify.url(), "d0-2", "gone@example.com").await;
    assert_eq!(r.status(), 400, "an alert no one stores any more");
    // The other user's pending one still goes out: the check above is not a broken notify.
    let r = post_alert(&notify.url(), "d1-2", "stays@example.com").await;
    assert_eq!(r.status(), 202);
    let mails = eventually(Duration::from_secs(5), "the e-mail", || async {
        let m = smtp.mails();
        (!m.is_empty()).then_some(m)
    })
    .await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].to, vec!["stays@example.com".to_owned()]);
    let recorded: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM sent_alerts WHERE alert_id = 'd0-2'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(recorded, 0);
    // Deleted and gone: its old token no longer lists anything.
    let mut q = server.queries().await;
    let err = q
        .list_alerts(list("gone@example.com", 10, None, &token))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
}
on_both_backends!(delete_user, deletion_takes_the_alerts);

/// An unconfirmed registration that expires takes its alerts with it (evaluate records them,
/// suppressed, like anyone's): whether the upkeep purges it or the address registers anew, its
/// next owner finds none of them in their history.
async fn expired_registrations_take_their_alerts(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (server, ctx) = spawn_mesh(&db).await;
    let store = &ctx.store;
    let mut c = server.commands().await;
    let now = tickermesh_core::now_unix_ms();
    let three_days_ago = now - 3 * 86_400_000;
    for email in [
        "purged@example.com",
        "again@example.com",
        "fresh@example.com",
    ] {
        let register = RegisterUserRequest {
            email: email.into(),
            ticker: "PENNY".into(),
            ..Default::default()
        };
        c.register_user(register).await.unwrap();
        let id = format!("x-{email}");
        let row = Row {
            id: &id,
            email,
            ticker: "PENNY",
            rule: "above",
            price: 2.5,
            threshold: 2.0,
            reference: None,
            created_at_ms: now - 1_000,
        };
        insert_alert(store, row).await;
        handled(
            store,
            &id,
            "suppressed",
            Some("the address is not confirmed"),
            None,
        )
        .await;
    }
    // Two of the three are older than the 48 h an unconfirmed registration lives.
    sqlx::query("UPDATE users SET created_at_ms = ? WHERE email <> 'fresh@example.com'")
        .bind(three_days_ago)
        .execute(store.pool())
        .await
        .unwrap();

    // Registering an expired address again: the old registration and its alerts go.
    let register = RegisterUserRequest {
        email: "again@example.com".into(),
        ticker: "AAPL".into(),
        ..Default::default()
    };
    c.register_user(register).await.unwrap();
    assert_eq!(alerts_of(store, "again@example.com").await, (0, 0));

    // The upkeep's purge: the other expired one and its alerts; the fresh one stays.
    let before = now - 48 * 3_600_000;
    let purged = tickermesh_core::store::users::purge_unconfirmed(store, before, 500)
        .await
        .unwrap();
    assert_eq!(purged, 1);
    assert_eq!(alerts_of(store, "purged@example.com").await, (0, 0));
    assert_eq!(alerts_of(store, "fresh@example.com").await, (1, 1));
    let records: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sent_alerts")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(records, 1, "no delivery record outlives its alert");
}
on_both_backends!(
    expired_registration,
    expired_registrations_take_their_alerts
);

/// Through `tickermesh up`: the price crosses the maximum, evaluate stores the alert, notify
/// mails it, and ListAlerts shows it SENT — after showing it at all.
async fn a_crossing_then_sent(backend: Backend) {
    tickermesh_tests::init_logs();
    let db = TestDb::new(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let yahoo = FakeYahoo::start().await;
    let config = tickermesh_tests::up::config(&db, dir.path(), &yahoo);
    let mut market_time_s = tickermesh_tests::yahoo::recent_s();
    yahoo.set(
        "AAPL",
        Reply::Price {
            price: 200.0,
            market_time_s,
        },
    );
    let mesh = tickermesh::up::build(&config).await.unwrap();
    let server = TestServer::start(mesh.router.clone()).await;
    let mut commands = server.commands().await;
    let register = RegisterUserRequest {
        email: "ada@example.com".into(),
        ticker: "AAPL".into(),
        max_price: Some(250.0),
        ..Default::default()
    };
    commands.register_user(register).await.unwrap();
    let token = confirm(&mut commands, &db.store().await, "ada@example.com").await;

    market_time_s += 60;
    yahoo.set(
        "AAPL",
        Reply::Price {
            price: 260.0,
            market_time_s,
        },
    );
    let mut q = server.queries().await;
    let alerts = eventually(Duration::from_secs(30), "a sent alert", || {
        let (mut q, url, token) = (q.clone(), server.url(), token.clone());
        async move {
            // A tick that runs while the mesh's own first one does is skipped: tick on.
            tokio::time::sleep(Duration::from_millis(100)).await;
            let tick = tickermesh_tests::ping(&format!("{url}/collect")).await;
            assert_eq!(tick.status(), 200);
            let r = q
                .list_alerts(list("ada@example.com", 10, None, &token))
                .await
                .unwrap();
            let alerts = r.into_inner().alerts;
            let sent = alerts
                .first()
                .is_some_and(|a| status(a) == DeliveryStatus::Sent);
            sent.then_some(alerts)
        }
    })
    .await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let a = &alerts[0];
    assert_eq!((a.ticker.as_str(), a.rule.as_str()), ("AAPL", "above"));
    assert_eq!(
        (a.price, a.threshold, a.currency.as_str()),
        (260.0, 250.0, "USD")
    );
    assert_eq!(a.market_time_unix_ms, market_time_s * 1000);
    assert!(a.handled_at_unix_ms >= a.created_at_unix_ms && a.created_at_unix_ms > 0);
    assert_eq!((a.detail.as_str(), a.deliver_after_unix_ms), ("", 0));

    // The mesh serves retention too: a tick stamped far ahead deletes nothing younger than
    // the retention (its "now" is capped at the clock).
    let r = reqwest::Client::new()
        .post(format!("{}/retention", server.url()))
        .header("ce-specversion", "1.0")
        .header("ce-type", "dev.knative.sources.ping")
        .header("ce-source", "/test")
        .header("ce-id", "r-1")
        .header("ce-time", "2100-01-01T00:00:00Z")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let report: serde_json::Value = r.json().await.unwrap();
    assert_eq!(report["alerts_deleted"], 0, "{report}");
    assert_eq!(report["quotes_deleted"], 0, "{report}");
    let again = q
        .list_alerts(list("ada@example.com", 10, None, &token))
        .await
        .unwrap();
    assert_eq!(ids(&again.into_inner().alerts), [a.alert_id.as_str()]);
    drop(mesh);
}
on_both_backends!(pipeline_to_list_alerts, a_crossing_then_sent);

/// `tickerctl alerts`: the table newest first with each status and its detail, JSON with
/// `--json`, and the server's refusal of a bad limit as exit code 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickerctl_lists_alerts() {
    use tickermesh_tests::proc::{stdout, Tickerctl};
    let db = TestDb::new(Backend::Sqlite).await;
    let (server, ctx) = spawn_mesh(&db).await;
    let mut c = server.commands().await;
    let token = signed_up(&mut c, &ctx.store, "t@example.com", "AAPL", None, None).await;
    let row = |id, rule, created_at_ms| Row {
        id,
        email: "t@example.com",
        ticker: "AAPL",
        rule,
        price: 251.5,
        threshold: 250.0,
        reference: None,
        created_at_ms,
    };
    insert_alert(&ctx.store, row("t1", "above", 60_000)).await;
    handled(&ctx.store, "t1", "sent", Some("digest"), None).await;
    insert_alert(&ctx.store, row("t2", "below", 120_000)).await;
    handled(&ctx.store, "t2", "held", None, Some(3_600_000)).await;
    insert_alert(&ctx.store, row("t3", "above", 180_000)).await;

    let cli = Tickerctl::new(&server.url());
    let env = [("TICKERMESH_TOKEN", token.as_str())];
    let out = stdout(&cli.run_with(&["alerts", "t@example.com"], &env).await);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0], "3 alerts for t@example.com, newest first",
        "{out}"
    );
    assert!(
        lines[1].starts_with("TIME") && lines[1].ends_with("STATUS"),
        "{out}"
    );
    let cells: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(
        cells[..3],
        ["1970-01-01T00:03:00Z", "AAPL", "above"],
        "{out}"
    );
    assert!(lines[2].ends_with("pending"), "{out}");
    assert!(
        lines[3].ends_with("held until 1970-01-01T01:00:00Z"),
        "{out}"
    );
    assert!(
        lines[4].contains("251.5000 USD") && lines[4].contains("250.0000"),
        "{out}"
    );
    assert!(lines[4].ends_with("sent (digest)"), "{out}");

    let args = [
        "--json",
        "alerts",
        "t@example.com",
        "--limit",
        "1",
        "--ticker",
        "aapl",
    ];
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&cli.run_with(&args, &env).await)).unwrap();
    assert_eq!(json["alerts"].as_array().map(Vec::len), Some(1), "{json}");
    assert_eq!(json["alerts"][0]["alert_id"], "t3");
    assert_eq!(json["alerts"][0]["status"], "pending");

    let out = cli
        .run_with(&["alerts", "t@example.com", "--limit", "0"], &env)
        .await;
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("limit"), "{err}");
}
