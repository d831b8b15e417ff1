//! Consent and ownership over the wire, on SQLite and MariaDB: confirmation codes (single use,
//! short-lived, locked after wrong tries, limited per address and per client, never stored),
//! access tokens (only the owner's token works, for every call about a user; revoked by a new
//! confirmation and by deleting the user), and idempotency records that answer no one but the
//! caller who made them.

use std::sync::Arc;
use std::time::Duration;

use tickermesh_api::v1::threshold_change::Change;
use tickermesh_api::v1::ticker_queries_client::TickerQueriesClient;
use tickermesh_api::v1::user_commands_client::UserCommandsClient;
use tickermesh_api::v1::{
    ConfirmEmailRequest, DeleteUserRequest, GetAverageValueRequest, GetHistoryRequest,
    GetLatestValueRequest, RegisterUserRequest, RequestAccessRequest, ThresholdChange,
    UpdateUserRequest,
};
use tickermesh_core::access::{AccessPolicy, AccessSettings, ClientLimits};
use tickermesh_core::store::Store;
use tickermesh_query::QueryConfig;
use tickermesh_tests::access::{
    bearer, code_of, confirm, issuer, issuer_with, keyed_bearer, signed_up, test_settings,
    with_token, Discard,
};
use tickermesh_tests::{
    eventually, http_get, keyed, new_key, on_both_backends, spawn_mesh, spawn_mesh_with, Backend,
    TestDb, TestServer,
};
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

type Commands = UserCommandsClient<Channel>;
type Queries = TickerQueriesClient<Channel>;

fn register(email: &str, ticker: &str) -> RegisterUserRequest {
    RegisterUserRequest {
        email: email.into(),
        ticker: ticker.into(),
        ..Default::default()
    }
}

fn confirmation(email: &str, code: &str) -> ConfirmEmailRequest {
    ConfirmEmailRequest {
        email: email.into(),
        code: code.into(),
    }
}

fn set_max(email: &str, price: f64) -> UpdateUserRequest {
    UpdateUserRequest {
        email: email.into(),
        max_price: Some(ThresholdChange {
            change: Some(Change::Set(price)),
        }),
        ..Default::default()
    }
}

fn latest(email: &str) -> GetLatestValueRequest {
    GetLatestValueRequest {
        email: email.into(),
        ..Default::default()
    }
}

/// A code that is not `code`: its last digit changed.
fn wrong(code: &str) -> String {
    let (head, last) = code.split_at(code.len() - 1);
    let digit = (last.as_bytes()[0] - b'0' + 1) % 10;
    format!("{head}{digit}")
}

/// The mesh with zero-TTL query caches: a revoked token is refused at once.
async fn uncached_mesh(db: &TestDb) -> (TestServer, Arc<tickermesh_core::Context>) {
    let query = QueryConfig {
        cache_ttl: Duration::ZERO,
    };
    spawn_mesh_with(db, &query, issuer(Arc::new(Discard))).await
}

/// Every call about a user (UpdateUser, DeleteUser and the three queries) for `email`, each
/// with `auth` applied to its request: the statuses, in that order. None may succeed.
async fn every_call_about(
    c: &mut Commands,
    q: &mut Queries,
    email: &str,
    auth: impl Fn(&mut tonic::metadata::MetadataMap),
) -> Vec<Status> {
    fn with<T>(message: T, auth: &impl Fn(&mut tonic::metadata::MetadataMap)) -> Request<T> {
        let mut request = Request::new(message);
        auth(request.metadata_mut());
        request
    }
    let delete = DeleteUserRequest {
        email: email.into(),
    };
    let average = GetAverageValueRequest {
        email: email.into(),
        count: 3,
        ..Default::default()
    };
    let history = GetHistoryRequest {
        email: email.into(),
        limit: 3,
        ..Default::default()
    };
    vec![
        c.update_user(with(set_max(email, 500.0), &auth))
            .await
            .expect_err("UpdateUser"),
        c.delete_user(with(delete, &auth))
            .await
            .expect_err("DeleteUser"),
        q.get_latest_value(with(latest(email), &auth))
            .await
            .expect_err("GetLatestValue"),
        q.get_average_value(with(average, &auth))
            .await
            .expect_err("GetAverageValue"),
        q.get_history(with(history, &auth))
            .await
            .expect_err("GetHistory"),
    ]
}

