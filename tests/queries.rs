//! GetLatestValue, GetAverageValue and GetHistory over the wire, on SQLite and MariaDB, each
//! with the user's access token (see `tests/access.rs` for calls without it or with another's).

use tickermesh_api::v1::{GetAverageValueRequest, GetHistoryRequest, GetLatestValueRequest};
use tickermesh_tests::access::{bearer, issuer, signed_up, Discard};
use tickermesh_tests::db::insert_prices;
use tickermesh_tests::{on_both_backends, spawn_mesh, spawn_mesh_with, Backend, TestDb};
use tonic::Code;

/// A mesh with the confirmed user q@example.com watching AAPL: its access token.
async fn setup(
    backend: Backend,
) -> (
    TestDb,
    tickermesh_tests::TestServer,
    std::sync::Arc<tickermesh_core::Context>,
    String,
) {
    let db = TestDb::new(backend).await;
    let (server, ctx) = spawn_mesh(&db).await;
    let mut c = server.commands().await;
    let token = signed_up(&mut c, &ctx.store, "q@example.com", "aapl", None, None).await;
    (db, server, ctx, token)
}

async fn average_of_the_most_recent(backend: Backend) {
    let (_db, server, ctx, token) = setup(backend).await;
    let mut q = server.queries().await;
    insert_prices(&ctx.store, "AAPL", &[10.0, 20.0, 30.0, 100.0]).await;
    // Another ticker's quotes must not leak into the average.
    insert_prices(&ctx.store, "MSFT", &[1000.0, 2000.0]).await;

    let avg = |count| {
        bearer(
            GetAverageValueRequest {
                email: "q@example.com".into(),
                count,
                ..Default::default()
            },
            &token,
        )
    };
    let r = q.get_average_value(avg(2)).await.expect("avg").into_inner();
    assert_eq!(r.average, 65.0, "last 2 of 10, 20, 30, 100");
    assert_eq!((r.count_requested, r.count_used), (2, 2));
    assert_eq!((r.from_unix_ms, r.to_unix_ms), (3_000, 4_000));
    assert_eq!(r.ticker, "AAPL");
    assert_eq!(r.currency, "USD");

    let r = q.get_average_value(avg(3)).await.expect("avg").into_inner();
    assert_eq!(r.average, 50.0);

    // Fewer quotes than asked: the average of those, and the count says so.
    let r = q
        .get_average_value(avg(10))
        .await
        .expect("avg")
        .into_inner();
    assert_eq!(r.average, 40.0);
    assert_eq!((r.count_requested, r.count_used), (10, 4));
    assert_eq!(r.from_unix_ms, 1_000);

    for bad in [0, 10_001] {
        let err = q.get_average_value(avg(bad)).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(err.message().starts_with("count"), "{}", err.message());
    }
}
on_both_backends!(average, average_of_the_most_recent);

async fn latest_and_history(backend: Backend) {
    let (_db, server, ctx, token) = setup(backend).await;
    let mut q = server.queries().await;
    let latest = || {
        bearer(
            GetLatestValueRequest {
                email: "Q@example.com".into(),
                ..Default::default()
            },
            &token,
        )
    };
    let history = |limit| {
        bearer(
            GetHistoryRequest {
                email: "q@example.com".into(),
                limit,
                ..Default::default()
            },
            &token,
        )
    };

    // No quotes yet: NOT_FOUND that says so.
    let err = q.get_latest_value(latest()).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert!(err.message().contains("no quotes"), "{}", err.message());
    let err = q.get_history(history(5)).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    insert_prices(&ctx.store, "AAPL", &[1.5, 2.5, 3.5]).await;
    let quote = q
        .get_latest_value(latest())
        .await
        .expect("latest")
        .into_inner()
        .quote
        .expect("quote");
    assert_eq!(quote.ticker, "AAPL");
    assert_eq!(quote.price, 3.5);
    assert_eq!(quote.market_time_unix_ms, 3_000);
    assert_eq!(quote.collected_at_unix_ms, 3_005);

    let h = q
        .get_history(history(2))
        .await
        .expect("history")
        .into_inner();
    let prices: Vec<f64> = h.quotes.iter().map(|q| q.price).collect();
    assert_eq!(prices, vec![3.5, 2.5], "newest first, limited");

    for (limit, ok) in [(0, false), (10_000, true), (10_001, false)] {
        let r = q.get_history(history(limit)).await;
        match r {
            Ok(h) => assert!(ok && h.into_inner().quotes.len() == 3),
            Err(e) => {
                assert!(!ok);
                assert_eq!(e.code(), Code::InvalidArgument);
                assert!(e.message().starts_with("limit"));
            }
        }
    }

    // Any other address, registered or not, is not this token's: the same refusal.
    let unknown = bearer(
        GetLatestValueRequest {
            email: "nobody@example.com".into(),
            ..Default::default()
        },
        &token,
    );
    assert_eq!(
        q.get_latest_value(unknown).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    let bad = bearer(
        GetLatestValueRequest {
            email: "nobody".into(),
            ..Default::default()
        },
        &token,
    );
    let err = q.get_latest_value(bad).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().starts_with("email"));
}
on_both_backends!(latest_history, latest_and_history);

/// GetLatestValue answers from memory for at most the cache TTL, then sees new quotes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_is_cached_for_at_most_the_ttl() {
    let db = TestDb::new(Backend::Sqlite).await;
    let query = tickermesh_query::QueryConfig {
        cache_ttl: std::time::Duration::from_millis(300),
    };
    let codes = issuer(std::sync::Arc::new(Discard));
    let (server, ctx) = spawn_mesh_with(&db, &query, codes).await;
    let mut c = server.commands().await;
    let token = signed_up(&mut c, &ctx.store, "c@example.com", "IBM", None, None).await;
    let mut q = server.queries().await;
    let latest = || {
        bearer(
            GetLatestValueRequest {
                email: "c@example.com".into(),
                ..Default::default()
            },
            &token,
        )
    };
    assert_eq!(
        q.get_latest_value(latest()).await.unwrap_err().code(),
        Code::NotFound
    );
    insert_prices(&ctx.store, "IBM", &[1.0]).await;
    let price = |r: tonic::Response<tickermesh_api::v1::GetLatestValueResponse>| {
        r.into_inner().quote.expect("quote").price
    };
    // "No quotes" is never cached: the first quote shows at once.
    assert_eq!(
        price(q.get_latest_value(latest()).await.expect("latest")),
        1.0
    );
    sqlx::query("UPDATE quotes SET price = 2.0 WHERE ticker = 'IBM'")
        .execute(ctx.store.pool())
        .await
        .expect("update");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let p = price(q.get_latest_value(latest()).await.expect("latest"));
        if p == 2.0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the cache never expired"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
