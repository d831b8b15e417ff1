//! Throwaway databases: a SQLite file in a temporary folder, or a fresh MariaDB database.

use std::sync::Arc;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::Executor;
use tickermesh_core::store::quotes::{self, Quote};
use tickermesh_core::store::{Store, StoreOptions};
use tickermesh_core::Context;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    MariaDb,
}

/// Prefix of every database the tests create on the MariaDB server.
pub const MYSQL_DB_PREFIX: &str = "tickermesh_t_";

pub fn mysql_server_url() -> String {
    std::env::var("TICKERMESH_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_owned())
}

pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => Self::sqlite(),
            Backend::MariaDb => Self::mariadb().await,
        }
    }

    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        Self {
            url,
            backend: Backend::Sqlite,
            _dir: Some(dir),
        }
    }

    /// A new, empty database on the MariaDB server. Panics when the server cannot be reached:
    /// these tests must fail, not skip, without it.
    pub async fn mariadb() -> Self {
        sqlx::any::install_default_drivers();
        let server = mysql_server_url();
        let admin = AnyPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .connect(&server)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "MariaDB is required at {server} (TICKERMESH_TEST_MYSQL_URL) and cannot be reached: {e}"
                )
            });
        let name = format!(
            "{MYSQL_DB_PREFIX}{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        admin
            .execute(format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4").as_str())
            .await
            .expect("create test database");
        admin.close().await;
        Self {
            url: format!("{}/{name}", server.trim_end_matches('/')),
            backend: Backend::MariaDb,
            _dir: None,
        }
    }

    pub async fn store(&self) -> Store {
        Store::connect(&self.url, &StoreOptions::default())
            .await
            .expect("open the test database")
    }

    pub async fn context(&self) -> Arc<Context> {
        Context::new(self.store().await, Duration::from_secs(3600))
    }

    pub async fn context_with_ttl(&self, ttl: Duration) -> Arc<Context> {
        Context::new(self.store().await, ttl)
    }
}

/// Stores quotes for `ticker` at market times 1000, 2000, … with the given prices, in order.
pub async fn insert_prices(store: &Store, ticker: &str, prices: &[f64]) {
    for (i, price) in prices.iter().enumerate() {
        let t = 1_000 * (i as i64 + 1);
        let quote = Quote {
            ticker: ticker.to_owned(),
            price: *price,
            currency: "USD".to_owned(),
            market_time_ms: t,
            collected_at_ms: t + 5,
            simulated: false,
            previous_close: None,
        };
        let stored = quotes::insert(store.pool(), store.backend(), &quote)
            .await
            .expect("insert quote");
        assert!(stored, "quote {quote:?} was new");
    }
}

/// Registers a user through the storage layer, confirmed (as if the code had come back), so
/// that alerts are e-mailed to it.
pub async fn register(
    store: &Store,
    email: &str,
    ticker: &str,
    min: Option<f64>,
    max: Option<f64>,
) {
    use tickermesh_core::domain::{Email, Thresholds, Ticker};
    let mut tx = store.begin().await.expect("begin");
    tickermesh_core::store::users::insert(
        &mut tx,
        &Email::parse("email", email).expect("email"),
        &Ticker::parse("ticker", ticker).expect("ticker"),
        Thresholds::new(min, max).expect("thresholds"),
        Default::default(),
        tickermesh_core::now_unix_ms(),
        0,
    )
    .await
    .expect("insert user");
    sqlx::query("UPDATE users SET confirmed_at_ms = created_at_ms WHERE email = ?")
        .bind(email)
        .execute(&mut *tx)
        .await
        .expect("confirm user");
    tx.commit().await.expect("commit");
}

/// Stores a quote as collect would (so an event about it names a collected quote).
pub async fn store_quote(store: &Store, quote: &tickermesh_core::events::QuoteCollected) {
    tickermesh_core::store::quotes::insert(store.pool(), store.backend(), quote)
        .await
        .expect("store a quote");
}

/// Stores an alert as evaluate would (so an event about it names a stored alert).
/// Its recipient is a confirmed user (made here when there is none): notify mails confirmed
/// addresses only.
pub async fn store_alert(store: &Store, alert: &tickermesh_core::events::ThresholdCrossed) {
    let mut tx = store.begin().await.expect("begin");
    let now = tickermesh_core::now_unix_ms();
    let user = format!(
        "{} INTO users (email, created_at_ms, updated_at_ms, confirmed_at_ms) VALUES (?, ?, ?, ?)",
        store.backend().insert_ignore()
    );
    sqlx::query(&user)
        .bind(&alert.email)
        .bind(now)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await
        .expect("a confirmed recipient");
    let alerts = std::slice::from_ref(alert);
    tickermesh_core::store::evaluation::insert_alerts(&mut tx, store.backend(), alerts, now)
        .await
        .expect("store an alert");
    tx.commit().await.expect("commit");
}

/// An alert of `email`'s AAPL watch: 260 USD, above its 250 maximum.
pub fn alert(id: &str, email: &str) -> tickermesh_core::events::ThresholdCrossed {
    tickermesh_core::events::ThresholdCrossed {
        alert_id: id.into(),
        email: email.into(),
        ticker: "AAPL".into(),
        price: 260.0,
        currency: "USD".into(),
        threshold: 250.0,
        direction: tickermesh_core::events::Direction::Above,
        market_time_ms: tickermesh_core::now_unix_ms(),
        simulated: false,
        subscription_id: None,
        reference: None,
    }
}

/// Records a stored alert as held until `due_at_ms` (the user's quiet hours), as notify does.
pub async fn hold_alert(store: &Store, alert_id: &str, due_at_ms: i64) {
    sqlx::query(
        "INSERT INTO sent_alerts (alert_id, outcome, detail, handled_at_ms, due_at_ms) \
         VALUES (?, 'held', 'quiet hours', ?, ?)",
    )
    .bind(alert_id)
    .bind(tickermesh_core::now_unix_ms())
    .bind(due_at_ms)
    .execute(store.pool())
    .await
    .expect("hold an alert");
}
