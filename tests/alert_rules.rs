//! Every kind of alert rule end to end, on the broker: the collect, evaluate, notify and digest
//! binaries on MariaDB with the tansu broker, a real SMTP server and the fake Yahoo; users,
//! watches and the history through the gRPC API. Two users with several tickers each, every
//! rule kind (above, below, percent up, percent down) firing once and only once, a cooldown
//! holding back a second alert of one watch, a third user's alert held during the quiet hours
//! and mailed as one digest when they end — and the history showing what became of each.

use std::time::Duration;

use tickermesh_api::v1::quiet_hours_change::Change as QuietChange;
use tickermesh_api::v1::ticker_queries_client::TickerQueriesClient;
use tickermesh_api::v1::{
    AddWatchRequest, AlertRecord, DeliveryStatus, ListAlertsRequest, QuietHours, QuietHoursChange,
    RegisterUserRequest, UpdateUserRequest,
};
use tickermesh_tests::access::{bearer, sign_up};
use tickermesh_tests::proc::{free_port, Proc};
use tickermesh_tests::smtp::SmtpServer;
use tickermesh_tests::yahoo::{recent_s, FakeYahoo, Reply};
use tickermesh_tests::{eventually, kafka, ping, spawn_mesh, Backend, TestDb};
use tonic::transport::Channel;

const TICKERS: [&str; 6] = ["AAPL", "MSFT", "NVDA", "TSLA", "GOOG", "AMZN"];