/// The `retry-after` of a RESOURCE_EXHAUSTED answer, in seconds.
fn retry_after(status: &Status) -> u64 {
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    status
        .metadata()
        .get("retry-after")
        .unwrap_or_else(|| panic!("no retry-after: {status:?}"))
        .to_str()
        .expect("ascii")
        .parse()
        .expect("whole seconds")
}

async fn user_count(store: &Store, email: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE email = ?")
        .bind(email)
        .fetch_one(store.pool())
        .await
        .expect("count")
}

/// Every value of every row of `table`, as upper-case hex (of the bytes of text and binary
/// values; of the text of numbers on SQLite, of the number on MariaDB), column by column.
async fn dump(store: &Store, backend: Backend, table: &str) -> Vec<String> {
    let catalog = match backend {
        Backend::Sqlite => format!("SELECT name FROM pragma_table_info('{table}')"),
        Backend::MariaDb => format!(
            "SELECT column_name FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = '{table}'"
        ),
    };
    let columns: Vec<String> = sqlx::query_scalar(&catalog)
        .fetch_all(store.pool())
        .await
        .expect("the table's columns");
    assert!(columns.len() > 2, "{table}: {columns:?}");
    let mut values = Vec::new();
    for column in columns {
        let hex: Vec<Option<String>> =
            sqlx::query_scalar(&format!("SELECT hex({column}) FROM {table}"))
                .fetch_all(store.pool())
                .await
                .expect("read a column");
        values.extend(hex.into_iter().flatten().map(|v| v.to_uppercase()));
    }
    values
}

/// The forms `secret` could take in [`dump`]: the hex of its text and, for digits, of its value.
fn hex_forms(secret: &str) -> Vec<String> {
    let mut forms = vec![secret.bytes().map(|b| format!("{b:02X}")).collect()];
    if let Ok(n) = secret.parse::<u64>() {
        forms.push(format!("{n:X}"));
    }
    forms
}

async fn wrong_codes_lock_the_code(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (server, ctx) = spawn_mesh(&db).await;
    let mut c = server.commands().await;
    c.register_user(register("lock@example.com", "AAPL"))
        .await
        .expect("register");
    let code = code_of(&ctx.store, "lock@example.com").await;
    let mut messages = Vec::new();
    for _ in 0..5 {
        let err = c
            .confirm_email(confirmation("lock@example.com", &wrong(&code)))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
        messages.push(err.message().to_owned());
    }
    // Locked: even the right code no longer works, and says nothing more than a wrong one.
    let err = c
        .confirm_email(confirmation("lock@example.com", &code))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    assert_eq!(err.message(), messages[0]);
    assert!(
        err.metadata().get("authorization").is_none() && !err.message().contains("tmk_"),
        "{err:?}"
    );
    let confirmed: Option<i64> =
        sqlx::query_scalar("SELECT confirmed_at_ms FROM users WHERE email = ?")
            .bind("lock@example.com")
            .fetch_one(ctx.store.pool())
            .await
            .expect("user");
    assert_eq!(confirmed, None, "still unconfirmed");

    // A new code (RequestAccess) is a fresh start.
    c.request_access(RequestAccessRequest {
        email: "lock@example.com".into(),
    })
    .await
    .expect("request access");
    let fresh = code_of(&ctx.store, "lock@example.com").await;
    let token = c
        .confirm_email(confirmation("lock@example.com", &fresh))
        .await
        .expect("the new code works")
        .into_inner()
        .access_token;
    assert!(token.starts_with("tmk_"));
}
on_both_backends!(wrong_codes_lock, wrong_codes_lock_the_code);

