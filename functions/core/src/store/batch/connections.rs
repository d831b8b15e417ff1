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
struct Lender {
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

/// The batches' connections, kept out of their pool between batches.
#[derive(Clone)]
pub struct BatchConnections {
    kept: managed::Pool<Lender>,
    pool: AnyPool,
    wait: Duration,
}

impl fmt::Debug for BatchConnections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchConnections")
            .field("kept", &self.kept.status().max_size)
            .finish()
    }
}

impl BatchConnections {
    /// Up to `max_connections` (at least one) of `pool`'s connections kept for batches; `wait`
    /// bounds the wait for one, as the pool's acquire timeout does.
    pub fn new(
        pool: &AnyPool,
        max_connections: u32,
        wait: Duration,
        ping_idle_after: Duration,
    ) -> Result<Self> {
        let lender = Lender {
            pool: pool.clone(),
            ping_idle_after,
        };
        let kept = managed::Pool::builder(lender)
            .max_size(usize::try_from(max_connections.max(1)).unwrap_or(1))
            .queue_mode(QueueMode::Lifo)
            .build()
            .map_err(|e| Error::Internal(format!("the batches' connections: {e}")))?;
        Ok(Self {
            kept,
            pool: pool.clone(),
            wait,
        })
    }

    /// A connection for one batch.
    pub async fn get(&self) -> Result<Lent> {
        let fail = |e| Error::db("open a connection", e);
        // Ones idle since a busy spell are closed (a lock and a look at at most a pool's
        // worth of connections).
        drop(
            self.kept
                .retain(|_, metrics| metrics.last_used() < IDLE_TIMEOUT),
        );
        match tokio::time::timeout(self.wait, self.kept.get()).await {
            Ok(Ok(conn)) => Ok(Lent(conn)),
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
        self.kept.close();
        // `close` leaves an idle one it could not take a permit for at that instant.
        drop(self.kept.retain(|_, _| false));
        closing.await;
    }
}

/// A connection lent to one batch.
pub struct Lent(Object<Lender>);

impl Lent {
    pub fn connection(&mut self) -> &mut AnyConnection {
        &mut self.0
    }

    /// Closes the connection instead of handing it on: its state is unknown (a batch dropped
    /// half-way, or an error the server did not answer). Taken out of deadpool, which closes
    /// it (`Lender::detach`).
    pub fn discard(self) {
        drop(Object::take(self.0));
    }
}
