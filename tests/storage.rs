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

/// Users registered before consent existed stay confirmed (they were receiving alerts, and each
/// alert e-mail now carries a one-click unsubscribe), hold no token until they ask for one, and
/// their watch keeps working; on both backends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_from_before_consent_stay_confirmed_without_a_token() {
    use std::borrow::Cow;
    use tickermesh_core::store::users;
    for backend in [Backend::Sqlite, Backend::MariaDb] {
        let db = TestDb::new(backend).await;
        let dir = match backend {
            Backend::Sqlite => "sqlite",
            Backend::MariaDb => "mysql",
        };
        let path = format!(
            "{}/functions/core/migrations/{dir}",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut before = sqlx::migrate::Migrator::new(std::path::Path::new(&path))
            .await
            .expect("migrations");
        let old: Vec<_> = before
            .migrations
            .iter()
            .filter(|m| m.version < 20261127000003)
            .cloned()
            .collect();
        assert!(
            old.len() < before.migrations.len(),
            "the consent migration exists"
        );
        before.migrations = Cow::Owned(old);
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&db.url).await.expect("connect");
        before
            .run(&pool)
            .await
            .expect("the migrations before consent");
        sqlx::query("INSERT INTO users (email, created_at_ms, updated_at_ms) VALUES ('old@example.com', 5, 5)")
            .execute(&pool)
            .await
            .expect("an old user");
        sqlx::query(
            "INSERT INTO subscriptions (user_id, ticker, max_price, created_at_ms, updated_at_ms) \
             SELECT id, 'AAPL', 250, 5, 5 FROM users WHERE email = 'old@example.com'",
        )
        .execute(&pool)
        .await
        .expect("its watch");
        pool.close().await;

        let store = db.store().await;
        let email = tickermesh_core::domain::Email::parse("email", "old@example.com").unwrap();
        let user = users::find(store.pool(), &email)
            .await
            .unwrap()
            .expect("still there");
        assert_eq!(
            user.confirmed_at_ms,
            Some(5),
            "{backend:?}: confirmed as of its creation"
        );
        assert_eq!(user.unsubscribed_at_ms, None);
        assert_eq!(
            (user.ticker.as_str(), user.max_price),
            ("AAPL", Some(250.0))
        );
        let token: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT token_hash FROM users WHERE email = 'old@example.com'")
                .fetch_one(store.pool())
                .await
                .unwrap();
        assert_eq!(
            token, None,
            "{backend:?}: no token until the owner asks for one"
        );
        let recipient =
            tickermesh_core::store::deliveries::recipient(store.pool(), "old@example.com", None)
                .await
                .unwrap()
                .unwrap();
        assert!(
            recipient.confirmed && !recipient.unsubscribed,
            "{backend:?}: alerts keep going"
        );
    }
}

/// A one-trip batch whose call is dropped half-way (a client's deadline) must not hand its
/// connection on with the batch's transaction still open: the next batch on that connection
/// would run inside it, and its locks would stay taken. Here a statement fails after
/// the call was dropped (as a registration of an address already taken does), which leaves the
/// server's transaction open with a row inserted until the connection is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_cut_off_half_way_leaves_no_open_transaction() {
    use std::time::Duration;
    use tickermesh_core::store::batch::Batch;

    let db = TestDb::new(Backend::MariaDb).await;
    // One connection: whatever the batch leaves behind, the next acquire gets.
    let options = StoreOptions {
        max_connections: 1,
        ..StoreOptions::default()
    };
    let store = Store::connect(&db.url, &options).await.expect("the store");
    sqlx::query("CREATE TABLE batch_probe (id INT PRIMARY KEY)")
        .execute(store.pool())
        .await
        .expect("a table");
    let mut batch = Batch::new();
    batch
        .push("INSERT INTO batch_probe VALUES (1)")
        .push("DO SLEEP(1)")
        .push("INSERT INTO batch_probe VALUES (1)");
    let connections = store
        .batch_connections()
        .expect("MySQL's batch connections");
    let cut = tokio::time::timeout(
        Duration::from_millis(300),
        batch.run_on(connections, "SELECT 1"),
    )
    .await;
    assert!(cut.is_err(), "the call was to be cut off: {cut:?}");
    let mut conn = tokio::time::timeout(Duration::from_secs(10), connections.get())
        .await
        .expect("a connection within 10 s")
        .expect("a connection");
    let open: i64 = sqlx::query_scalar("SELECT CAST(@@in_transaction AS SIGNED)")
        .fetch_one(conn.connection())
        .await
        .expect("read the session's state");
    assert_eq!(
        open, 0,
        "the pool handed out a connection inside the batch's transaction"
    );
    drop(conn);
    // And the batch's insert was not kept: its transaction ended with its connection.
    let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM batch_probe")
        .fetch_one(store.pool())
        .await
        .expect("count");
    assert_eq!(kept, 0);
}

