//! Delivery beyond consent, inside `tickermesh up` with a real SMTP server: a watch's cooldown
//! (one e-mail per period per watch; the alerts in between recorded "cooldown"; watches
//! independent), and quiet hours (alerts held until they end, then one digest e-mail through
//! the digest function's HTTP endpoint, fed a cron event whose `time` is after the end; a
//! repeated tick mails nothing more; a user who unsubscribed meanwhile gets nothing). On SQLite
//! and MariaDB, over the in-process bus and over Kafka.

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::time::Duration;

use tickermesh::up::{self, UpConfig};
use tickermesh_api::v1::{AddWatchRequest, RegisterUserRequest};
use tickermesh_core::events::{humantime_rfc3339, ChannelBus, DigestDue};
use tickermesh_digest::{DigestConfig, Digester};
use tickermesh_notify::{MailConfig, MailRetry, MailSettings};
use tickermesh_tests::access::{bearer, confirm};
use tickermesh_tests::smtp::{Mail, SmtpServer};
use tickermesh_tests::yahoo::{recent_s, FakeYahoo, Reply};
use tickermesh_tests::{eventually, on_both_backends, Backend, TestDb, TestServer};

const ADA: &str = "ada@example.com";
const BOB: &str = "bob@example.com";
const HOUR_MS: i64 = 3_600_000;

/// The process test builds the workspace's binaries (two cores busy for a while): the mesh
/// tests, whose calls have deadlines, do not run meanwhile.
static BUILDING: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// `tickermesh up` over a fresh database, a fake Yahoo and a real SMTP server; AAPL at 200
/// and MSFT at 300 until a test moves them.
struct Mesh {
    db: TestDb,
    _dir: tempfile::TempDir,
    yahoo: FakeYahoo,
    smtp: SmtpServer,
    _mesh: up::Mesh,
    server: TestServer,
    market_time_s: Cell<i64>,
    /// Each symbol's price now.
    prices: RefCell<Vec<(&'static str, f64)>>,
}

impl Mesh {
    async fn start(backend: Backend, kafka: bool) -> Self {
        Self::start_with(backend, kafka, SmtpServer::start()).await
    }

    /// With this mail server, and each e-mail tried once (a deferral is final at once).
    async fn start_with(backend: Backend, kafka: bool, smtp: SmtpServer) -> Self {
        tickermesh_tests::init_logs();
        let db = TestDb::new(backend).await;
        let dir = tempfile::tempdir().unwrap();
        let yahoo = FakeYahoo::start().await;
        let base = tickermesh_tests::up::config(&db, dir.path(), &yahoo);
        let mut config = UpConfig {
            mail: MailSettings {
                transport: MailConfig::Smtp {
                    url: smtp.url().into(),
                    credentials: None,
                },
                concurrency: 4,
                lease: tickermesh_notify::DEFAULT_MAIL_LEASE,
                retry: MailRetry {
                    attempts: 1,
                    first_delay: Duration::from_millis(10),
                },
                ..base.mail.clone()
            },
            ..base
        };
        if kafka {
            config.kafka = Some(tickermesh_tests::kafka::settings());
            config.collect.quotes_topic = tickermesh_tests::kafka::topic("dq", 1).await;
            config.alerts_topic = tickermesh_tests::kafka::topic("da", 1).await;
            config.access.topic = config.alerts_topic.clone();
        }
        let market_time_s = recent_s();
        let prices = vec![("AAPL", 200.0), ("MSFT", 300.0)];
        for (symbol, price) in &prices {
            let reply = Reply::Price {
                price: *price,
                market_time_s,
            };
            yahoo.set(symbol, reply);
        }
        let mesh = up::build(&config).await.unwrap();
        let server = TestServer::start(mesh.router.clone()).await;
        Self {
            db,
            _dir: dir,
            yahoo,
            smtp,
            _mesh: mesh,
            server,
            market_time_s: Cell::new(market_time_s),
            prices: RefCell::new(prices),
        }
    }

