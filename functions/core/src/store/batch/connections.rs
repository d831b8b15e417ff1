//! The connections one-trip batches run on. sqlx 0.8 pings every connection as it goes back
//! to its pool (a hard-wired check, with no option to leave it out): one more round trip,
//! and one more request for the server, after each batch — which then costs two trips, not
//! one. So the batches keep connections of their own between one batch and the next, handed
//! on with no ping (deadpool's managed pool: a bound, waiting in turn, a hook on reuse).
//!
//! They come from a pool of their own (the store's size again, opened as batches need them;
//! sqlx still makes and closes them), so batches at full load never take a connection the
//! rest of the store waits for, nor wait for one of its. The last one handed back is the
//! next handed out, so after a busy spell the ones no longer needed sit idle, and are closed
//! after sqlx's idle timeout, as the store's pool closes its own. One not handed out for a
//! while is pinged before it is used again, as the store's pool does
//! ([`super::super::PING_IDLE_AFTER`]); one older than sqlx's lifetime for a connection is
//! replaced. Any connection deadpool lets go of (a failed or cut-off
//! check, one taken out by [`Lent::discard`]) is closed: a ping cut off half-way leaves its
//! answer unread, which the next user would take for its own.

use std::fmt;
use std::time::Duration;

use deadpool::managed::{self, Metrics, Object, PoolError, QueueMode, RecycleError, RecycleResult};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Connection};

use crate::error::{Error, Result};

/// How long a kept connection serves before it is replaced, and how long one may sit idle
/// before it is closed: sqlx's defaults for a pooled one (which cannot apply while deadpool
/// holds it out of its pool).
const MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);
const IDLE_TIMEOUT: Duration = Duration::from_secs(10 * 60);

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
        if metrics.age() >= MAX_LIFETIME {
            return Err(RecycleError::message("served its lifetime"));
        }
        // `last_used` counts from when it was last handed out: at least the time it sat idle.
        if metrics.last_used() >= self.ping_idle_after {
            conn.ping().await?;
        }
        Ok(())
    }

    /// Whatever deadpool lets go of is closed, not handed back to the batches' pool: after a
    /// failed or cut-off check its state is unknown.
    fn detach(&self, conn: &mut Self::Type) {
        conn.close_on_drop();
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
            let built = managed::Pool::builder(lender)
                .max_size(share)
                .queue_mode(QueueMode::Lifo)
                .build();
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
        // Ones idle since a busy spell are closed (a lock and a look at at most a pool's
        // worth of connections).
        drop(kept.retain(|_, metrics| metrics.last_used() < IDLE_TIMEOUT));
        match tokio::time::timeout(self.wait, kept.get()).await {
            Ok(Ok(conn)) => Ok(Lent::Kept(conn)),
            Ok(Err(PoolError::Backend(e))) => Err(fail(e)),
            Ok(Err(PoolError::Closed)) => Err(fail(sqlx::Error::PoolClosed)),
            Ok(Err(PoolError::Timeout(_))) | Err(_) => Err(fail(sqlx::Error::PoolTimedOut)),
            Ok(Err(other)) => Err(Error::Internal(format!("a batch's connection: {other}"))),
        }
    }

    /// Closes the kept connections and their pool (one still in use is closed when its batch
    /// ends, which the pool's close waits for).
    pub async fn close(&self) {
        // sqlx marks its pool closed at the call, so what deadpool lets go of from here on is
        // closed, not pinged back into it.
        let closing = self.pool.close();
        if let Some(kept) = &self.kept {
            kept.close();
            // `close` leaves an idle one it could not take a permit for at that instant.
            drop(kept.retain(|_, _| false));
        }
        closing.await;
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
        match self {
            // Taken out of deadpool, which closes it (`Lender::detach`).
            Self::Kept(conn) => drop(Object::take(conn)),
            Self::Pooled(mut conn) => conn.close_on_drop(),
        }
    }
}
