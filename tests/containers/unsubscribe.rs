//! The unsubscribe image run as Knative runs it, on MariaDB: the link's page and its one-click
//! POST through the container, a bad token refused, the key passed only by environment, and a
//! missing key refused at start with exit code 2 naming the variable.

use std::time::Duration;

use reqwest::StatusCode;
use tickermesh_core::signing::SigningKey;
use tickermesh_tests::containers::{build_images, profile_dir, Container, Podman};
use tickermesh_tests::proc::{free_port, workspace_bin};
use tickermesh_tests::{eventually, Backend, TestDb};

use super::{stops_cleanly, READY_WITHIN};

const KEY: &str = "a container test signing key, 32 bytes or more";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unsubscribe_image_serves_the_link_on_mariadb() {
    workspace_bin("tickermesh-unsubscribe");
    let podman = Podman::new();
    let image = build_images(&podman, &profile_dir(), &["unsubscribe"]).remove(0);
    assert_eq!(image.inspect("{{.Config.User}}"), "65532:65532");

    let db = TestDb::new(Backend::MariaDb).await;
    let store = db.store().await;
    let now = tickermesh_core::now_unix_ms();
    sqlx::query("INSERT INTO users (email, created_at_ms, updated_at_ms) VALUES (?, ?, ?)")
        .bind("box@example.com")
        .bind(now)
        .bind(now)
        .execute(store.pool())
        .await
        .unwrap();
    let id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE email = ?")
        .bind("box@example.com")
        .fetch_one(store.pool())
        .await
        .unwrap();

    // Without the key: exit code 2, the variable named, before anything listens.
    let port = free_port();
    let env = [
        ("PORT", port.to_string()),
        ("TICKERMESH_DATABASE_URL", db.url.clone()),
    ];
    let keyless = Container::start(&podman, &image, &env);
    eventually(READY_WITHIN, "the keyless container to stop", || async {
        (!keyless.running()).then_some(())
    })
    .await;
    assert_eq!(
        keyless.stop(Duration::from_secs(1)).0,
        2,
        "{}",
        keyless.logs()
    );
    assert!(
        keyless.logs().contains("TICKERMESH_SIGNING_KEY"),
        "{}",
        keyless.logs()
    );

    let mut env = env.to_vec();
    env.extend([
        ("TICKERMESH_SIGNING_KEY", KEY.to_owned()),
        ("TICKERMESH_SHUTDOWN_GRACE_SECS", "2".to_owned()),
    ]);
    let container = Container::start(&podman, &image, &env);
    container.wait_http_ok(port, "/healthz", READY_WITHIN);
    let status = container.process_status();
    assert!(
        status.contains("\nUid:\t65532\t65532\t65532\t65532\n"),
        "{status}"
    );
    assert!(status.contains("\nCapEff:\t0000000000000000\n"), "{status}");
    assert!(
        !image.inspect("{{.Config.Env}}").contains("SIGNING"),
        "a key in the image's configuration"
    );

    let key = SigningKey::new(KEY.as_bytes().to_vec()).unwrap();
    let url = |token: &str| format!("http://127.0.0.1:{port}/unsubscribe?u={id}&t={token}");
    let client = reqwest::Client::new();
    let unsubscribed = || async {
        sqlx::query_scalar::<_, Option<i64>>("SELECT unsubscribed_at_ms FROM users WHERE id = ?")
            .bind(id)
            .fetch_one(store.pool())
            .await
            .unwrap()
    };

    let other = SigningKey::new(vec![1; 32]).unwrap();
    let forged = url(&other.unsubscribe_token(id, "box@example.com"));
    let r = client.post(forged).body("List-Unsubscribe=One-Click");
    assert_eq!(r.send().await.unwrap().status(), StatusCode::FORBIDDEN);
    let good = url(&key.unsubscribe_token(id, "box@example.com"));
    let r = client.get(&good).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("box@example.com"));
    assert_eq!(
        unsubscribed().await,
        None,
        "a GET or a forged link changed the user"
    );

    let r = client
        .post(&good)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click");
    assert_eq!(r.send().await.unwrap().status(), StatusCode::OK);
    assert!(unsubscribed().await.is_some(), "{}", container.logs());
    let metrics = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "tickermesh_unsubscribe_requests_total{method=\"POST\",outcome=\"unsubscribed\"} 1"
        ),
        "{metrics}"
    );
    store.close().await;
    stops_cleanly("unsubscribe", &container);
}
