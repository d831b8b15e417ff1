//! Consent end to end inside `tickermesh up`, with a real SMTP server: registering mails a code
//! and no alert; the code from that e-mail confirms the address; alert e-mails then carry
//! RFC 8058 one-click unsubscribe headers whose URL, POSTed, stops the alerts at once; a new
//! code (RequestAccess) confirms again and resumes them. On SQLite and MariaDB.

use std::path::Path;
use std::time::Duration;

use tickermesh::up::{self, UpConfig};
use tickermesh_api::v1::{
    ConfirmEmailRequest, GetLatestValueRequest, RegisterUserRequest, RequestAccessRequest,
};
use tickermesh_notify::{LinkSettings, MailConfig, MailSettings};
use tickermesh_tests::access::bearer;
use tickermesh_tests::smtp::{Mail, SmtpServer};
use tickermesh_tests::yahoo::{recent_s, FakeYahoo, Reply};
use tickermesh_tests::{eventually, on_both_backends, Backend, TestDb};
use tokio::net::TcpListener;
use tonic::Code;

const ADA: &str = "ada@example.com";

fn config(db: &TestDb, dir: &Path, yahoo: &FakeYahoo, smtp: &SmtpServer, public: &str) -> UpConfig {
    let base = tickermesh_tests::up::config(db, dir, yahoo);
    UpConfig {
        mail: MailSettings {
            transport: MailConfig::Smtp {
                url: smtp.url().into(),
                credentials: None,
            },
            concurrency: 4,
            lease: tickermesh_notify::DEFAULT_MAIL_LEASE,
            ..base.mail.clone()
        },
        links: Some(LinkSettings {
            public_url: public.parse().unwrap(),
            mailto: Some("unsubscribe@example.com".parse().unwrap()),
        }),
        ..base
    }
}

/// The value of header `name` in a received message (unfolded).
fn header(mail: &Mail, name: &str) -> Option<String> {
    let head = mail.data.split("\r\n\r\n").next()?;
    let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
    unfolded
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_owned))
}

fn alerts(smtp: &SmtpServer) -> Vec<Mail> {
    smtp.mails()
        .into_iter()
        .filter(|m| header(m, "Subject").as_deref() == Some("AAPL"))
        .collect()
}

/// The code of the newest confirmation e-mail to `to`.
fn code_in(smtp: &SmtpServer, to: &str) -> Option<String> {
    smtp.mails().iter().rev().find_map(|m| {
        if !m.to.iter().any(|r| r.contains(to)) {
            return None;
        }
        let line = m.data.lines().find(|l| l.starts_with("Your code: "))?;
        Some(line.trim_start_matches("Your code: ").trim().to_owned())
    })
}

async fn tick(url: &str) {
    eventually(Duration::from_secs(10), "a tick that ran", || async {
        let response = tickermesh_tests::ping(&format!("{url}/collect")).await;
        let report: serde_json::Value = response.json().await.unwrap();
        (report["skipped"] == false).then_some(())
    })
    .await;
}

