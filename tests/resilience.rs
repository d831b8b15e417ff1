//! The database goes away: calls answer UNAVAILABLE with a short message (no SQL), the
//! function keeps running, and it recovers by itself when the database returns.

use std::time::{Duration, Instant};

use tickermesh_api::v1::{GetLatestValueRequest, RegisterUserRequest};
use tickermesh_core::store::{Store, StoreOptions};
use tickermesh_core::Context;
use tickermesh_tests::access::{bearer, confirm, issuer, test_key, Discard};
use tickermesh_tests::proxy::{proxied_url, target_of, CuttableProxy};
use tickermesh_tests::{Backend, TestDb, TestServer};
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_outage_is_unavailable_then_recovers() {
    let db = TestDb::new(Backend::MariaDb).await;
    let (proxy, server, ctx) =
        behind_a_proxy(&db, Duration::from_millis(800), Duration::from_secs(5)).await;
    let mut c = server.commands().await;
    let mut q = server.queries().await;
    c.register_user(RegisterUserRequest {
        email: "down@example.com".into(),
        ticker: "AAPL".into(),
        ..Default::default()
    })
    .await
    .expect("register while up");
    let token = confirm(&mut c, &ctx.store, "down@example.com").await;

    proxy.cut();
    let latest = || {
        bearer(
            GetLatestValueRequest {
                email: "down@example.com".into(),
                ..Default::default()
            },
            &token,
        )
    };
    let err = q.get_latest_value(latest()).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert_eq!(err.message(), "database unavailable, retry later");
    let err = c
        .register_user(RegisterUserRequest {
            email: "second@example.com".into(),
            ticker: "AAPL".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");

    proxy.restore();
    recovers(&mut q, "down@example.com", &token).await;
}

/// A database that stops answering (packets dropped, connections left open) makes calls fail
/// within the server's bound on a call, or the client's shorter deadline; never hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn black_holed_database_fails_calls_in_bounded_time() {
    let db = TestDb::new(Backend::MariaDb).await;
    let (proxy, server, ctx) =
        behind_a_proxy(&db, Duration::from_secs(30), Duration::from_secs(1)).await;
    let mut c = server.commands().await;
    let mut q = server.queries().await;
    let register = |email: &str| RegisterUserRequest {
        email: email.into(),
        ticker: "AAPL".into(),
        ..Default::default()
    };
    c.register_user(register("hole@example.com"))
        .await
        .expect("register while up");
    let token = confirm(&mut c, &ctx.store, "hole@example.com").await;

    proxy.black_hole();
    let latest = || {
        bearer(
            GetLatestValueRequest {
                email: "hole@example.com".into(),
                ..Default::default()
            },
            &token,
        )
    };
    let bounded = Duration::from_secs(5);
    let started = Instant::now();
    let err = tokio::time::timeout(bounded, q.get_latest_value(latest()))
        .await
        .expect("the server's bound, not a hang")
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let err = tokio::time::timeout(bounded, c.register_user(register("h2@example.com")))
        .await
        .expect("a command is bounded too")
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");

    proxy.restore();
    recovers(&mut q, "hole@example.com", &token).await;
}

/// Once the database is back, `email`'s latest value is answered again (NOT_FOUND: the token
/// is the user's, the user simply has no quotes), within 15 s.
async fn recovers(
    q: &mut tickermesh_api::v1::ticker_queries_client::TickerQueriesClient<
        tonic::transport::Channel,
    >,
    email: &str,
    token: &str,
) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let request = bearer(
            GetLatestValueRequest {
                email: email.into(),
                ..Default::default()
            },
            token,
        );
        match q.get_latest_value(request).await {
            Err(s) if s.code() == Code::NotFound => break,
            other => {
                assert!(Instant::now() < deadline, "did not recover: {other:?}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// The mesh over `db` reached through a proxy the test can cut or black-hole (migrated
/// directly first), with the pool's `acquire_timeout` and the server's `request_timeout`.
async fn behind_a_proxy(
    db: &TestDb,
    acquire_timeout: Duration,
    request_timeout: Duration,
) -> (CuttableProxy, TestServer, std::sync::Arc<Context>) {
    db.store().await.close().await;
    let proxy = CuttableProxy::start(target_of(&db.url)).await;
    let options = StoreOptions {
        max_connections: 4,
        acquire_timeout,
    };
    let store = Store::open(&proxied_url(&db.url, proxy.addr), &options).expect("open");
    let ctx = Context::new(store, Duration::from_secs(60)).with_request_timeout(request_timeout);
    let codes = issuer(std::sync::Arc::new(Discard));
    let app = tickermesh::router(ctx.clone(), &Default::default(), codes, test_key()).await;
    let server = TestServer::start(app).await;
    (proxy, server, ctx)
}
