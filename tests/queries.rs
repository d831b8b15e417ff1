//! GetLatestValue, GetAverageValue and GetHistory over the wire, on SQLite and MariaDB.

use tickermesh_api::v1::{
    GetAverageValueRequest, GetHistoryRequest, GetLatestValueRequest, RegisterUserRequest,
};
use tickermesh_tests::db::insert_prices;
use tickermesh_tests::{on_both_backends, spawn_mesh, Backend, TestDb};
use tonic::Code;

async fn setup(
    backend: Backend,
) -> (
    TestDb,
    tickermesh_tests::TestServer,
    std::sync::Arc<tickermesh_core::Context>,
) {
    let db = TestDb::new(backend).await;
    let (server, ctx) = spawn_mesh(&db).await;
    server
        .commands()
        .await
        .register_user(RegisterUserRequest {
            email: "q@example.com".into(),
            ticker: "aapl".into(),
            min_price: None,
            max_price: None,
        })
        .await
        .expect("register");
    (db, server, ctx)
}

async fn average_of_the_most_recent(backend: Backend) {
    let (_db, server, ctx) = setup(backend).await;
    let mut q = server.queries().await;
    insert_prices(&ctx.store, "AAPL", &[10.0, 20.0, 30.0, 100.0]).await;
    // Another ticker's quotes must not leak into the average.
    insert_prices(&ctx.store, "MSFT", &[1000.0, 2000.0]).await;

    let avg = |count| GetAverageValueRequest {
        email: "q@example.com".into(),
        count,
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
    let (_db, server, ctx) = setup(backend).await;
    let mut q = server.queries().await;
    let latest = || GetLatestValueRequest {
        email: "Q@example.com".into(),
    };

    // No quotes yet: NOT_FOUND that says so.
    let err = q.get_latest_value(latest()).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert!(err.message().contains("no quotes"), "{}", err.message());
    let err = q
        .get_history(GetHistoryRequest {
            email: "q@example.com".into(),
            limit: 5,
        })
        .await
        .unwrap_err();
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
        .get_history(GetHistoryRequest {
            email: "q@example.com".into(),
            limit: 2,
        })
        .await
        .expect("history")
        .into_inner();
    let prices: Vec<f64> = h.quotes.iter().map(|q| q.price).collect();
    assert_eq!(prices, vec![3.5, 2.5], "newest first, limited");

    for (limit, ok) in [(0, false), (10_000, true), (10_001, false)] {
        let r = q
            .get_history(GetHistoryRequest {
                email: "q@example.com".into(),
                limit,
            })
            .await;
        match r {
            Ok(h) => assert!(ok && h.into_inner().quotes.len() == 3),
            Err(e) => {
                assert!(!ok);
                assert_eq!(e.code(), Code::InvalidArgument);
                assert!(e.message().starts_with("limit"));
            }
        }
    }

    let unknown = GetLatestValueRequest {
        email: "nobody@example.com".into(),
    };
    assert_eq!(
        q.get_latest_value(unknown).await.unwrap_err().code(),
        Code::NotFound
    );
    let bad = GetLatestValueRequest {
        email: "nobody".into(),
    };
    let err = q.get_latest_value(bad).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().starts_with("email"));
}
on_both_backends!(latest_history, latest_and_history);

/// GetLatestValue answers from memory for at most the cache TTL, then sees new quotes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_is_cached_for_at_most_the_ttl() {
    let db = TestDb::new(Backend::Sqlite).await;
    let ctx = db.context().await;
    let query = tickermesh_query::QueryConfig {
        cache_ttl: std::time::Duration::from_millis(300),
    };
    let server =
        tickermesh_tests::TestServer::start(tickermesh::router(ctx.clone(), &query).await).await;
    server
        .commands()
        .await
        .register_user(RegisterUserRequest {
            email: "c@example.com".into(),
            ticker: "IBM".into(),
            ..Default::default()
        })
        .await
        .expect("register");
    let mut q = server.queries().await;
    let latest = || GetLatestValueRequest {
        email: "c@example.com".into(),
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