    /// A confirmed user watching AAPL above 250 and MSFT above 400.
    async fn user(&self, email: &str) {
        let store = self.db.store().await;
        let mut commands = self.server.commands().await;
        let register = RegisterUserRequest {
            email: email.into(),
            ticker: "AAPL".into(),
            max_price: Some(250.0),
            ..Default::default()
        };
        commands.register_user(register).await.unwrap();
        let token = confirm(&mut commands, &store, email).await;
        let watch = AddWatchRequest {
            email: email.into(),
            ticker: "MSFT".into(),
            max_price: Some(400.0),
            ..Default::default()
        };
        commands.add_watch(bearer(watch, &token)).await.unwrap();
        store.close().await;
    }

    /// The market a minute after the last quotes, with these prices (the other symbols'
    /// unchanged), then a tick; waits until every alert made so far is handled.
    async fn market(&self, changes: &[(&str, f64)]) {
        let market_time_s = self.market_time_s.get() + 60;
        self.market_time_s.set(market_time_s);
        for (symbol, price) in self.prices.borrow_mut().iter_mut() {
            if let Some((_, new)) = changes.iter().find(|(s, _)| *s == *symbol) {
                *price = *new;
            }
            let reply = Reply::Price {
                price: *price,
                market_time_s,
            };
            self.yahoo.set(symbol, reply);
        }
        let url = format!("{}/collect", self.server.url());
        eventually(Duration::from_secs(10), "a tick that ran", || async {
            let report: serde_json::Value =
                tickermesh_tests::ping(&url).await.json().await.unwrap();
            (report["skipped"] == false).then_some(())
        })
        .await;
        let store = self.db.store().await;
        eventually(
            Duration::from_secs(30),
            "the tick evaluated and handled",
            || {
                let pool = store.pool().clone();
                let at = market_time_s * 1000;
                async move {
                    let pending: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM (SELECT DISTINCT ticker FROM subscriptions) w \
                     LEFT JOIN quote_evaluations e ON e.ticker = w.ticker \
                     WHERE e.market_time_ms IS NULL OR e.market_time_ms < ?",
                    )
                    .bind(at)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                    let open: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM alerts a \
                     LEFT JOIN sent_alerts s ON s.alert_id = a.alert_id \
                     WHERE s.alert_id IS NULL OR s.outcome = 'sending'",
                    )
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                    (pending == 0 && open == 0).then_some(())
                }
            },
        )
        .await;
        store.close().await;
    }

    /// (ticker, outcome, detail, due_at_ms) of every handled alert, oldest first.
    async fn outcomes(&self) -> Vec<(String, String, Option<String>, Option<i64>)> {
        let store = self.db.store().await;
        let rows = sqlx::query_as(
            "SELECT a.ticker, s.outcome, s.detail, s.due_at_ms FROM alerts a \
             JOIN sent_alerts s ON s.alert_id = a.alert_id ORDER BY a.created_at_ms, a.alert_id",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        store.close().await;
        rows
    }

    async fn sql(&self, sql: &str, bind: i64) {
        let store = self.db.store().await;
        sqlx::query(sql)
            .bind(bind)
            .execute(store.pool())
            .await
            .unwrap();
        store.close().await;
    }

    /// The e-mails other than confirmation codes.
    fn alert_mails(&self) -> Vec<Mail> {
        self.smtp
            .mails()
            .into_iter()
            .filter(|m| !m.data.contains("Your code: "))
            .collect()
    }

    /// A cron tick on the digest endpoint, at `time`; the number of users it found due.
    async fn digest_tick(&self, time_ms: i64) -> i64 {
        let response = cron(&format!("{}/digest", self.server.url()), time_ms).await;
        assert_eq!(response.status(), 200);
        let report: serde_json::Value = response.json().await.unwrap();
        assert_eq!(report["as_of_ms"], time_ms, "{report}");
        report["users"].as_i64().unwrap()
    }
}