async fn an_expired_code_fails(backend: Backend) {
    let db = TestDb::new(backend).await;
    let settings = AccessSettings {
        policy: AccessPolicy {
            code_ttl: Duration::from_millis(500),
            ..AccessPolicy::default()
        },
        ..test_settings()
    };
    let codes = issuer_with(&settings, Arc::new(Discard));
    let (server, ctx) = spawn_mesh_with(&db, &QueryConfig::default(), codes).await;
    let mut c = server.commands().await;
    let registered = c
        .register_user(register("late@example.com", "AAPL"))
        .await
        .expect("register")
        .into_inner();
    let created = registered.user.expect("user").created_at_unix_ms;
    assert_eq!(registered.code_expires_at_unix_ms - created, 500);
    let code = code_of(&ctx.store, "late@example.com").await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let err = c
        .confirm_email(confirmation("late@example.com", &code))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
}
on_both_backends!(expired_code, an_expired_code_fails);

async fn only_the_owners_token_works(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (server, ctx) = spawn_mesh(&db).await;
    let (mut c, mut q) = (server.commands().await, server.queries().await);
    let a = signed_up(&mut c, &ctx.store, "a@example.com", "AAPL", None, None).await;
    let _b = signed_up(&mut c, &ctx.store, "b@example.com", "MSFT", None, None).await;

    // A's token on B, and on an address nobody registered: PERMISSION_DENIED, the same words.
    let token_a = |m: &mut tonic::metadata::MetadataMap| {
        m.insert("authorization", format!("Bearer {a}").parse().unwrap());
    };
    let on_b = every_call_about(&mut c, &mut q, "b@example.com", token_a).await;
    let on_nobody = every_call_about(&mut c, &mut q, "nobody@example.com", token_a).await;
    for (b, nobody) in on_b.iter().zip(&on_nobody) {
        assert_eq!(b.code(), Code::PermissionDenied, "{b:?}");
        assert_eq!((b.code(), b.message()), (nobody.code(), nobody.message()));
    }

    // No token, a token nobody holds, or no bearer token at all: UNAUTHENTICATED, and again the
    // same for an address that exists and one that does not.
    type Auth = fn(&mut tonic::metadata::MetadataMap);
    let ways: [(&str, Auth); 3] = [
        ("none", |_| {}),
        ("garbage", |m| {
            m.insert("authorization", "Bearer tmk_garbage".parse().unwrap());
        }),
        ("not bearer", |m| {
            m.insert("authorization", "Basic YTpi".parse().unwrap());
        }),
    ];
    for (name, auth) in ways {
        let on_b = every_call_about(&mut c, &mut q, "b@example.com", auth).await;
        let on_nobody = every_call_about(&mut c, &mut q, "nobody@example.com", auth).await;
        for (b, nobody) in on_b.iter().zip(&on_nobody) {
            assert_eq!(b.code(), Code::Unauthenticated, "{name}: {b:?}");
            assert_eq!(
                (b.code(), b.message()),
                (nobody.code(), nobody.message()),
                "{name}"
            );
        }
    }

    // B is untouched: still there, still watching MSFT without thresholds.
    assert_eq!(user_count(&ctx.store, "b@example.com").await, 1);
    let max: Option<f64> = sqlx::query_scalar(
        "SELECT s.max_price FROM subscriptions s JOIN users u ON u.id = s.user_id WHERE u.email = ?",
    )
    .bind("b@example.com")
    .fetch_one(ctx.store.pool())
    .await
    .expect("B's watch");
    assert_eq!(max, None);
    // And A's token still works for A.
    let user = c
        .update_user(bearer(set_max("a@example.com", 300.0), &a))
        .await
        .expect("A's own update")
        .into_inner()
        .user
        .expect("user");
    assert_eq!(user.max_price, Some(300.0));
}
on_both_backends!(owners_token, only_the_owners_token_works);