/// Waits until `stored` alerts were stored (evaluate takes the tick's quote after the tick
/// has answered) and notify has handled every one of them (sent or suppressed).
async fn all_handled(db: &TestDb, stored: i64) {
    let store = db.store().await;
    eventually(Duration::from_secs(30), "every alert handled", || {
        let pool = store.pool().clone();
        async move {
            let (all, open): (i64, i64) = sqlx::query_as(
                "SELECT COUNT(*), COUNT(CASE WHEN s.alert_id IS NULL \
                 OR s.outcome = 'sending' THEN 1 END) \
                 FROM alerts a LEFT JOIN sent_alerts s ON s.alert_id = a.alert_id",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            (all >= stored && open == 0).then_some(())
        }
    })
    .await;
}

async fn consent_end_to_end(backend: Backend) {
    tickermesh_tests::init_logs();
    let db = TestDb::new(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let yahoo = FakeYahoo::start().await;
    let smtp = SmtpServer::start();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let mesh = up::build(&config(&db, dir.path(), &yahoo, &smtp, &url))
        .await
        .unwrap();
    let server = tokio::spawn(tickermesh_core::server::serve(
        listener,
        mesh.router.clone(),
        std::future::pending(),
        Duration::from_secs(1),
    ));
    let channel = tonic::transport::Channel::from_shared(url.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut commands =
        tickermesh_api::v1::user_commands_client::UserCommandsClient::new(channel.clone());
    let mut queries = tickermesh_api::v1::ticker_queries_client::TickerQueriesClient::new(channel);

    // The mesh's collector ticks once as it starts: should that tick come after the
    // registration, the market must know the symbol (a price inside the band, which alerts
    // nobody), or AAPL would be put aside as unknown for a day.
    let mut at = recent_s();
    let mut price = |p: f64| {
        at += 60;
        yahoo.set(
            "AAPL",
            Reply::Price {
                price: p,
                market_time_s: at,
            },
        );
    };
    price(200.0);
    let registered = commands
        .register_user(RegisterUserRequest {
            email: ADA.into(),
            ticker: "AAPL".into(),
            max_price: Some(250.0),
            ..Default::default()
        })
        .await
        .expect("register")
        .into_inner();
    assert!(!registered.user.unwrap().confirmed);
    let code = eventually(
        Duration::from_secs(20),
        "the confirmation e-mail",
        || async { code_in(&smtp, ADA) },
    )
    .await;
    assert_eq!(code.len(), 8, "{code}");

    // Unconfirmed: a crossing is evaluated, but nothing is mailed.
    price(260.0);
    tick(&url).await;
    all_handled(&db, 1).await;
    assert!(
        alerts(&smtp).is_empty(),
        "no alert to an unconfirmed address"
    );

    // The code from the e-mail confirms the address and gives a token that works.
    let token = commands
        .confirm_email(ConfirmEmailRequest {
            email: ADA.into(),
            code,
        })
        .await
        .expect("confirm")
        .into_inner()
        .access_token;
    queries
        .get_latest_value(bearer(
            GetLatestValueRequest {
                email: ADA.into(),
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect("latest with the token");

    // Confirming re-armed the watch: the next quote, still above, tells the crossing that
    // could not be mailed before. One alert e-mail, with both headers.
    price(265.0);
    tick(&url).await;
    let mail = eventually(Duration::from_secs(20), "the alert e-mail", || async {
        alerts(&smtp).into_iter().next()
    })
    .await;
    let list = header(&mail, "List-Unsubscribe").expect("List-Unsubscribe");
    assert_eq!(
        header(&mail, "List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    assert!(
        list.contains("<mailto:unsubscribe@example.com?subject=unsubscribe>"),
        "{list}"
    );
    let link = list
        .split('<')
        .filter_map(|p| p.split('>').next())
        .find(|u| u.starts_with("http"))
        .expect("an http(s) link")
        .to_owned();
    assert!(link.starts_with(&format!("{url}/unsubscribe?")), "{link}");

    // A tampered link changes nothing; the one-click POST of the real one stops the alerts.
    let http = reqwest::Client::new();
    let tampered = link.replacen("t=", "t=A", 1);
    let answer = http
        .post(&tampered)
        .form(&[("List-Unsubscribe", "One-Click")])
        .send()
        .await
        .unwrap();
    assert!(matches!(answer.status().as_u16(), 400 | 403), "{answer:?}");
    let answer = http
        .post(&link)
        .form(&[("List-Unsubscribe", "One-Click")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    price(200.0);
    tick(&url).await;
    price(280.0);
    tick(&url).await;
    all_handled(&db, 3).await;
    assert_eq!(alerts(&smtp).len(), 1, "no alert after unsubscribing");
    let suppressed: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM sent_alerts WHERE outcome = 'suppressed'")
            .fetch_one(db.store().await.pool())
            .await
            .unwrap();
    assert_eq!(
        suppressed, 2,
        "one before confirming, one after unsubscribing"
    );

    // Confirming again (a new code by e-mail) resumes them; the old token stops working.
    let mails_before = smtp.count();
    commands
        .request_access(RequestAccessRequest { email: ADA.into() })
        .await
        .expect("request access");
    let code = eventually(
        Duration::from_secs(20),
        "the access code e-mail",
        || async {
            (smtp.count() > mails_before)
                .then(|| code_in(&smtp, ADA))
                .flatten()
        },
    )
    .await;
    let new_token = commands
        .confirm_email(ConfirmEmailRequest {
            email: ADA.into(),
            code,
        })
        .await
        .expect("confirm again")
        .into_inner()
        .access_token;
    let old = queries
        .get_latest_value(bearer(
            GetLatestValueRequest {
                email: ADA.into(),
                ..Default::default()
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(old.code(), Code::Unauthenticated, "{old:?}");
    assert_ne!(new_token, token);
    // Resuming does not re-arm (what was crossed before the link may have been mailed): back
    // inside, then above.
    price(200.0);
    tick(&url).await;
    price(290.0);
    tick(&url).await;
    eventually(Duration::from_secs(20), "a second alert e-mail", || async {
        (alerts(&smtp).len() == 2).then_some(())
    })
    .await;
    server.abort();
}
on_both_backends!(consent, consent_end_to_end);