/// A tick as Knative's PingSource sends it: binary mode, no body, `time` set.
async fn cron(url: &str, time_ms: i64) -> reqwest::Response {
    reqwest::Client::new()
        .post(url)
        .header("ce-specversion", "1.0")
        .header("ce-type", "dev.knative.sources.ping")
        .header(
            "ce-source",
            "/apis/v1/namespaces/default/pingsources/tickermesh-digest",
        )
        .header("ce-id", uuid::Uuid::new_v4().to_string())
        .header("ce-time", humantime_rfc3339(time_ms))
        .send()
        .await
        .unwrap()
}

fn subject(mail: &Mail) -> String {
    let head = mail.data.split("\r\n\r\n").next().unwrap_or_default();
    let head = head.replace("\r\n ", " ");
    head.lines()
        .find_map(|l| l.strip_prefix("Subject: ").map(str::to_owned))
        .unwrap_or_default()
}

async fn cooldown(backend: Backend) {
    let _not_building = BUILDING.read().await;
    let mesh = Mesh::start(backend, false).await;
    mesh.user(ADA).await;
    mesh.sql("UPDATE subscriptions SET cooldown_ms = ?", HOUR_MS)
        .await;

    // A crossing: mailed, and the watch's cooldown starts.
    mesh.market(&[("AAPL", 260.0)]).await;
    assert_eq!(mesh.alert_mails().len(), 1);
    // Back inside and above again within the hour: recorded, not mailed.
    mesh.market(&[("AAPL", 200.0)]).await;
    mesh.market(&[("AAPL", 270.0)]).await;
    let outcomes = mesh.outcomes().await;
    assert_eq!(outcomes.len(), 2, "{outcomes:?}");
    assert_eq!(
        (outcomes[0].1.as_str(), outcomes[1].1.as_str()),
        ("sent", "cooldown")
    );
    assert_eq!(
        outcomes[1].2.as_deref(),
        Some("cooldown: one alert per 1h for this watch")
    );
    assert_eq!(
        mesh.alert_mails().len(),
        1,
        "one e-mail within the cooldown"
    );

    // Another watch of the same user has its own cooldown: mailed.
    mesh.market(&[("MSFT", 410.0)]).await;
    let mails = mesh.alert_mails();
    assert_eq!(mails.len(), 2);
    assert_eq!(subject(&mails[1]), "MSFT");

    // An hour later (the last e-mail moved back by the cooldown): mailed again.
    mesh.sql(
        "UPDATE subscriptions SET last_mailed_at_ms = last_mailed_at_ms - ? \
         WHERE ticker = 'AAPL'",
        HOUR_MS,
    )
    .await;
    mesh.market(&[("AAPL", 200.0)]).await;
    mesh.market(&[("AAPL", 280.0)]).await;
    let mails = mesh.alert_mails();
    assert_eq!(mails.len(), 3);
    assert_eq!(subject(&mails[2]), "AAPL");
    assert!(
        mails[2].data.contains("Price: 280.00 USD"),
        "{}",
        mails[2].data
    );
    // Without a cooldown, every crossing is mailed.
    mesh.sql("UPDATE subscriptions SET cooldown_ms = ?", 0)
        .await;
    mesh.market(&[("AAPL", 200.0)]).await;
    mesh.market(&[("AAPL", 290.0)]).await;
    assert_eq!(mesh.alert_mails().len(), 4);
}
on_both_backends!(one_email_per_cooldown, cooldown);

