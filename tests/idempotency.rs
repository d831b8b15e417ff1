//! At-most-once commands: repeats, key reuse, concurrency, restarts, expiry.

use std::time::Duration;

use futures::future::join_all;
use tickermesh_api::v1::threshold_change::Change;
use tickermesh_api::v1::{
    DeleteUserRequest, GetLatestValueRequest, RegisterUserRequest, ThresholdChange,
    UpdateUserRequest,
};
use tickermesh_core::idempotency::Idempotency;
use tickermesh_tests::access::{
    bearer, confirm, issuer, keyed_bearer, signed_up, test_key, Discard,
};
use tickermesh_tests::{
    http_get, keyed, new_key, on_both_backends, spawn_mesh, Backend, TestDb, TestServer,
};
use tonic::Code;

fn register(email: &str) -> RegisterUserRequest {
    RegisterUserRequest {
        email: email.into(),
        ticker: "AAPL".into(),
        min_price: Some(100.0),
        max_price: None,
        ..Default::default()
    }
}

async fn users_named(store: &tickermesh_core::store::Store, email: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE email = ?")
        .bind(email)
        .fetch_one(store.pool())
        .await
        .expect("count users")
}

async fn repeat_returns_the_stored_response(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (server, ctx) = spawn_mesh(&db).await;
    let mut c = server.commands().await;
    let key = new_key();

    let first = c
        .register_user(keyed(register("r@example.com"), &key))
        .await
        .expect("first")
        .into_inner();
    let token = confirm(&mut c, &ctx.store, "r@example.com").await;
    // Remove the user behind the command's back: a second effect would re-create it.
    c.delete_user(bearer(
        DeleteUserRequest {
            email: "r@example.com".into(),
        },
        &token,
    ))
    .await
    .expect("delete");
    let again = c
        .register_user(keyed(register("r@example.com"), &key))
        .await
        .expect("repeat")
        .into_inner();
    assert_eq!(first, again, "the stored response, byte for byte");
    assert_eq!(
        users_named(&ctx.store, "r@example.com").await,
        0,
        "the repeat had no effect"
    );

    // The same key with another request is refused, whatever the method.
    let other = c
        .register_user(keyed(register("other@example.com"), &key))
        .await
        .unwrap_err();
    assert_eq!(other.code(), Code::FailedPrecondition);
    assert!(
        other.message().contains("idempotency-key"),
        "{}",
        other.message()
    );
    // Another method, by a caller allowed to call it, with the same key: refused too.
    let s_token = signed_up(&mut c, &ctx.store, "s@example.com", "AAPL", None, None).await;
    let other = c
        .delete_user(keyed_bearer(
            DeleteUserRequest {
                email: "s@example.com".into(),
            },
            &key,
            &s_token,
        ))
        .await
        .unwrap_err();
    assert_eq!(other.code(), Code::FailedPrecondition);
    assert_eq!(users_named(&ctx.store, "s@example.com").await, 1);

    // Without a key commands still work, with no protection against repeats.
    c.register_user(register("nokey@example.com"))
        .await
        .expect("no key");
    let dup = c
        .register_user(register("nokey@example.com"))
        .await
        .unwrap_err();
    assert_eq!(dup.code(), Code::AlreadyExists);
    // With a fresh key too (on MariaDB the one-trip batch fails on the address and the general
    // path answers).
    let dup = c
        .register_user(keyed(register("nokey@example.com"), &new_key()))
        .await
        .unwrap_err();
    assert_eq!(dup.code(), Code::AlreadyExists);

    let metrics = http_get(server.addr, "/metrics").await;
    assert!(
        metrics.contains("tickermesh_idempotent_replays_total{method=\"RegisterUser\"}"),
        "{metrics}"
    );
    if backend == Backend::MariaDb {
        // The first registration went in one round trip; the taken address, the general path.
        let batches = |outcome: &str| {
            let series = format!("tickermesh_one_trip_batches_total{{outcome=\"{outcome}\"}} ");
            metrics
                .lines()
                .find_map(|l| l.strip_prefix(series.as_str()))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        assert!(batches("committed") >= 1.0, "{metrics}");
        assert!(batches("general") >= 1.0, "{metrics}");
    }
}
on_both_backends!(repeat, repeat_returns_the_stored_response);

/// A command that fails leaves no record, whether it failed before its effect (no access) or
/// inside it (a threshold that contradicts the stored one): its key may be retried.
async fn a_failed_command_does_not_use_up_its_key(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (server, ctx) = spawn_mesh(&db).await;
    let mut c = server.commands().await;
    let key = new_key();
    let update = UpdateUserRequest {
        email: "late@example.com".into(),
        ticker: None,
        min_price: None,
        max_price: Some(ThresholdChange {
            change: Some(Change::Set(500.0)),
        }),
        ..Default::default()
    };
    let err = c
        .update_user(keyed(update.clone(), &key))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    let token = signed_up(
        &mut c,
        &ctx.store,
        "late@example.com",
        "AAPL",
        Some(600.0),
        None,
    )
    .await;
    let err = c
        .update_user(keyed_bearer(update.clone(), &key, &token))
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Code::InvalidArgument,
        "max 500 below the stored min 600"
    );
    c.update_user(bearer(
        UpdateUserRequest {
            email: "late@example.com".into(),
            min_price: Some(ThresholdChange {
                change: Some(Change::Clear(true)),
            }),
            ..Default::default()
        },
        &token,
    ))
    .await
    .expect("clear the min");
    let user = c
        .update_user(keyed_bearer(update, &key, &token))
        .await
        .expect("retry after the failures runs the command")
        .into_inner()
        .user
        .expect("user");
    assert_eq!((user.min_price, user.max_price), (None, Some(500.0)));
}
on_both_backends!(failed_command, a_failed_command_does_not_use_up_its_key);