/// A batch is one round trip only if its connection goes on to the next batch as it is: sqlx's
/// pool pings every connection coming back to it (a second trip per batch). With one
/// connection, the second batch runs on the first one's connection, which has answered no
/// ping (MariaDB counts pings among a session's `Com_admin_commands`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_connection_goes_to_the_next_batch_unpinged() {
    use std::time::Duration;
    use tickermesh_core::store::batch::Batch;

    let db = TestDb::new(Backend::MariaDb).await;
    let options = StoreOptions {
        max_connections: 1,
        ..StoreOptions::default()
    };
    let store = Store::connect(&db.url, &options).await.expect("the store");
    let mut batch = Batch::new();
    batch.push("DO 1");
    let pings = "SELECT CONNECTION_ID(), CAST(VARIABLE_VALUE AS SIGNED) \
                 FROM information_schema.SESSION_STATUS \
                 WHERE VARIABLE_NAME = 'COM_ADMIN_COMMANDS'";
    let connections = store
        .batch_connections()
        .expect("MySQL's batch connections");
    let run = || async {
        batch
            .run_on(connections, pings)
            .await
            .expect("a batch")
            .expect("committed")
    };
    let first = run().await;
    // Time for a ping on the way back, had there been one (sqlx's runs in a task of its own).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = run().await;
    assert_eq!(first.first(), second.first(), "one connection, kept");
    assert_eq!(
        first.get(1),
        second.get(1),
        "the connection answered a ping between two batches"
    );
    store.close().await;
}

/// A kept connection's check cut off half-way (a client's deadline while the ping waits for its
/// answer) leaves that answer unread on the connection: handed on, the next batch would read it
/// as its own and find no rows. Such a connection must be closed. Every hand-out is checked
/// here (a zero idle time before the ping), the database's answers arrive 20 ms late, and each
/// check is dropped after its first step, its ping sent and unanswered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_cut_off_half_way_closes_its_connection() {
    use futures::FutureExt;
    use std::time::Duration;
    use tickermesh_core::store::batch::{Batch, BatchConnections};
    use tickermesh_tests::proxy::{proxied_url, slow_answers, target_of};

    let db = TestDb::new(Backend::MariaDb).await;
    let proxy = slow_answers(target_of(&db.url), Duration::from_millis(20)).await;
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&proxied_url(&db.url, proxy))
        .await
        .expect("a pool");
    let connections = BatchConnections::new(&pool, 1, Duration::from_secs(5), Duration::ZERO)
        .expect("the batches' connections");
    let mut batch = Batch::new();
    batch.push("DO 1");
    let seven = Some(vec![7]);
    let first = batch
        .run_on(&connections, "SELECT 7")
        .await
        .expect("a batch");
    assert_eq!(first, seven);
    for round in 0..5 {
        let cut = connections.get().now_or_never();
        assert!(
            cut.is_none(),
            "round {round}: the check was answered at once"
        );
        let ids = batch
            .run_on(&connections, "SELECT 7")
            .await
            .expect("a batch");
        assert_eq!(ids, seven, "round {round}");
    }
    connections.close().await;
}

/// A kept connection the server has closed since its last batch (a restart, a proxy's idle
/// cut) fails the next batch it is lent to. That batch goes the general way (`None`: the
/// command runs as a plain transaction, on a fresh connection), not to the client as an error,
/// and the broken connection is replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_on_a_connection_the_server_closed_goes_the_general_way() {
    use tickermesh_core::store::batch::Batch;

    let db = TestDb::new(Backend::MariaDb).await;
    let store = Store::connect(&db.url, &StoreOptions::default())
        .await
        .expect("the store");
    let mut batch = Batch::new();
    batch.push("DO 1");
    let id = |ids: Option<Vec<i64>>| ids.and_then(|ids| ids.first().copied());
    let connections = store
        .batch_connections()
        .expect("MySQL's batch connections");
    let run = || batch.run_on(connections, "SELECT CONNECTION_ID()");
    let first = id(run().await.expect("a batch")).expect("committed");
    sqlx::query(&format!("KILL {first}"))
        .execute(store.pool())
        .await
        .expect("the batch's connection killed");
    let broken = run().await.expect("no error for the client");
    assert_eq!(broken, None, "the batch goes the general way");
    let next = id(run().await.expect("a batch")).expect("committed");
    assert_ne!(next, first, "a fresh connection");
    store.close().await;
}
