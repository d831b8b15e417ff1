//! At-most-once commands.
//!
//! A command with an `idempotency-key` records the key with its response in the same
//! transaction as its effect, after the effect (one statement: no separate claim, no read), so
//! the database row is the truth: the guarantee holds across replicas and restarts. A moka
//! cache answers hot repeats without a database round trip.
//!
//! Concurrent calls with one key: each runs its effect in its own transaction; the first to
//! record the key commits, the others' record waits on its row until that commit, fails, and
//! their effect is rolled back: they return the recorded response. An effect that fails (the
//! user the first call registered now exists) looks for that response too.

mod key;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row};

pub use key::IdempotencyKey;

use crate::error::{Error, Result};
use crate::metrics;
use crate::store::batch::{self, Batch};
use crate::store::Store;

/// How often expired keys are purged.
pub const PURGE_INTERVAL: Duration = Duration::from_secs(600);

/// The effect of a command, run inside the transaction that records its key.
pub type Effect<'c, R> = Pin<Box<dyn Future<Output = Result<R>> + Send + 'c>>;

/// A key's row as stored.
struct Taken {
    request_hash: String,
    response: Option<Vec<u8>>,
    expires_at_ms: i64,
}

#[derive(Debug)]
struct Recorded {
    request_hash: String,
    response: Vec<u8>,
}

/// What the record of a taken key says.
enum Found {
    /// The command finished: its response.
    Recorded(Arc<Recorded>),
    /// Claimed by a command still running (its transaction not committed).
    InProgress,
    /// Expired (now removed) or purged: the key may be claimed again.
    Expired,
}

#[derive(Clone)]
pub struct Idempotency {
    cache: Cache<String, Arc<Recorded>>,
    ttl: Duration,
}

/// A stable fingerprint of a request: the method, the caller's access token (hashed) and the
/// request's protobuf encoding. With the token in it, a key replayed by another caller is "used
/// for a different request": no response of one user is ever shown to another.
pub fn fingerprint(method: &str, caller: Option<&[u8]>, request: &impl prost::Message) -> String {
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update([0]);
    match caller {
        Some(token) => {
            hasher.update([1]);
            hasher.update(token);
        }
        None => hasher.update([0]),
    }
    hasher.update(request.encode_to_vec());
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn ttl_ms(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)
}

