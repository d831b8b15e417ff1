//! The storage layer on its own: migrations when several replicas start at once, and query
//! plans that read a ticker's newest quotes through the primary key.

use futures::future::join_all;
use sqlx::Row;
use tickermesh_core::store::{Store, StoreOptions};
use tickermesh_tests::db::insert_prices;
use tickermesh_tests::{Backend, TestDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_at_once_migrate_safely() {
    for backend in [Backend::MariaDb, Backend::Sqlite] {
        let db = TestDb::new(backend).await;
        let options = StoreOptions::default();
        let starts = (0..4).map(|_| Store::connect(&db.url, &options));
        for result in join_all(starts).await {
            result.unwrap_or_else(|e| panic!("{backend:?}: a replica failed to start: {e}"));
        }
        let store = db.store().await;
        let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(store.pool())
            .await
            .expect("migrations table");
        let files = std::fs::read_dir(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/functions/core/migrations/mysql"
        ))
        .expect("migrations dir")
        .count();
        assert_eq!(applied as usize, files, "{backend:?}: each migration once");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newest_quotes_are_an_index_range_scan() {
    let db = TestDb::new(Backend::MariaDb).await;
    let store = db.store().await;
    let prices: Vec<f64> = (1..=200).map(f64::from).collect();
    insert_prices(&store, "AAPL", &prices).await;
    insert_prices(&store, "MSFT", &prices).await;
    sqlx::query("ANALYZE TABLE quotes")
        .execute(store.pool())
        .await
        .expect("analyze");
    for sql in [
        "EXPLAIN SELECT price FROM quotes WHERE ticker = 'AAPL' ORDER BY market_time_ms DESC LIMIT 1",
        "EXPLAIN SELECT price FROM quotes WHERE ticker = 'AAPL' ORDER BY market_time_ms DESC LIMIT 20",
    ] {
        let row = sqlx::query(sql).fetch_one(store.pool()).await.expect("explain");
        let key: Option<String> = row.try_get("key").expect("key column");
        let extra: Option<String> = row.try_get("Extra").expect("Extra column");
        assert_eq!(key.as_deref(), Some("PRIMARY"), "{sql}");
        assert!(
            !extra.unwrap_or_default().contains("filesort"),
            "{sql}: the primary key order serves ORDER BY"
        );
    }
}
