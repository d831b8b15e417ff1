//! End to end across separate processes: the collect, evaluate and notify binaries on MariaDB,
//! the tansu Kafka broker, a real SMTP server and a fake Yahoo. Register with a max; the price
//! goes above → exactly one e-mail; still above → none; evaluate killed and restarted while the
//! price comes back inside and goes above again → a second e-mail, no duplicate, none lost.

use std::time::Duration;

use tickermesh_tests::db::register;
use tickermesh_tests::proc::{free_port, Proc};
use tickermesh_tests::smtp::SmtpServer;
use tickermesh_tests::yahoo::{FakeYahoo, Reply};
use tickermesh_tests::{eventually, kafka, ping, Backend, TestDb};

struct Mesh {
    base: Vec<(&'static str, String)>,
}

impl Mesh {
    fn spawn(&self, bin: &str, port: u16, extra: &[(&'static str, String)]) -> Proc {
        let mut env: Vec<(&str, String)> = self.base.clone();
        env.push(("PORT", port.to_string()));
        env.extend(extra.iter().cloned());
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Proc::spawn(bin, &env)
    }
}

async fn healthy(port: u16) {
    eventually(
        Duration::from_secs(30),
        "a function to answer /healthz",
        || async move {
            let ok = reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
                .await
                .is_ok_and(|r| r.status().is_success());
            ok.then_some(())
        },
    )
    .await;
}

async fn alerts(db: &TestDb) -> i64 {
    let store = db.store().await;
    let n = sqlx::query_scalar("SELECT COUNT(*) FROM alerts")
        .fetch_one(store.pool())
        .await
        .unwrap();
    store.close().await;
    n
}

async fn evaluated(db: &TestDb, market_time_s: i64) {
    let store = db.store().await;
    eventually(Duration::from_secs(60), "evaluate to see the quote", || {
        let pool = store.pool().clone();
        async move {
            let t: Option<i64> =
                sqlx::query_scalar("SELECT MAX(market_time_ms) FROM quote_evaluations")
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            (t == Some(market_time_s * 1000)).then_some(())
        }
    })
    .await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_email_per_crossing_across_processes() {
    let db = TestDb::new(Backend::MariaDb).await;
    let store = db.store().await;
    register(&store, "ada@example.com", "AAPL", None, Some(250.0)).await;
    let yahoo = FakeYahoo::start().await;
    let smtp = SmtpServer::start();
    let quotes = kafka::topic("quotes", 1).await;
    let alerts_topic = kafka::topic("alerts", 1).await;

    let mut base = kafka::env();
    base.extend([
        ("TICKERMESH_DATABASE_URL", db.url.clone()),
        ("TICKERMESH_QUOTES_TOPIC", quotes.clone()),
        ("TICKERMESH_ALERTS_TOPIC", alerts_topic.clone()),
        ("TICKERMESH_SHUTDOWN_GRACE_SECS", "1".into()),
    ]);
    let mesh = Mesh { base };
    let (collect_port, evaluate_port, notify_port) = (free_port(), free_port(), free_port());
    let _collect = mesh.spawn(
        "tickermesh-collect",
        collect_port,
        &[("TICKERMESH_YAHOO_BASE_URL", yahoo.base_url())],
    );
    let evaluate_env = [("TICKERMESH_CONSUMER_GROUP", format!("{quotes}-evaluate"))];
    let mut evaluate = mesh.spawn("tickermesh-evaluate", evaluate_port, &evaluate_env);
    let _notify = mesh.spawn(
        "tickermesh-notify",
        notify_port,
        &[
            (
                "TICKERMESH_CONSUMER_GROUP",
                format!("{alerts_topic}-notify"),
            ),
            ("TICKERMESH_SMTP_URL", smtp.url()),
            // notify derives access codes and signs unsubscribe links with it.
            (
                "TICKERMESH_SIGNING_KEY",
                tickermesh_tests::access::TEST_KEY.into(),
            ),
            (
                "TICKERMESH_MAIL_FROM",
                "tickermesh <alerts@example.com>".into(),
            ),
        ],
    );
    for port in [collect_port, evaluate_port, notify_port] {
        healthy(port).await;
    }
    let tick = || async {
        let r = ping(&format!("http://127.0.0.1:{collect_port}/")).await;
        assert_eq!(r.status(), 200, "{:?}", r.text().await);
    };

    let t0 = tickermesh_tests::yahoo::recent_s();
    yahoo.set(
        "AAPL",
        Reply::Price {
            price: 260.0,
            market_time_s: t0,
        },
    );
    tick().await;
    let mail = eventually(Duration::from_secs(60), "the first e-mail", || async {
        smtp.mails().first().cloned()
    })
    .await;
    assert_eq!(mail.to, vec!["ada@example.com".to_owned()]);
    assert!(mail.data.contains("Subject: AAPL"), "{}", mail.data);
    assert!(mail
        .data
        .contains("AAPL rose above your maximum of 250.00 USD."));
    assert!(mail.data.contains("Price: 260.00 USD"));

    // Still above: evaluated, no new alert.
    yahoo.set(
        "AAPL",
        Reply::Price {
            price: 265.0,
            market_time_s: t0 + 60,
        },
    );
    tick().await;
    evaluated(&db, t0 + 60).await;
    assert_eq!(alerts(&db).await, 1);

    // evaluate dies; the price comes back inside, then goes above again while it is down.
    drop(evaluate);
    yahoo.set(
        "AAPL",
        Reply::Price {
            price: 200.0,
            market_time_s: t0 + 120,
        },
    );
    tick().await;
    yahoo.set(
        "AAPL",
        Reply::Price {
            price: 255.0,
            market_time_s: t0 + 180,
        },
    );
    tick().await;
    evaluate = mesh.spawn("tickermesh-evaluate", evaluate_port, &evaluate_env);
    healthy(evaluate_port).await;
    eventually(Duration::from_secs(90), "the second e-mail", || async {
        (smtp.mails().len() == 2).then_some(())
    })
    .await;
    evaluated(&db, t0 + 180).await;
    // Nothing more is on its way: two crossings, two alerts, two e-mails.
    assert_eq!(alerts(&db).await, 2);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.mails().len(), 2);
    assert!(smtp.mails()[1].data.contains("Price: 255.00 USD"));
    drop(evaluate);
}
