//! The database: one sqlx `AnyPool` over MySQL/MariaDB (`mysql://…`) or SQLite (`sqlite://…`),
//! chosen by URL. Both dialects accept the same `?` placeholders, so each query is written once;
//! the few statements that differ ask [`Backend`].

pub mod access;
pub mod alerts;
pub mod batch;
pub mod deliveries;
pub mod evaluation;
pub mod history;
pub mod quotes;
pub mod registration;
pub mod retention;
pub mod sending;
pub mod unsubscribe;
pub mod users;
pub mod watches;

use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyQueryResult};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyPool, Connection, Executor, Transaction};

use crate::error::{Error, Result};

static MYSQL_MIGRATIONS: Migrator = sqlx::migrate!("migrations/mysql");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    MySql,
    Sqlite,
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Self> {
        if url.starts_with("mysql:") || url.starts_with("mariadb:") {
            Ok(Self::MySql)
        } else if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else {
            Err(Error::invalid(
                "TICKERMESH_DATABASE_URL",
                "must start with mysql:// or sqlite://",
            ))
        }
    }

    /// The dialect of a connection (for code that has a connection, not the store).
    pub fn of(conn: &sqlx::AnyConnection) -> Self {
        if conn.backend_name() == <sqlx::MySql as sqlx::Database>::NAME {
            Self::MySql
        } else {
            Self::Sqlite
        }
    }

    /// Row lock for read-modify-write in a transaction; SQLite serialises writers by itself.
    pub fn for_update(self) -> &'static str {
        match self {
            Self::MySql => " FOR UPDATE",
            Self::Sqlite => "",
        }
    }

    pub fn insert_ignore(self) -> &'static str {
        match self {
            Self::MySql => "INSERT IGNORE",
            Self::Sqlite => "INSERT OR IGNORE",
        }
    }
}

/// How long a pooled connection may sit idle before it is checked with a ping when handed out.
pub(crate) const PING_IDLE_AFTER: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub max_connections: u32,
    /// How long a request waits for a connection before answering UNAVAILABLE.
    pub acquire_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(3),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    /// Where write transactions run. On MySQL the same pool; on SQLite a pool of one
    /// connection, so writers queue in order here instead of sleeping in SQLite's busy handler.
    writer: AnyPool,
    /// Where one-trip batches run (MySQL only): connections of their own, kept between batches.
    batches: Option<batch::BatchConnections>,
    backend: Backend,
}

impl Store {
    /// Opens the pool lazily: connections are made on first use, so a function starts (and
    /// answers health) while the database is still coming up, and recovers when it returns.
    pub fn open(url: &str, options: &StoreOptions) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let pool = |max_connections: u32| {
            let mut pool = AnyPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(options.acquire_timeout)
                // sqlx pings each connection as it comes back to the pool (a broken one is
                // dropped there) and, by default, again as it is handed out: one more round
                // trip before every transaction. Only one idle for a while (the server or a
                // proxy may have closed it since) is pinged on the way out; a dead one is
                // dropped for a fresh one.
                .test_before_acquire(false)
                .before_acquire(|conn, meta| {
                    Box::pin(async move {
                        if meta.idle_for >= PING_IDLE_AFTER {
                            conn.ping().await?;
                        }
                        Ok(true)
                    })
                });
            if backend == Backend::Sqlite {
                pool = pool.after_connect(|conn, _| {
                    Box::pin(async move {
                        // WAL lets readers run beside the one writer; with WAL, NORMAL sync cannot corrupt
                        // the file (a power cut may lose the last commits).
                        conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON")
                            .await
                            .map(|_| ())
                    })
                });
            }
            pool.connect_lazy(url)
                .map_err(|e| Error::invalid("TICKERMESH_DATABASE_URL", e.to_string()))
        };
        let readers = pool(options.max_connections)?;
        let writer = match backend {
            Backend::MySql => readers.clone(),
            Backend::Sqlite => pool(1)?,
        };
        // SQLite takes no batch: its writes queue on the one writer.
        let batches = match backend {
            Backend::MySql => Some(batch::BatchConnections::new(
                &pool(options.max_connections)?,
                options.max_connections,
                options.acquire_timeout,
                PING_IDLE_AFTER,
            )?),
            Backend::Sqlite => None,
        };
        Ok(Self {
            pool: readers,
            writer,
            batches,
            backend,
        })
    }

    /// Opens the pool and brings the schema up to date. Safe when several replicas start at
    /// once: on MySQL they take turns under an advisory lock (see [`Store::migrate`]).
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Self> {
        let store = Self::open(url, options)?;
        store.migrate().await?;
        Ok(store)
    }

    /// [`Store::connect`] to the configured database.
    pub async fn connect_to(database: &crate::config::DatabaseConfig) -> Result<Self> {
        use secrecy::ExposeSecret;
        Self::connect(database.url.expose_secret(), &database.store).await
    }

    pub async fn migrate(&self) -> Result<()> {
        let mut conn = self
            .writer
            .acquire()
            .await
            .map_err(|e| Error::db("connect to migrate", e))?;
        let migrator = match self.backend {
            // sqlx's own MySQL lock asks for `GET_LOCK(…, -1)`, which MariaDB answers at once
            // without waiting; hold a lock that waits, on the connection that migrates.
            Backend::MySql => {
                let locked: Option<i64> =
                    sqlx::query_scalar("SELECT GET_LOCK('tickermesh_migrations', 60)")
                        .fetch_one(&mut *conn)
                        .await
                        .map_err(|e| Error::db("lock the schema for migrations", e))?;
                if locked != Some(1) {
                    return Err(Error::Internal(
                        "another replica held the migration lock for 60 s".into(),
                    ));
                }
                &MYSQL_MIGRATIONS
            }
            Backend::Sqlite => &SQLITE_MIGRATIONS,
        };
        let mut result = migrator.run(&mut *conn).await;
        // SQLite has no advisory lock, but each migration is one transaction: a process that
        // lost the race for the file finds the work done when it tries again.
        for attempt in 1..=5 {
            if self.backend != Backend::Sqlite || result.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
            result = migrator.run(&mut *conn).await;
        }
        let result = result.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(source) => Error::db("apply migrations", source),
            other => Error::Internal(format!("migrations: {other}")),
        });
        if self.backend == Backend::MySql {
            let _ = sqlx::query("SELECT RELEASE_LOCK('tickermesh_migrations')")
                .execute(&mut *conn)
                .await;
        }
        result
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The connections one-trip batches run on ([`batch::Batch::run_on`]); `None` where the
    /// dialect takes no batch (SQLite).
    pub fn batch_connections(&self) -> Option<&batch::BatchConnections> {
        self.batches.as_ref()
    }

    /// A write transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`): a
    /// deferred one that reads first and writes later fails outright ("database is locked")
    /// when a statement of another connection wrote in between, where an immediate one waits
    /// its turn.
    pub async fn begin(&self) -> Result<Transaction<'static, Any>> {
        let begun = match self.backend {
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await,
            Backend::MySql => self.writer.begin().await,
        };
        begun.map_err(|e| Error::db("begin a transaction", e))
    }

    pub async fn ping(&self) -> Result<()> {
        self.pool
            .execute("SELECT 1")
            .await
            .map(|_: AnyQueryResult| ())
            .map_err(|e| Error::db("reach the database", e))
    }

    pub async fn close(&self) {
        if let Some(batches) = &self.batches {
            batches.close().await;
        }
        self.writer.close().await;
        self.pool.close().await;
    }
}
