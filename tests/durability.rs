//! Alerts survive `tickermesh up` stopping or crashing while notify waits for the mail server:
//! the in-process bus keeps nothing, the alerts table does, so after a restart the e-mail
//! arrives, once.

use std::time::Duration;

use tickermesh_api::v1::user_commands_client::UserCommandsClient;
use tickermesh_api::v1::{ConfirmEmailRequest, RegisterUserRequest};
use tickermesh_core::store::{Store, StoreOptions};
use tickermesh_tests::access::local_code;
use tickermesh_tests::proc::{free_port, workspace_bin, Proc};
use tickermesh_tests::smtp::SmtpServer;
use tickermesh_tests::yahoo::{recent_s, FakeYahoo, Reply};
use tickermesh_tests::{eventually, ping};
use tonic::transport::Channel;

fn start_mesh(port: u16, dir: &std::path::Path, yahoo: &FakeYahoo, smtp_port: u16) -> Proc {
    let child = std::process::Command::new(workspace_bin("tickermesh"))
        .arg("up")
        .env("TICKERMESH_PORT", port.to_string())
        .env("TICKERMESH_DATA_DIR", dir)
        .env("TICKERMESH_YAHOO_BASE_URL", yahoo.base_url())
        .env("TICKERMESH_COLLECT_INTERVAL_SECS", "3600")
        .env(
            "TICKERMESH_SMTP_URL",
            format!("smtp://127.0.0.1:{smtp_port}"),
        )
        .env("TICKERMESH_LOG", "warn")
        .env_remove("TICKERMESH_DATABASE_URL")
        .env_remove("TICKERMESH_MAIL_OUTBOX")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn tickermesh up");
    Proc { child }
}

/// How many alerts are stored and handed on, and how many notify has handled.
async fn alert_counts(store: &Store) -> (i64, i64) {
    let published: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM alerts WHERE published_at_ms IS NOT NULL")
            .fetch_one(store.pool())
            .await
            .unwrap();
    let handled: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM sent_alerts WHERE outcome <> 'sending'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    (published, handled)
}

async fn alert_survives(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let yahoo = FakeYahoo::start().await;
    let (port, smtp_port) = (free_port(), free_port());
    let endpoint = format!("http://127.0.0.1:{port}");
    let mut mesh = start_mesh(port, dir.path(), &yahoo, smtp_port);
    let channel = Channel::from_shared(endpoint.clone())
        .unwrap()
        .connect_lazy();
    let commands = UserCommandsClient::new(channel);
    let register = RegisterUserRequest {
        email: "ada@example.com".into(),
        ticker: "AAPL".into(),
        min_price: None,
        max_price: Some(250.0),
        ..Default::default()
    };
    // The market knows AAPL before anyone watches it (a price inside the band, which alerts
    // nobody): the mesh's collector ticks once as it starts, and a symbol the market does not
    // know is skipped for a day — should that tick come after the registration.
    let inside = Reply::Price {
        price: 200.0,
        market_time_s: recent_s() - 60,
    };
    yahoo.set("AAPL", inside);
    eventually(Duration::from_secs(30), "tickermesh up", || {
        let (mut c, r) = (commands.clone(), register.clone());
        async move { c.register_user(r).await.ok() }
    })
    .await;
    // Alerts go to confirmed addresses only: confirm with the e-mailed code (derived here with
    // the mesh's own key: the mail server is away, so the e-mail waits too).
    let code = local_code(dir.path(), "ada@example.com").await;
    commands
        .clone()
        .confirm_email(ConfirmEmailRequest {
            email: "ada@example.com".into(),
            code,
        })
        .await
        .expect("confirm");
    // Above the band, and newer: the next price collected (confirming asks for the ticker's
    // first price at once, or the tick below) is the one alert.
    let reply = Reply::Price {
        price: 300.0,
        market_time_s: recent_s(),
    };
    yahoo.set("AAPL", reply);
    // A tick that arrives while the mesh's own first tick runs is skipped: send it again.
    eventually(Duration::from_secs(10), "a tick that ran", || async {
        let report: serde_json::Value = ping(&format!("{endpoint}/collect"))
            .await
            .json()
            .await
            .unwrap();
        (report["skipped"] == false).then_some(())
    })
    .await;

    // The alert is stored and handed to the bus; the mail server is away, so notify retries.
    let url = format!("sqlite://{}", dir.path().join("tickermesh.db").display());
    let store = Store::connect(&url, &StoreOptions::default())
        .await
        .unwrap();
    eventually(Duration::from_secs(30), "the alert handed on", || async {
        (alert_counts(&store).await == (1, 0)).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(alert_counts(&store).await, (1, 0), "not mailed yet");

    let _ = std::process::Command::new("kill")
        .args([signal, &mesh.child.id().to_string()])
        .status();
    let _ = mesh.child.wait();
    drop(mesh);

    let smtp = SmtpServer::start_on(smtp_port);
    let _restarted = start_mesh(port, dir.path(), &yahoo, smtp_port);
    // The alert e-mails (the confirmation e-mail, which waited too, is not one).
    let alert_mails = || {
        smtp.mails()
            .into_iter()
            .filter(|m| !m.data.contains("Your code:"))
            .collect::<Vec<_>>()
    };
    let mails = eventually(
        Duration::from_secs(30),
        "the e-mail after the restart",
        || {
            let mails = alert_mails();
            async move { (!mails.is_empty()).then_some(mails) }
        },
    )
    .await;
    assert_eq!(mails[0].to, vec!["ada@example.com".to_owned()]);
    assert!(mails[0].data.contains("Subject: AAPL"), "{}", mails[0].data);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(alert_mails().len(), 1, "once");
    assert_eq!(alert_counts(&store).await, (1, 1));
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_survives_sigterm_during_a_retry() {
    alert_survives("-TERM").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_survives_kill_9_during_a_retry() {
    alert_survives("-KILL").await;
}