fn spawn(base: &[(&'static str, String)], bin: &str, port: u16, extra: &[(&str, String)]) -> Proc {
    let mut env: Vec<(&str, &str)> = base.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let port = port.to_string();
    env.push(("PORT", &port));
    env.extend(extra.iter().map(|(k, v)| (*k, v.as_str())));
    Proc::spawn(bin, &env)
}

async fn healthy(port: u16) {
    eventually(
        Duration::from_secs(30),
        "a function to answer",
        || async move {
            let url = format!("http://127.0.0.1:{port}/healthz");
            let ok = reqwest::get(url)
                .await
                .is_ok_and(|r| r.status().is_success());
            ok.then_some(())
        },
    )
    .await;
}

fn register(email: &str, ticker: &str, min: Option<f64>, max: Option<f64>) -> RegisterUserRequest {
    RegisterUserRequest {
        email: email.into(),
        ticker: ticker.into(),
        min_price: min,
        max_price: max,
        ..Default::default()
    }
}

fn watch(email: &str, ticker: &str, max: Option<f64>, min: Option<f64>) -> AddWatchRequest {
    AddWatchRequest {
        email: email.into(),
        ticker: ticker.into(),
        min_price: min,
        max_price: max,
        ..Default::default()
    }
}

/// `HH:MM` of a minute of the day.
fn hh_mm(minute: i64) -> String {
    let m = minute.rem_euclid(24 * 60);
    format!("{:02}:{:02}", m / 60, m % 60)
}

async fn history(
    queries: &mut TickerQueriesClient<Channel>,
    email: &str,
    token: &str,
) -> Vec<AlertRecord> {
    let request = ListAlertsRequest {
        email: email.into(),
        limit: 100,
        ticker: None,
    };
    queries
        .list_alerts(bearer(request, token))
        .await
        .expect("ListAlerts")
        .into_inner()
        .alerts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rule_kind_fires_once_and_the_history_says_how_each_was_delivered() {
    let db = TestDb::new(Backend::MariaDb).await;
    let (server, ctx) = spawn_mesh(&db).await;
    let (mut c, mut q) = (server.commands().await, server.queries().await);
    let store = &ctx.store;

    // ada: a maximum on AAPL, a minimum on MSFT, a 5 % move on NVDA.
    let (_, ada) = sign_up(
        &mut c,
        store,
        register("ada@example.com", "AAPL", None, Some(250.0)),
    )
    .await;
    c.add_watch(bearer(
        watch("ada@example.com", "MSFT", None, Some(300.0)),
        &ada,
    ))
    .await
    .expect("ada MSFT");
    let mut nvda = watch("ada@example.com", "NVDA", None, None);
    nvda.move_percent = Some(5.0);
    c.add_watch(bearer(nvda, &ada)).await.expect("ada NVDA");
    // bob: a 5 % move on TSLA, a maximum on GOOG with a one-hour cooldown.
    let mut tsla = register("bob@example.com", "TSLA", None, None);
    tsla.move_percent = Some(5.0);
    let (_, bob) = sign_up(&mut c, store, tsla).await;
    let mut goog = watch("bob@example.com", "GOOG", Some(200.0), None);
    goog.cooldown_seconds = Some(3600);
    c.add_watch(bearer(goog, &bob)).await.expect("bob GOOG");
    // carol: a maximum on AMZN, and quiet hours from an hour ago to an hour from now (UTC).
    let (_, carol) = sign_up(
        &mut c,
        store,
        register("carol@example.com", "AMZN", None, Some(150.0)),
    )
    .await;
    let now_s = tickermesh_core::now_unix_ms() / 1000;
    let now_min = (now_s / 60).rem_euclid(24 * 60);
    let quiet = UpdateUserRequest {
        email: "carol@example.com".into(),
        time_zone: Some("UTC".into()),
        quiet_hours: Some(QuietHoursChange {
            change: Some(QuietChange::Set(QuietHours {
                start: hh_mm(now_min - 60),
                end: hh_mm(now_min + 60),
            })),
        }),
        ..Default::default()
    };
    c.update_user(bearer(quiet, &carol))
        .await
        .expect("carol's quiet hours");

    let yahoo = FakeYahoo::start().await;
    yahoo.set_previous_close("NVDA", Some(100.0));
    yahoo.set_previous_close("TSLA", Some(200.0));
    let smtp = SmtpServer::start();
    let quotes = kafka::topic("rules-quotes", 3).await;
    let alerts = kafka::topic("rules-alerts", 3).await;
    let mut base = kafka::env();
    base.extend([
        ("TICKERMESH_DATABASE_URL", db.url.clone()),
        ("TICKERMESH_QUOTES_TOPIC", quotes.clone()),
        ("TICKERMESH_ALERTS_TOPIC", alerts.clone()),
        ("TICKERMESH_SHUTDOWN_GRACE_SECS", "1".into()),
    ]);
    let ports = [free_port(), free_port(), free_port(), free_port()];
    let [collect_port, evaluate_port, notify_port, digest_port] = ports;
    let yahoo_url = [("TICKERMESH_YAHOO_BASE_URL", yahoo.base_url())];
    let _collect = spawn(&base, "tickermesh-collect", collect_port, &yahoo_url);
    let group = [("TICKERMESH_CONSUMER_GROUP", format!("{quotes}-evaluate"))];
    let _evaluate = spawn(&base, "tickermesh-evaluate", evaluate_port, &group);
    let notify_env = [
        ("TICKERMESH_CONSUMER_GROUP", format!("{alerts}-notify")),
        ("TICKERMESH_SMTP_URL", smtp.url()),
        (
            "TICKERMESH_SIGNING_KEY",
            tickermesh_tests::access::TEST_KEY.into(),
        ),
        (
            "TICKERMESH_MAIL_FROM",
            "tickermesh <alerts@example.com>".into(),
        ),
    ];
    let _notify = spawn(&base, "tickermesh-notify", notify_port, &notify_env);
    let _digest = spawn(&base, "tickermesh-digest", digest_port, &[]);
    for port in ports {
        healthy(port).await;
    }

    // Four ticks a minute apart (market time). The first finds every price inside its rules;
    // the second crosses every rule; the third changes nothing but brings GOOG back inside;
    // the fourth takes GOOG above again, inside its watch's cooldown.
    let t0 = recent_s() - 600;
    let rounds: [&[(&str, f64)]; 4] = [
        &[
            ("AAPL", 240.0),
            ("MSFT", 310.0),
            ("NVDA", 100.0),
            ("TSLA", 200.0),
            ("GOOG", 190.0),
            ("AMZN", 140.0),
        ],
        &[
            ("AAPL", 260.0),
            ("MSFT", 290.0),
            ("NVDA", 106.0),
            ("TSLA", 188.0),
            ("GOOG", 210.0),
            ("AMZN", 160.0),
        ],
        &[
            ("AAPL", 265.0),
            ("MSFT", 280.0),
            ("NVDA", 107.0),
            ("TSLA", 187.0),
            ("GOOG", 195.0),
            ("AMZN", 161.0),
        ],
        &[
            ("AAPL", 266.0),
            ("MSFT", 281.0),
            ("NVDA", 107.5),
            ("TSLA", 186.0),
            ("GOOG", 205.0),
            ("AMZN", 162.0),
        ],
    ];
    for (k, prices) in rounds.iter().enumerate() {
        let market_time_s = t0 + 60 * i64::try_from(k).unwrap();
        for (ticker, price) in prices.iter() {
            yahoo.set(
                ticker,
                Reply::Price {
                    price: *price,
                    market_time_s,
                },
            );
        }
        let r = ping(&format!("http://127.0.0.1:{collect_port}/")).await;
        assert_eq!(r.status(), 200, "{:?}", r.text().await);
        eventually(Duration::from_secs(60), "evaluate to see the tick", || {
            let pool = store.pool().clone();
            async move {
                let n: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM quote_evaluations WHERE market_time_ms = ?",
                )
                .bind(market_time_s * 1000)
                .fetch_one(&pool)
                .await
                .unwrap();
                (n == i64::try_from(TICKERS.len()).unwrap()).then_some(())
            }
        })
        .await;
    }

    // Every alert handled: five mailed, GOOG's second held back by the cooldown, carol's held.
    eventually(
        Duration::from_secs(60),
        "notify to handle every alert",
        || {
            let pool = store.pool().clone();
            async move {
                let n: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM alerts a JOIN sent_alerts s ON s.alert_id = a.alert_id \
                     WHERE s.outcome <> 'sending'",
                )
                .fetch_one(&pool)
                .await
                .unwrap();
                (n == 7).then_some(())
            }
        },
    )
    .await;
    let mails = smtp.mails();
    let to = |who: &str| -> Vec<String> {
        mails
            .iter()
            .filter(|m| m.to == vec![who.to_owned()])
            .map(|m| m.data.clone())
            .collect()
    };
    let ada_mails = to("ada@example.com");
    assert_eq!(ada_mails.len(), 3, "{ada_mails:#?}");
    for (ticker, says) in [("AAPL", "above"), ("MSFT", "below"), ("NVDA", "up")] {
        let mail = ada_mails
            .iter()
            .find(|m| m.contains(&format!("Subject: {ticker}")))
            .unwrap_or_else(|| panic!("no e-mail about {ticker}: {ada_mails:#?}"));
        assert!(mail.contains(says), "{ticker}: {mail}");
    }
    let bob_mails = to("bob@example.com");
    assert_eq!(bob_mails.len(), 2, "{bob_mails:#?}");
    assert!(bob_mails
        .iter()
        .any(|m| m.contains("Subject: TSLA") && m.contains("down")));
    assert!(bob_mails.iter().any(|m| m.contains("Subject: GOOG")));
    assert!(
        to("carol@example.com").is_empty(),
        "quiet hours: nothing yet"
    );

    // The quiet hours end: the digest tick at that time (PingSource stamps its ticks) mails
    // carol one e-mail.
    let end_s = now_s - now_s.rem_euclid(60) + 3600 + 60;
    let at = std::time::UNIX_EPOCH + Duration::from_secs(u64::try_from(end_s).unwrap());
    let r = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{digest_port}/"))
        .header("ce-specversion", "1.0")
        .header("ce-type", "dev.knative.sources.ping")
        .header(
            "ce-source",
            "/apis/v1/namespaces/tickermesh/pingsources/digest",
        )
        .header("ce-id", "digest-tick")
        .header("ce-time", humantime::format_rfc3339_seconds(at).to_string())
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{:?}", r.text().await);
    let digest = eventually(Duration::from_secs(60), "carol's digest", || async {
        smtp.mails()
            .into_iter()
            .find(|m| m.to == vec!["carol@example.com".to_owned()])
    })
    .await;
    assert!(digest.data.contains("AMZN"), "{}", digest.data);

    // The history: newest first, each with its rule and what became of its e-mail.
    let sent = DeliveryStatus::Sent as i32;
    let ada_history = history(&mut q, "ada@example.com", &ada).await;
    let mut rules: Vec<(String, String)> = ada_history
        .iter()
        .map(|a| (a.ticker.clone(), a.rule.clone()))
        .collect();
    rules.sort();
    assert_eq!(
        rules,
        [("AAPL", "above"), ("MSFT", "below"), ("NVDA", "up")]
            .map(|(t, r)| (t.to_owned(), r.to_owned()))
    );
    assert!(
        ada_history.iter().all(|a| a.status == sent),
        "{ada_history:#?}"
    );
    let nvda = ada_history.iter().find(|a| a.ticker == "NVDA").unwrap();
    assert_eq!((nvda.threshold, nvda.reference), (5.0, Some(100.0)));

    let bob_history = history(&mut q, "bob@example.com", &bob).await;
    assert_eq!(bob_history.len(), 3, "{bob_history:#?}");
    assert!(bob_history
        .windows(2)
        .all(|w| w[0].created_at_unix_ms >= w[1].created_at_unix_ms));
    let goog: Vec<&AlertRecord> = bob_history.iter().filter(|a| a.ticker == "GOOG").collect();
    assert_eq!(goog.len(), 2);
    // Newest first: the second crossing, held back by the cooldown.
    assert_eq!(
        goog[0].status,
        DeliveryStatus::Suppressed as i32,
        "{goog:#?}"
    );
    assert!(goog[0].detail.contains("cooldown"), "{goog:#?}");
    assert_eq!(goog[1].status, sent);
    let tsla = bob_history.iter().find(|a| a.ticker == "TSLA").unwrap();
    assert_eq!((tsla.rule.as_str(), tsla.status), ("down", sent));

    let carol_history = history(&mut q, "carol@example.com", &carol).await;
    assert_eq!(carol_history.len(), 1, "{carol_history:#?}");
    assert_eq!(carol_history[0].status, sent);
    assert_eq!(carol_history[0].detail, "digest");

    // Nothing else is on its way: six e-mails in all.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(smtp.mails().len(), 6, "{:#?}", smtp.mails());
}
