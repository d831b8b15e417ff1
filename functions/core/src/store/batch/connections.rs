//! The connections one-trip batches run on. sqlx 0.8 pings every connection as it goes back
//! to its pool (a hard-wired check, with no option to leave it out): one more round trip,
//! and one more request for the server, after each batch — which then costs two trips, not
//! one. So the batches keep connections of their own between one batch and the next, handed
//! on with no ping (deadpool's managed pool: a bound, waiting in turn, a hook on reuse).
//!
//! They come from a pool of their own (the store's size again, opened as batches need them;
//! sqlx still makes and closes them), so batches at full load never take a connection the
//! rest of the store waits for, nor wait for one of its. One idle for a while is pinged
//! before it is used again, as the store's pool does ([`super::super::PING_IDLE_AFTER`]); a
//! broken one is closed, never handed on.

use std::fmt;
use std::time::Duration;

use deadpool::managed::{self, Metrics, Object, PoolError, RecycleResult};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Connection};

use crate::error::{Error, Result};

/// Takes connections from the batches' pool, and checks one that sat idle.
pub struct Lender {
    pool: AnyPool,
    ping_idle_after: Duration,
}

impl managed::Manager for Lender {
    type Type = PoolConnection<Any>;
    type Error = sqlx::Error;

    async fn create(&self) -> std::result::Result<Self::Type, Self::Error> {
        self.pool.acquire().await
    }

    async fn recycle(
        &self,
        conn: &mut Self::Type,
        metrics: &Metrics,
    ) -> RecycleResult<Self::Error> {
        if metrics.last_used() >= self.ping_idle_after {
            if let Err(e) = conn.ping().await {
                // Dropped by deadpool: closed, not handed back to the store's pool.
                conn.close_on_drop();
                return Err(e.into());
            }
        }
        Ok(())
    }
}

/// The batches' connections, kept out of their pool between batches (or, with none kept,
/// that pool itself).
#[derive(Clone)]
pub struct BatchConnections {
    kept: Option<managed::Pool<Lender>>,
    pool: AnyPool,
    wait: Duration,
}

impl fmt::Debug for BatchConnections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchConnections")
            .field("kept", &self.kept.as_ref().map(|k| k.status().max_size))
            .finish()
    }
}

impl BatchConnections {
    /// Up to `max_connections` of `pool`'s connections kept for batches (0: none kept, each
    /// batch takes one from `pool`); `wait` bounds the wait for one, as the pool's acquire
    /// timeout does.
    pub fn new(
        pool: &AnyPool,
        max_connections: u32,
        wait: Duration,
        ping_idle_after: Duration,
    ) -> Result<Self> {
        let share = usize::try_from(max_connections).unwrap_or(0);
        let kept = if share == 0 {
            None
        } else {
            let lender = Lender {
                pool: pool.clone(),
                ping_idle_after,
            };
            let built = managed::Pool::builder(lender).max_size(share).build();
            Some(built.map_err(|e| Error::Internal(format!("the batches' connections: {e}")))?)
        };
        Ok(Self {
            kept,
            pool: pool.clone(),
            wait,
        })
    }

    /// A connection for one batch.
    pub async fn get(&self) -> Result<Lent> {
        let fail = |e| Error::db("open a connection", e);
        let Some(kept) = &self.kept else {
            return self.pool.acquire().await.map(Lent::Pooled).map_err(fail);
        };
        match tokio::time::timeout(self.wait, kept.get()).await {
            Ok(Ok(conn)) => Ok(Lent::Kept(conn)),
            Ok(Err(PoolError::Backend(e))) => Err(fail(e)),
            Ok(Err(PoolError::Closed)) => Err(fail(sqlx::Error::PoolClosed)),
            Ok(Err(PoolError::Timeout(_))) | Err(_) => Err(fail(sqlx::Error::PoolTimedOut)),
            Ok(Err(other)) => Err(Error::Internal(format!("a batch's connection: {other}"))),
        }
    }

    /// Gives the kept connections back to their pool and closes it (one still in use goes
    /// back, and is closed, when its batch ends).
    pub async fn close(&self) {
        if let Some(kept) = &self.kept {
            kept.close();
        }
        self.pool.close().await;
    }
}

/// A connection lent to one batch.
pub enum Lent {
    Kept(Object<Lender>),
    Pooled(PoolConnection<Any>),
}

impl Lent {
    pub fn connection(&mut self) -> &mut AnyConnection {
        match self {
            Self::Kept(conn) => conn,
            Self::Pooled(conn) => conn,
        }
    }

    /// Closes the connection instead of handing it on: its state is unknown (a batch dropped
    /// half-way, or an error the server did not answer).
    pub fn discard(self) {
        let mut conn = match self {
            Self::Kept(conn) => Object::take(conn),
            Self::Pooled(conn) => conn,
        };
        conn.close_on_drop();
    }
}