async fn a_deleted_users_token_stops_working(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (server, ctx) = uncached_mesh(&db).await;
    let (mut c, mut q) = (server.commands().await, server.queries().await);
    let token = signed_up(&mut c, &ctx.store, "gone@example.com", "AAPL", None, None).await;
    let err = q
        .get_latest_value(bearer(latest("gone@example.com"), &token))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "the token works: {err:?}");
    c.delete_user(bearer(
        DeleteUserRequest {
            email: "gone@example.com".into(),
        },
        &token,
    ))
    .await
    .expect("delete");
    let auth = |m: &mut tonic::metadata::MetadataMap| {
        m.insert("authorization", format!("Bearer {token}").parse().unwrap());
    };
    for status in every_call_about(&mut c, &mut q, "gone@example.com", auth).await {
        assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    }
    // The address registered anew: a new owner, whom the old token does not reach either.
    let again = signed_up(&mut c, &ctx.store, "gone@example.com", "IBM", None, None).await;
    for status in every_call_about(&mut c, &mut q, "gone@example.com", auth).await {
        assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    }
    let err = q
        .get_latest_value(bearer(latest("gone@example.com"), &again))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "the new token works: {err:?}");
}
on_both_backends!(deleted_users_token, a_deleted_users_token_stops_working);

/// With the default query cache, a deleted user's token is refused once the cache's TTL has
/// passed (a liveness bound, not a timing assertion).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_token_owner_expires_with_the_cache() {
    let db = TestDb::new(Backend::Sqlite).await;
    let query = QueryConfig {
        cache_ttl: Duration::from_millis(300),
    };
    let (server, ctx) = spawn_mesh_with(&db, &query, issuer(Arc::new(Discard))).await;
    let (mut c, mut q) = (server.commands().await, server.queries().await);
    let token = signed_up(&mut c, &ctx.store, "cached@example.com", "AAPL", None, None).await;
    let err = q
        .get_latest_value(bearer(latest("cached@example.com"), &token))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    c.delete_user(bearer(
        DeleteUserRequest {
            email: "cached@example.com".into(),
        },
        &token,
    ))
    .await
    .expect("delete");
    eventually(Duration::from_secs(10), "the token to be refused", || {
        let mut q = q.clone();
        let request = bearer(latest("cached@example.com"), &token);
        async move {
            let err = q.get_latest_value(request).await.unwrap_err();
            (err.code() == Code::Unauthenticated).then_some(())
        }
    })
    .await;
}

async fn request_access_replaces_the_token(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (server, ctx) = uncached_mesh(&db).await;
    let (mut c, mut q) = (server.commands().await, server.queries().await);
    let first = signed_up(&mut c, &ctx.store, "lost@example.com", "AAPL", None, None).await;

    let before = tickermesh_core::now_unix_ms();
    let known = c
        .request_access(keyed(
            RequestAccessRequest {
                email: "lost@example.com".into(),
            },
            &new_key(),
        ))
        .await
        .expect("request access")
        .into_inner();
    let unknown = c
        .request_access(keyed(
            RequestAccessRequest {
                email: "nobody@example.com".into(),
            },
            &new_key(),
        ))
        .await
        .expect("the same answer for an unknown address")
        .into_inner();
    let after = tickermesh_core::now_unix_ms();
    let hour = 3_600_000;
    for expires in [
        known.code_expires_at_unix_ms,
        unknown.code_expires_at_unix_ms,
    ] {
        assert!(
            (before + hour..=after + hour).contains(&expires),
            "{expires} not an hour after {before}..{after}"
        );
    }
    let codes: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM access_codes")
        .fetch_one(ctx.store.pool())
        .await
        .expect("count codes");
    assert_eq!(codes, 1, "no code for an address nobody registered");
    assert_eq!(user_count(&ctx.store, "nobody@example.com").await, 0);

    // Until the new code is used the old token works; then only the new one.
    let err = q
        .get_latest_value(bearer(latest("lost@example.com"), &first))
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Code::NotFound,
        "the old token works until the new code is used: {err:?}"
    );
    let second = confirm(&mut c, &ctx.store, "lost@example.com").await;
    assert_ne!(first, second);
    let err = q
        .get_latest_value(bearer(latest("lost@example.com"), &first))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    let err = c
        .update_user(bearer(set_max("lost@example.com", 10.0), &first))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    let err = q
        .get_latest_value(bearer(latest("lost@example.com"), &second))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "the new token works: {err:?}");
}
on_both_backends!(request_access, request_access_replaces_the_token);