/// An e-mail the mail server refuses for good (here: deferred, and tried once) reached nobody,
/// so it does not start the watch's cooldown: the claim is given back.
async fn refused_mail_keeps_no_cooldown(backend: Backend) {
    let _not_building = BUILDING.read().await;
    let smtp = SmtpServer::deferring(&[ADA]);
    let mesh = Mesh::start_with(backend, false, smtp).await;
    mesh.user(ADA).await;
    mesh.sql("UPDATE subscriptions SET cooldown_ms = ?", HOUR_MS)
        .await;
    mesh.market(&[("AAPL", 260.0)]).await;
    let outcomes = mesh.outcomes().await;
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    assert_eq!(outcomes[0].1, "dead_letter", "{outcomes:?}");
    let store = mesh.db.store().await;
    let last: Option<i64> =
        sqlx::query_scalar("SELECT last_mailed_at_ms FROM subscriptions WHERE ticker = 'AAPL'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    store.close().await;
    assert_eq!(last, None, "the refused e-mail left the cooldown claimed");
}
on_both_backends!(
    a_refused_mail_starts_no_cooldown,
    refused_mail_keeps_no_cooldown
);

/// Quiet hours in Tokyo (UTC+9, no daylight saving) for everyone, from half an hour ago to
/// half an hour from now, local time: the instant they end.
async fn quiet_now(mesh: &Mesh) -> i64 {
    let now = tickermesh_core::now_unix_ms();
    let minute_ms = now - now.rem_euclid(60_000);
    let local_min = (minute_ms / 60_000 + 9 * 60).rem_euclid(24 * 60);
    let (start, end) = (
        (local_min - 30).rem_euclid(1440),
        (local_min + 30).rem_euclid(1440),
    );
    let store = mesh.db.store().await;
    sqlx::query(
        "UPDATE users SET time_zone = 'Asia/Tokyo', quiet_start_min = ?, quiet_end_min = ?",
    )
    .bind(start)
    .bind(end)
    .execute(store.pool())
    .await
    .unwrap();
    store.close().await;
    minute_ms + 30 * 60_000
}

async fn quiet_hours_and_the_digest(backend: Backend, kafka: bool) {
    let _not_building = BUILDING.read().await;
    let mesh = Mesh::start(backend, kafka).await;
    mesh.user(ADA).await;
    mesh.user(BOB).await;
    let end = quiet_now(&mesh).await;

    // Three crossings in the quiet hours (two of AAPL, one of MSFT), for both users: held.
    mesh.market(&[("AAPL", 260.0)]).await;
    mesh.market(&[("AAPL", 200.0)]).await;
    mesh.market(&[("AAPL", 270.0), ("MSFT", 410.0)]).await;
    let outcomes = mesh.outcomes().await;
    assert_eq!(outcomes.len(), 6, "{outcomes:?}");
    for (ticker, outcome, _, due) in &outcomes {
        assert_eq!((outcome.as_str(), *due), ("held", Some(end)), "{ticker}");
    }
    assert!(
        mesh.alert_mails().is_empty(),
        "nothing mailed in the quiet hours"
    );

    // Bob unsubscribes meanwhile; before the end, no digest is due.
    mesh.sql(
        "UPDATE users SET unsubscribed_at_ms = ? WHERE email = 'bob@example.com'",
        1,
    )
    .await;
    assert_eq!(mesh.digest_tick(end - 1).await, 0);

    // After the end: ada's and bob's digests are due. The tick runs twice at once, as a
    // redelivered cron event would: one e-mail all the same.
    let (first, second) =
        tokio::join!(mesh.digest_tick(end + 1_000), mesh.digest_tick(end + 1_000));
    assert_eq!(first.max(second), 2, "both users due");
    let store = mesh.db.store().await;
    eventually(Duration::from_secs(30), "every held alert handled", || {
        let pool = store.pool().clone();
        async move {
            let held: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM sent_alerts WHERE outcome = 'held'")
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            (held == 0).then_some(())
        }
    })
    .await;
    store.close().await;
    // Both events of the second tick reach notify, which finds nothing left.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mails = mesh.alert_mails();
    assert_eq!(mails.len(), 1, "one digest e-mail");
    let digest = &mails[0];
    assert_eq!(digest.to, [ADA.to_owned()]);
    assert_eq!(subject(digest), "3 alerts from your quiet hours");
    assert_eq!(
        digest.data.matches("AAPL rose above your maximum").count(),
        2
    );
    assert_eq!(
        digest.data.matches("MSFT rose above your maximum").count(),
        1
    );
    assert!(digest
        .data
        .contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
    let outcomes = mesh.outcomes().await;
    let ada_sent = outcomes
        .iter()
        .filter(|(_, o, d, _)| o == "sent" && d.as_deref() == Some("digest"))
        .count();
    let bob_suppressed = outcomes
        .iter()
        .filter(|(_, o, d, _)| o == "suppressed" && d.as_deref() == Some("the user unsubscribed"))
        .count();
    assert_eq!((ada_sent, bob_suppressed), (3, 3), "{outcomes:?}");

    // Another tick finds nothing due and mails nothing.
    assert_eq!(mesh.digest_tick(end + 2_000).await, 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(mesh.alert_mails().len(), 1);

    // Without quiet hours, alerts are mailed at once.
    mesh.sql(
        "UPDATE users SET quiet_start_min = NULL, quiet_end_min = NULL WHERE id > ?",
        0,
    )
    .await;
    mesh.market(&[("AAPL", 200.0)]).await;
    mesh.market(&[("AAPL", 280.0)]).await;
    let mails = mesh.alert_mails();
    assert_eq!(mails.len(), 2);
    assert_eq!(subject(&mails[1]), "AAPL");
}

async fn digest_on_the_bus(backend: Backend) {
    quiet_hours_and_the_digest(backend, false).await
}
on_both_backends!(quiet_hours_then_one_digest, digest_on_the_bus);

async fn digest_on_kafka(backend: Backend) {
    quiet_hours_and_the_digest(backend, true).await
}
on_both_backends!(quiet_hours_then_one_digest_on_kafka, digest_on_kafka);

/// The digest function as its container serves it: `POST /` takes the cron event and publishes
/// one event per user due (read in batches), keyed by address and stamped with the tick's
/// time; `/healthz` answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_digest_function_publishes_one_event_per_user_due() {
    let db = TestDb::new(Backend::Sqlite).await;
    let store = db.store().await;
    let now = tickermesh_core::now_unix_ms();
    // Three users with held alerts: two due at `now`, one an hour later.
    for (i, (email, due)) in [
        ("c@example.com", now),
        ("a@example.com", now),
        ("b@example.com", now + HOUR_MS),
    ]
    .into_iter()
    .enumerate()
    {
        let alert = tickermesh_tests::db::alert(&format!("AAPL/{i}/above/{now}"), email);
        tickermesh_tests::db::store_alert(&store, &alert).await;
        tickermesh_tests::db::hold_alert(&store, &alert.alert_id, due).await;
    }
    let mut bus = ChannelBus::new();
    let mut events = bus.topic("alerts-x", 16);
    let config = DigestConfig {
        alerts_topic: "alerts-x".into(),
        batch: 1,
    };
    let digester = Arc::new(Digester::new(store.clone(), &config, Arc::new(bus)));
    let server = TestServer::start(tickermesh_digest::router(digester)).await;
    tickermesh_tests::http_get(server.addr, "/healthz").await;

    let response = cron(&server.url(), now).await;
    assert_eq!(response.status(), 200);
    let report: serde_json::Value = response.json().await.unwrap();
    assert_eq!(report["users"], 2, "{report}");
    let mut due = Vec::new();
    while let Ok((key, event)) = events.try_recv() {
        let (named, as_of) = DigestDue::from_event(&event, 0).unwrap();
        assert_eq!((key.as_str(), as_of), (named.email.as_str(), now));
        due.push(named.email);
    }
    assert_eq!(
        due,
        ["a@example.com", "c@example.com"],
        "in order, each once"
    );

    let response = cron(&server.url(), now + HOUR_MS).await;
    let report: serde_json::Value = response.json().await.unwrap();
    assert_eq!(report["users"], 3, "{report}");
    // (The registry is the process's, shared with the other tests: the series, not a count.)
    let metrics = tickermesh_tests::http_get(server.addr, "/metrics").await;
    assert!(
        metrics.contains("tickermesh_digest_events_total "),
        "{metrics}"
    );
    assert!(
        metrics.contains("tickermesh_digest_runs_total{outcome=\"ok\"}"),
        "{metrics}"
    );
}

/// The `tickermesh-digest` binary as a real process, as its container runs it: it takes the
/// cron event on `POST /`, publishes to Kafka (keyed by address, a CloudEvent in binary mode),
/// exports its metrics and stops on SIGTERM; a bad setting exits 2 naming its variable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_digest_binary_runs_as_a_process() {
    let _building = BUILDING.write().await;
    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{Consumer, StreamConsumer};
    use rdkafka::message::{Headers, Message};
    use tickermesh_tests::proc::{free_port, workspace_bin, Proc};

    let db = TestDb::new(Backend::MariaDb).await;
    let store = db.store().await;
    let now = tickermesh_core::now_unix_ms();
    let alert = tickermesh_tests::db::alert(&format!("AAPL/1/above/{now}"), "proc@example.com");
    tickermesh_tests::db::store_alert(&store, &alert).await;
    tickermesh_tests::db::hold_alert(&store, &alert.alert_id, now).await;

    let topic = tickermesh_tests::kafka::topic("digest-proc", 1).await;
    let port = free_port().to_string();
    let kafka = tickermesh_tests::kafka::env();
    let mut env: Vec<(&str, &str)> = vec![
        ("PORT", &port),
        ("TICKERMESH_DATABASE_URL", &db.url),
        ("TICKERMESH_ALERTS_TOPIC", &topic),
        ("TICKERMESH_SHUTDOWN_GRACE_SECS", "2"),
    ];
    env.extend(kafka.iter().map(|(k, v)| (*k, v.as_str())));
    let mut proc = Proc::spawn("tickermesh-digest", &env);
    let url = format!("http://127.0.0.1:{port}");
    eventually(Duration::from_secs(20), "the digest process", || async {
        let up = reqwest::get(format!("{url}/healthz")).await;
        up.is_ok_and(|r| r.status() == 200).then_some(())
    })
    .await;
    let response = cron(&url, now + 1_000).await;
    assert_eq!(response.status(), 200);
    let report: serde_json::Value = response.json().await.unwrap();
    assert_eq!(report["users"], 1, "{report}");

    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", tickermesh_tests::kafka::brokers())
        .set("group.id", format!("{topic}-g"))
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("fetch.wait.max.ms", "10")
        .create()
        .unwrap();
    consumer.subscribe(&[&topic]).unwrap();
    let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
        .await
        .expect("a record")
        .unwrap();
    assert_eq!(
        message.key(),
        Some(&b"proc@example.com"[..]),
        "keyed by address"
    );
    let headers = message.headers().expect("CloudEvent headers");
    let header = |name: &str| {
        headers
            .iter()
            .find(|h| h.key == name)
            .and_then(|h| h.value)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    };
    assert_eq!(header("ce_type").as_deref(), Some("tickermesh.digest.due"));
    // The tick's time, to the second (the binding writes it in its own RFC 3339 form).
    let time = header("ce_time").expect("ce_time");
    assert!(
        time.starts_with(&humantime_rfc3339(now + 1_000)[..19]),
        "{time}"
    );

    let metrics =
        tickermesh_tests::http_get(([127, 0, 0, 1], port.parse().unwrap()).into(), "/metrics")
            .await;
    assert!(
        metrics.contains("tickermesh_digest_events_total 1"),
        "{metrics}"
    );
    let status = proc
        .terminate(Duration::from_secs(5))
        .expect("exits after SIGTERM");
    assert!(status.success(), "exited with {status}");

    let bin = workspace_bin("tickermesh-digest");
    for (var, value) in [
        ("TICKERMESH_DIGEST_BATCH", "0"),
        ("TICKERMESH_KAFKA_BROKERS", ""),
    ] {
        let mut cmd = std::process::Command::new(&bin);
        cmd.env(
            "TICKERMESH_KAFKA_BROKERS",
            tickermesh_tests::kafka::brokers(),
        )
        .env("TICKERMESH_DATABASE_URL", &db.url)
        .env(var, value);
        let out = cmd.output().expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{var}={value:?}: {stderr}");
        assert!(stderr.contains(var), "{var}: {stderr}");
    }
}