async fn invalid_keys_are_rejected(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (server, _ctx) = spawn_mesh(&db).await;
    let mut c = server.commands().await;
    for bad in ["x".repeat(129)] {
        let err = c
            .register_user(keyed(register("k@example.com"), &bad))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(
            err.message().starts_with("idempotency-key"),
            "{}",
            err.message()
        );
    }
}
on_both_backends!(invalid_keys, invalid_keys_are_rejected);

/// 20 concurrent calls with one key: one effect; every caller gets the same successful
/// response, or ABORTED and then the same response on retry.
async fn concurrent_calls_with_one_key(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (server, _ctx) = spawn_mesh(&db).await;
    let key = new_key();
    let mut clients = Vec::new();
    for _ in 0..20 {
        // Separate connections, so the calls really race at the server.
        clients.push(server.commands().await);
    }
    let calls = clients.iter().map(|c| {
        let mut c = c.clone();
        let key = key.clone();
        async move {
            c.register_user(keyed(register("race@example.com"), &key))
                .await
                .map(|r| r.into_inner())
        }
    });
    let results = join_all(calls).await;
    let mut responses = Vec::new();
    let mut aborted = 0;
    for result in results {
        match result {
            Ok(r) => responses.push(r),
            Err(s) if s.code() == Code::Aborted => aborted += 1,
            Err(s) => panic!("unexpected status {s:?}"),
        }
    }
    let mut c = server.commands().await;
    for _ in 0..aborted {
        let mut retried = None;
        for _ in 0..50 {
            match c
                .register_user(keyed(register("race@example.com"), &key))
                .await
            {
                Ok(r) => {
                    retried = Some(r.into_inner());
                    break;
                }
                Err(s) if s.code() == Code::Aborted => {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                Err(s) => panic!("retry: {s:?}"),
            }
        }
        responses.push(retried.expect("a retry succeeds"));
    }
    assert_eq!(responses.len(), 20);
    assert!(
        responses.windows(2).all(|w| w[0] == w[1]),
        "every caller sees the one response"
    );

    let store = db.store().await;
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(store.pool())
        .await
        .expect("count users");
    let keys: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM idempotency_keys")
        .fetch_one(store.pool())
        .await
        .expect("count keys");
    assert_eq!((users, keys), (1, 1), "exactly one effect");
}
on_both_backends!(concurrent, concurrent_calls_with_one_key);

/// The guarantee lives in the database: a new server process (empty cache) over the same
/// database still answers a retry with the stored response.
async fn restart_between_call_and_retry(backend: Backend) {
    let db = TestDb::new(backend).await;
    let key = new_key();
    let (server, _ctx) = spawn_mesh(&db).await;
    let first = server
        .commands()
        .await
        .register_user(keyed(register("restart@example.com"), &key))
        .await
        .expect("first")
        .into_inner();
    server.stop().await;

    let (server, ctx) = spawn_mesh(&db).await;
    let mut c = server.commands().await;
    let retry = c
        .register_user(keyed(register("restart@example.com"), &key))
        .await
        .expect("retry after restart")
        .into_inner();
    assert_eq!(first, retry);
    assert_eq!(users_named(&ctx.store, "restart@example.com").await, 1);
    // The code issued before the restart works after it.
    let token = confirm(&mut c, &ctx.store, "restart@example.com").await;
    let latest = server
        .queries()
        .await
        .get_latest_value(bearer(
            GetLatestValueRequest {
                email: "restart@example.com".into(),
                ..Default::default()
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(latest.code(), Code::NotFound, "user exists, no quotes yet");
    assert!(latest.message().contains("no quotes"));
}
on_both_backends!(restart, restart_between_call_and_retry);

async fn keys_expire(backend: Backend) {
    let db = TestDb::new(backend).await;
    let ctx = db.context_with_ttl(Duration::from_millis(300)).await;
    let app = tickermesh::router(
        ctx.clone(),
        &Default::default(),
        issuer(std::sync::Arc::new(Discard)),
        test_key(),
    )
    .await;
    let server = TestServer::start(app).await;
    let mut c = server.commands().await;
    let key = new_key();
    c.register_user(keyed(register("e1@example.com"), &key))
        .await
        .expect("first");
    tokio::time::sleep(Duration::from_millis(400)).await;
    // Expired: the key may be used for a new request.
    c.register_user(keyed(register("e2@example.com"), &key))
        .await
        .expect("expired key is free again");

    tokio::time::sleep(Duration::from_millis(400)).await;
    let purged = Idempotency::purge_expired(&ctx.store, tickermesh_core::now_unix_ms())
        .await
        .expect("purge");
    assert_eq!(purged, 1);
}
on_both_backends!(expiry, keys_expire);

/// Keys compare byte for byte: "k" and "k " are two keys, not one (MariaDB's PAD SPACE
/// collations would make them equal).
async fn keys_differing_in_trailing_space_are_two_keys(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (server, _ctx) = spawn_mesh(&db).await;
    let mut c = server.commands().await;
    let key = new_key();
    c.register_user(keyed(register("pad1@example.com"), &key))
        .await
        .expect("first key");
    let second = c
        .register_user(keyed(register("pad2@example.com"), &format!("{key} ")))
        .await
        .expect("another key, another command")
        .into_inner();
    assert_eq!(second.user.unwrap().email, "pad2@example.com");
}
on_both_backends!(
    trailing_space_keys,
    keys_differing_in_trailing_space_are_two_keys
);