/// A command's idempotency record answers only the caller who made it: the same key and
/// request from another caller (another token, none, or the owner's replaced token) gets an
/// error, never the stored response.
async fn replayed_keys_leak_nothing(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (server, ctx) = uncached_mesh(&db).await;
    let mut c = server.commands().await;
    let a = signed_up(&mut c, &ctx.store, "a@example.com", "AAPL", None, None).await;
    let b = signed_up(&mut c, &ctx.store, "b@example.com", "MSFT", None, None).await;

    let key = new_key();
    let update = UpdateUserRequest {
        ticker: Some("NVDA".into()),
        ..set_max("a@example.com", 777.0)
    };
    let stored = c
        .update_user(keyed_bearer(update.clone(), &key, &a))
        .await
        .expect("A's update")
        .into_inner();
    let repeat = c
        .update_user(keyed_bearer(update.clone(), &key, &a))
        .await
        .expect("A's repeat")
        .into_inner();
    assert_eq!(
        stored, repeat,
        "the owner's repeat gets the stored response"
    );

    let leaks = |status: &Status| {
        status.message().contains("NVDA")
            || status.message().contains("777")
            || !status.details().is_empty()
    };
    let by_b = c
        .update_user(keyed_bearer(update.clone(), &key, &b))
        .await
        .unwrap_err();
    assert!(
        matches!(
            by_b.code(),
            Code::PermissionDenied | Code::FailedPrecondition
        ),
        "{by_b:?}"
    );
    assert!(!leaks(&by_b), "{by_b:?}");
    let anonymous = c
        .update_user(keyed(update.clone(), &key))
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated, "{anonymous:?}");
    assert!(!leaks(&anonymous), "{anonymous:?}");

    // The owner with a new token is another caller for the old record.
    c.request_access(RequestAccessRequest {
        email: "a@example.com".into(),
    })
    .await
    .expect("request access");
    let renewed = confirm(&mut c, &ctx.store, "a@example.com").await;
    let err = c
        .update_user(keyed_bearer(update, &key, &renewed))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert!(!leaks(&err), "{err:?}");

    // A registration's key, replayed by a caller with a token: refused, not answered.
    let key = new_key();
    c.register_user(keyed(register("c@example.com", "IBM"), &key))
        .await
        .expect("register");
    let err = c
        .register_user(keyed_bearer(register("c@example.com", "IBM"), &key, &b))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert!(!err.message().contains("IBM"), "{err:?}");
}
on_both_backends!(replayed_keys, replayed_keys_leak_nothing);

/// ConfirmEmail twice with the same code (and the same idempotency key): the second is told the
/// code is used up and gets no token, not the first answer again.
async fn a_code_confirms_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (server, ctx) = spawn_mesh(&db).await;
    let mut c = server.commands().await;
    c.register_user(register("once@example.com", "AAPL"))
        .await
        .expect("register");
    let code = code_of(&ctx.store, "once@example.com").await;
    let key = new_key();
    let first = c
        .confirm_email(keyed(confirmation("once@example.com", &code), &key))
        .await
        .expect("confirm")
        .into_inner();
    assert!(first.access_token.starts_with("tmk_"));
    assert!(first.user.expect("user").confirmed);
    for request in [
        keyed(confirmation("once@example.com", &code), &key),
        Request::new(confirmation("once@example.com", &code)),
        with_token(
            keyed(confirmation("once@example.com", &code), &key),
            &first.access_token,
        ),
    ] {
        let err = c.confirm_email(request).await.unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
        assert!(!err.message().contains("tmk_"), "{err:?}");
    }
    // The token from the first confirmation is still the one that works.
    let user = c
        .update_user(bearer(
            set_max("once@example.com", 5.0),
            &first.access_token,
        ))
        .await
        .expect("update");
    assert_eq!(user.into_inner().user.expect("user").max_price, Some(5.0));
}
on_both_backends!(confirm_once, a_code_confirms_once);