impl Idempotency {
    pub fn new(ttl: Duration) -> Self {
        Self {
            cache: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl)
                .build(),
            ttl,
        }
    }

    /// Runs `effect` at most once per key. Without a key the effect simply runs in a
    /// transaction (no repeat protection).
    pub async fn execute<R, F>(
        &self,
        store: &Store,
        key: Option<&IdempotencyKey>,
        method: &'static str,
        request_hash: String,
        effect: F,
    ) -> Result<R>
    where
        R: prost::Message + Default,
        F: for<'c> FnOnce(&'c mut AnyConnection) -> Effect<'c, R>,
    {
        let Some(key) = key else {
            let mut tx = store.begin().await?;
            let response = effect(&mut tx).await?;
            tx.commit()
                .await
                .map_err(|e| Error::db("commit a command", e))?;
            return Ok(response);
        };

        if let Some(recorded) = self.cache.get(key.as_str()).await {
            return replay(method, &recorded, &request_hash);
        }
        // The effect first, then the key with its response in one statement, then the commit:
        // a fresh key (the usual case) costs one write of its own and no read. A key taken
        // meanwhile fails that insert (InnoDB makes it wait for the holder's commit); the effect
        // is then rolled back with the transaction and the recorded response replayed. Either
        // way the effect and its record commit together, or neither does.
        let mut tx = store.begin().await?;
        let response = match effect(&mut tx).await {
            Ok(response) => response,
            Err(e) => {
                drop(tx);
                // The effect may have failed because a first call with this key did it (a
                // user it registered already exists): that call's response is the answer.
                let now = crate::now_unix_ms();
                return match self.lookup(store, key, now).await? {
                    Found::Recorded(recorded) => replay(method, &recorded, &request_hash),
                    Found::InProgress | Found::Expired => Err(e),
                };
            }
        };
        let encoded = response.encode_to_vec();
        let now = crate::now_unix_ms();
        // Twice at most: an expired record in the way is removed in this transaction and the
        // key recorded again.
        for _ in 0..2 {
            let recorded = sqlx::query(
                "INSERT INTO idempotency_keys (idem_key, method, request_hash, response, created_at_ms, expires_at_ms) \
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(key.as_str())
            .bind(method)
            .bind(&request_hash)
            .bind(encoded.clone())
            .bind(now)
            .bind(now.saturating_add(ttl_ms(self.ttl)))
            .execute(&mut *tx)
            .await;
            match recorded {
                Ok(_) => {
                    tx.commit()
                        .await
                        .map_err(|e| Error::db("commit a command", e))?;
                    let recorded = Arc::new(Recorded {
                        request_hash,
                        response: encoded,
                    });
                    self.cache.insert(key.as_str().to_owned(), recorded).await;
                    return Ok(response);
                }
                Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                    match Self::read(&mut tx, key).await? {
                        Some(taken) if taken.expires_at_ms <= now => {
                            sqlx::query(
                                "DELETE FROM idempotency_keys WHERE idem_key = ? AND expires_at_ms <= ?",
                            )
                            .bind(key.as_str())
                            .bind(now)
                            .execute(&mut *tx)
                            .await
                            .map_err(|e| Error::db("remove an expired idempotency key", e))?;
                            continue;
                        }
                        Some(Taken {
                            request_hash: hash,
                            response: Some(response),
                            ..
                        }) => {
                            drop(tx);
                            let recorded = Arc::new(Recorded {
                                request_hash: hash,
                                response,
                            });
                            self.cache
                                .insert(key.as_str().to_owned(), recorded.clone())
                                .await;
                            return replay(method, &recorded, &request_hash);
                        }
                        // A record without a response (written by an earlier version while
                        // its command ran), or gone again: the client retries.
                        _ => break,
                    }
                }
                Err(e) => return Err(Error::db("record an idempotency key", e)),
            }
        }
        Err(Error::Aborted(
            "a request with this idempotency-key is still in progress; retry".into(),
        ))
    }

    /// The effect written as one batch (MySQL: one round trip, see [`crate::store::batch`]),
    /// with the key and `response` recorded in the same transaction, as [`Self::execute`]
    /// records them. `Ok(None)`: not done — the key is known here already, or a statement
    /// failed (a taken key, an existing row) and nothing was kept; the caller takes the
    /// general path, which replays or answers what the failure meant. `Some`: committed; the
    /// integers `returning` selected.
    pub async fn execute_batch<R: prost::Message>(
        &self,
        store: &Store,
        (key, method, request_hash): (&IdempotencyKey, &'static str, &str),
        mut batch: Batch,
        response: &R,
        returning: &str,
    ) -> Result<Option<Vec<i64>>> {
        let Some(connections) = store.batch_connections() else {
            return Ok(None);
        };
        if self.cache.contains_key(key.as_str()) {
            return Ok(None);
        }
        let encoded = response.encode_to_vec();
        let now = crate::now_unix_ms();
        batch.push(format!(
            "INSERT INTO idempotency_keys (idem_key, method, request_hash, response, \
             created_at_ms, expires_at_ms) VALUES ({}, {}, {}, {}, {now}, {})",
            batch::text(key.as_str()),
            batch::text(method),
            batch::text(request_hash),
            batch::bytes(&encoded),
            now.saturating_add(ttl_ms(self.ttl)),
        ));
        let ids = batch.run_on(connections, returning).await?;
        if ids.is_some() {
            let recorded = Arc::new(Recorded {
                request_hash: request_hash.to_owned(),
                response: encoded,
            });
            self.cache.insert(key.as_str().to_owned(), recorded).await;
        }
        Ok(ids)
    }

    /// The record of `key` as this transaction sees it.
    async fn read(tx: &mut AnyConnection, key: &IdempotencyKey) -> Result<Option<Taken>> {
        let row = sqlx::query(
            "SELECT request_hash, response, expires_at_ms FROM idempotency_keys WHERE idem_key = ?",
        )
        .bind(key.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| Error::db("look up an idempotency key", e))?;
        row.map(|row| -> std::result::Result<_, sqlx::Error> {
            Ok(Taken {
                request_hash: row.try_get(0)?,
                response: row.try_get(1)?,
                expires_at_ms: row.try_get(2)?,
            })
        })
        .transpose()
        .map_err(|e| Error::db("read an idempotency key", e))
    }

    /// The recorded response of a finished command with this key. An expired record is removed
    /// here so that the key can be claimed again.
    async fn lookup(&self, store: &Store, key: &IdempotencyKey, now: i64) -> Result<Found> {
        let row = sqlx::query(
            "SELECT request_hash, response, expires_at_ms FROM idempotency_keys WHERE idem_key = ?",
        )
        .bind(key.as_str())
        .fetch_optional(store.pool())
        .await
        .map_err(|e| Error::db("look up an idempotency key", e))?;
        // Gone between the claim and this read: purged as expired.
        let Some(row) = row else {
            return Ok(Found::Expired);
        };
        let read = || -> std::result::Result<_, sqlx::Error> {
            Ok((
                row.try_get::<String, _>(0)?,
                row.try_get::<Option<Vec<u8>>, _>(1)?,
                row.try_get::<i64, _>(2)?,
            ))
        };
        let (request_hash, response, expires_at_ms) =
            read().map_err(|e| Error::db("read an idempotency key", e))?;
        if expires_at_ms <= now {
            sqlx::query("DELETE FROM idempotency_keys WHERE idem_key = ? AND expires_at_ms <= ?")
                .bind(key.as_str())
                .bind(now)
                .execute(store.pool())
                .await
                .map_err(|e| Error::db("remove an expired idempotency key", e))?;
            return Ok(Found::Expired);
        }
        let Some(response) = response else {
            return Ok(Found::InProgress);
        };
        let recorded = Arc::new(Recorded {
            request_hash,
            response,
        });
        self.cache
            .insert(key.as_str().to_owned(), recorded.clone())
            .await;
        Ok(Found::Recorded(recorded))
    }

    /// Deletes expired records; returns how many.
    pub async fn purge_expired(store: &Store, now_ms: i64) -> Result<u64> {
        sqlx::query("DELETE FROM idempotency_keys WHERE expires_at_ms <= ?")
            .bind(now_ms)
            .execute(store.pool())
            .await
            .map(|r| r.rows_affected())
            .map_err(|e| Error::db("purge expired idempotency keys", e))
    }

    /// Purges expired records now and then every `every`; runs until its task is dropped.
    pub async fn purge_every(store: Store, every: Duration) {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            match Self::purge_expired(&store, crate::now_unix_ms()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(purged = n, "expired idempotency keys removed"),
                Err(e) => tracing::warn!(error = %e, "purging idempotency keys failed"),
            }
        }
    }
}

fn replay<R: prost::Message + Default>(
    method: &'static str,
    recorded: &Recorded,
    request_hash: &str,
) -> Result<R> {
    if recorded.request_hash != request_hash {
        return Err(Error::FailedPrecondition(
            "idempotency-key was already used for a different request".into(),
        ));
    }
    metrics::idempotent_replay(method);
    R::decode(recorded.response.as_slice())
        .map_err(|e| Error::Internal(format!("stored response does not decode: {e}")))
}