/// The first confirmation starts the watches: an alert made before it (still on its way to
/// notify, which would mail it now that the address is confirmed) is recorded as suppressed,
/// and the watch is re-armed, so the next quote tells that crossing once. A later confirmation
/// (a new code for a confirmed user) changes neither.
async fn the_first_confirmation_starts_the_watches(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (server, ctx) = spawn_mesh(&db).await;
    let mut c = server.commands().await;
    let email = "first@example.com";
    c.register_user(register(email, "AAPL"))
        .await
        .expect("register");
    let pool = ctx.store.pool();
    let watch: i64 = sqlx::query_scalar(
        "SELECT s.id FROM subscriptions s JOIN users u ON u.id = s.user_id WHERE u.email = ?",
    )
    .bind(email)
    .fetch_one(pool)
    .await
    .expect("the watch");
    // As evaluate leaves it after a crossing while unconfirmed: tracking, its alert stored.
    sqlx::query("UPDATE subscriptions SET alert_state = 'tracking' WHERE id = ?")
        .bind(watch)
        .execute(pool)
        .await
        .expect("tracking");
    let mut early = tickermesh_tests::db::alert("early", email);
    early.subscription_id = Some(watch);
    tickermesh_tests::db::store_alert(&ctx.store, &early).await;
    let state = || async {
        let row: (String, Option<String>) = sqlx::query_as(
            "SELECT s.alert_state, x.outcome FROM subscriptions s \
             LEFT JOIN sent_alerts x ON x.alert_id = 'early' WHERE s.id = ?",
        )
        .bind(watch)
        .fetch_one(pool)
        .await
        .expect("the watch's state");
        row
    };
    let code = code_of(&ctx.store, email).await;
    c.confirm_email(confirmation(email, &code))
        .await
        .expect("confirm");
    assert_eq!(state().await, ("armed".into(), Some("suppressed".into())));

    // Confirmed already: a new code leaves the watch's state where evaluate put it.
    sqlx::query("UPDATE subscriptions SET alert_state = 'tracking' WHERE id = ?")
        .bind(watch)
        .execute(pool)
        .await
        .expect("tracking");
    c.request_access(RequestAccessRequest {
        email: email.into(),
    })
    .await
    .expect("request access");
    let code = code_of(&ctx.store, email).await;
    c.confirm_email(confirmation(email, &code))
        .await
        .expect("confirm again");
    assert_eq!(state().await.0, "tracking");
}
on_both_backends!(
    first_confirmation,
    the_first_confirmation_starts_the_watches
);

/// At most three codes per address per hour: the registration's and two more; the fourth is
/// RESOURCE_EXHAUSTED with a `retry-after`, and the live code is still the third.
async fn a_fourth_code_within_the_hour_is_refused(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (server, ctx) = spawn_mesh(&db).await;
    let mut c = server.commands().await;
    c.register_user(register("bomb@example.com", "AAPL"))
        .await
        .expect("register");
    let ask = || RequestAccessRequest {
        email: "bomb@example.com".into(),
    };
    c.request_access(ask()).await.expect("second code");
    c.request_access(ask()).await.expect("third code");
    let third = code_of(&ctx.store, "bomb@example.com").await;
    let err = c.request_access(ask()).await.unwrap_err();
    let wait = retry_after(&err);
    assert!((1..=3600).contains(&wait), "{wait}");
    assert_eq!(code_of(&ctx.store, "bomb@example.com").await, third);
    confirm(&mut c, &ctx.store, "bomb@example.com").await;

    // An address nobody registered meets the same limit: it tells nothing.
    let nobody = || RequestAccessRequest {
        email: "nobody@example.com".into(),
    };
    for _ in 0..3 {
        c.request_access(nobody())
            .await
            .expect("the same answer as for a known address");
    }
    let err = c.request_access(nobody()).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err:?}");
    assert_eq!(
        err.message().split(';').next(),
        Some("too many codes e-mailed to this address")
    );
}
on_both_backends!(codes_per_address, a_fourth_code_within_the_hour_is_refused);

/// The value of a counter in a `/metrics` scrape (0 when absent).
fn counter(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}

/// Two calls per client per hour: the third RegisterUser (or RequestAccess) from the same
/// client is RESOURCE_EXHAUSTED with a `retry-after`, and counted as limited.
async fn a_client_over_its_limit_is_refused(backend: Backend) {
    let db = TestDb::new(backend).await;
    let settings = AccessSettings {
        limits: ClientLimits {
            per_hour: 2,
            address_header: None,
        },
        ..test_settings()
    };
    let codes = issuer_with(&settings, Arc::new(Discard));
    let (server, _ctx) = spawn_mesh_with(&db, &QueryConfig::default(), codes).await;
    let mut c = server.commands().await;
    let limited = r#"tickermesh_register_user_total{outcome="limited"}"#;
    let before = counter(&http_get(server.addr, "/metrics").await, limited);
    c.register_user(register("one@example.com", "AAPL"))
        .await
        .expect("first");
    c.register_user(register("two@example.com", "AAPL"))
        .await
        .expect("second");
    let err = c
        .register_user(register("three@example.com", "AAPL"))
        .await
        .unwrap_err();
    let wait = retry_after(&err);
    assert!((1..=3600).contains(&wait), "{wait}");
    let err = c
        .request_access(RequestAccessRequest {
            email: "one@example.com".into(),
        })
        .await
        .unwrap_err();
    retry_after(&err);
    let after = counter(&http_get(server.addr, "/metrics").await, limited);
    assert!(after >= before + 1.0, "{limited}: {before} → {after}");
}
on_both_backends!(per_client_limit, a_client_over_its_limit_is_refused);

/// Neither codes nor tokens are stored: no value in `access_codes` or `users` holds the code or
/// the token.
async fn codes_and_tokens_are_never_stored(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (server, ctx) = spawn_mesh(&db).await;
    let mut c = server.commands().await;
    c.register_user(register("secret@example.com", "AAPL"))
        .await
        .expect("register");
    let code = code_of(&ctx.store, "secret@example.com").await;
    assert_eq!(code.len(), 8);
    let stored = |values: &[String], secret: &str| {
        let forms = hex_forms(secret);
        values.iter().any(|v| {
            forms
                .iter()
                .any(|f| v == f || (f.len() >= 16 && v.contains(f)))
        })
    };
    let codes = dump(&ctx.store, backend, "access_codes").await;
    // The dump sees what is stored: the address is there.
    assert!(stored(&codes, "secret@example.com"), "{codes:?}");
    assert!(
        !stored(&codes, &code),
        "the code {code} is stored: {codes:?}"
    );
    let token = confirm(&mut c, &ctx.store, "secret@example.com").await;
    for table in ["access_codes", "users"] {
        let values = dump(&ctx.store, backend, table).await;
        assert!(!stored(&values, &code), "{table} holds the code");
        assert!(!stored(&values, &token), "{table} holds the token");
        assert!(
            !stored(&values, token.trim_start_matches("tmk_")),
            "{table} holds the token"
        );
    }
}
on_both_backends!(never_stored, codes_and_tokens_are_never_stored);
