//! Claims on what notify is mailing: an alert (or the held alerts of a digest) is marked
//! `sending` in `sent_alerts`, with a random claim token and a lease, before its e-mail goes
//! out, and the claim is finished (`sent`, `held`, …) or given back afterwards.
//!
//! Why: the per-process lock cannot see another process. After a rebalance the new owner of a
//! partition may read an alert the old owner is still mailing, and two replicas may take one
//! user's digest at once. With the claim in the database the second one finds it and waits
//! (its event is retried) until the first has recorded the alert — then it is a duplicate — or
//! until the lease runs out (the first was killed), when it takes the claim over and mails.
//! The lease is renewed every third of it while the e-mail is being sent (its attempts and
//! the waits between them), so a slow mail server does not make the claim run out under a
//! live sender.

use std::time::Duration;

use sqlx::{Any, AnyPool, Executor};

use crate::error::{Error, Result};
use crate::store::Backend;

/// A claim this process holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    token: i64,
    ids: Vec<String>,
    digest: bool,
    /// When the alert was first claimed (its `handled_at_ms` while it is sent, kept when the
    /// claim is taken over or given back): the instant a cooldown claimed for it carries.
    pub at_ms: i64,
    /// Whether this claim took over one whose sender stopped or gave it back: a cooldown
    /// claimed at [`Claim::at_ms`] was then claimed for this alert.
    pub taken_over: bool,
}

fn new_token() -> Result<i64> {
    getrandom::u64()
        .map(|bits| bits as i64)
        .map_err(|e| Error::Internal(format!("no randomness for a claim token: {e}")))
}

fn lease_end(now_ms: i64, lease: Duration) -> i64 {
    now_ms.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX))
}

fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

type AnyQuery<'q> = sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>;

/// Binds the ids of an `alert_id IN (…)` list, in order.
fn bind_ids<'q>(mut query: AnyQuery<'q>, ids: &'q [String]) -> AnyQuery<'q> {
    for id in ids {
        query = query.bind(id.as_str());
    }
    query
}

/// Claims the stored alert `alert_id` for mailing. `None`: another notify holds a claim on it
/// that has not run out, or it was recorded meanwhile, or it is gone: the caller tries again
/// later and then finds which.
pub async fn claim_alert(
    pool: &AnyPool,
    backend: Backend,
    alert_id: &str,
    now_ms: i64,
    lease: Duration,
) -> Result<Option<Claim>> {
    let token = new_token()?;
    let until = lease_end(now_ms, lease);
    let claim = |at_ms, taken_over| Claim {
        token,
        ids: vec![alert_id.to_owned()],
        digest: false,
        at_ms,
        taken_over,
    };
    // Only while the alert exists: a user deleted meanwhile leaves no row behind.
    let sql = format!(
        "{} INTO sent_alerts (alert_id, outcome, handled_at_ms, claim_token, lease_until_ms) \
         SELECT alert_id, 'sending', ?, ?, ? FROM alerts WHERE alert_id = ?",
        backend.insert_ignore()
    );
    let query = sqlx::query(&sql)
        .bind(now_ms)
        .bind(token)
        .bind(until)
        .bind(alert_id);
    if run(pool, query, "claim an alert").await? == 1 {
        return Ok(Some(claim(now_ms, false)));
    }
    // A row was there: a claim whose lease ran out is taken over, by compare-and-set on its
    // token and lease, so that of two notify processes taking it over at once one does, and
    // none takes a claim its sender has just renewed. A digest's claim is the digest's.
    let row: Option<(String, i64, Option<i64>, Option<i64>)> = sqlx::query_as(
        "SELECT outcome, handled_at_ms, claim_token, lease_until_ms FROM sent_alerts \
         WHERE alert_id = ? AND due_at_ms IS NULL",
    )
    .bind(alert_id)
    .fetch_optional(pool)
    .await
    .map_err(|e| Error::db("read an alert's claim", e))?;
    let Some((outcome, claimed_at, Some(old), Some(old_until))) = row else {
        return Ok(None);
    };
    if outcome != "sending" || old_until >= now_ms {
        return Ok(None);
    }
    let query = sqlx::query(
        "UPDATE sent_alerts SET claim_token = ?, lease_until_ms = ? \
         WHERE alert_id = ? AND outcome = 'sending' AND claim_token = ? \
         AND lease_until_ms = ?",
    )
    .bind(token)
    .bind(until)
    .bind(alert_id)
    .bind(old)
    .bind(old_until);
    let taken = run(pool, query, "take over an alert's claim").await?;
    Ok((taken == 1).then(|| claim(claimed_at, true)))
}

/// Claims `email`'s alerts held until `as_of_ms` or earlier (and those of a digest whose claim
/// ran out), oldest first, at most `limit`. `None`: nothing is due that another digest has
/// not claimed.
pub async fn claim_digest(
    pool: &AnyPool,
    email: &str,
    as_of_ms: i64,
    now_ms: i64,
    lease: Duration,
    limit: u32,
) -> Result<Option<Claim>> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT a.alert_id FROM alerts a JOIN sent_alerts s ON s.alert_id = a.alert_id \
         WHERE a.email = ? AND s.due_at_ms <= ? \
         AND (s.outcome = 'held' OR (s.outcome = 'sending' AND s.lease_until_ms < ?)) \
         ORDER BY a.created_at_ms, a.alert_id LIMIT ?",
    )
    .bind(email)
    .bind(as_of_ms)
    .bind(now_ms)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(|e| Error::db("load held alerts", e))?;
    if ids.is_empty() {
        return Ok(None);
    }
    let token = new_token()?;
    let sql = format!(
        "UPDATE sent_alerts SET outcome = 'sending', claim_token = ?, lease_until_ms = ? \
         WHERE alert_id IN ({}) \
         AND (outcome = 'held' OR (outcome = 'sending' AND lease_until_ms < ?))",
        marks(ids.len())
    );
    let query = bind_ids(
        sqlx::query(&sql).bind(token).bind(lease_end(now_ms, lease)),
        &ids,
    );
    let claimed = run(pool, query.bind(now_ms), "claim held alerts").await?;
    let ids = if claimed == ids.len() as u64 {
        ids
    } else {
        // Another digest of the user claimed some in between: keep the rest, in order.
        let sql = format!(
            "SELECT alert_id FROM sent_alerts WHERE claim_token = ? AND alert_id IN ({})",
            marks(ids.len())
        );
        let mut query = sqlx::query_scalar::<_, String>(&sql).bind(token);
        for id in &ids {
            query = query.bind(id.as_str());
        }
        let mine = query
            .fetch_all(pool)
            .await
            .map_err(|e| Error::db("read claimed alerts", e))?;
        ids.into_iter().filter(|id| mine.contains(id)).collect()
    };
    Ok((!ids.is_empty()).then_some(Claim {
        token,
        ids,
        digest: true,
        at_ms: now_ms,
        taken_over: false,
    }))
}

/// Marks claims made before `started_ms` (by an earlier run of the one notify of `tickermesh
/// up`, which cannot be sending any more) as run out, so that this run takes them over at once.
pub async fn abandon_before<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    started_ms: i64,
    lease: Duration,
) -> Result<u64> {
    // Claims of this run end at `started_ms + lease` or later.
    let done = sqlx::query(
        "UPDATE sent_alerts SET lease_until_ms = 0 \
         WHERE outcome = 'sending' AND lease_until_ms < ?",
    )
    .bind(lease_end(started_ms, lease))
    .execute(ex)
    .await
    .map_err(|e| Error::db("release the claims of an earlier run", e))?;
    Ok(done.rows_affected())
}

impl Claim {
    /// The claimed alerts, oldest first.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// Extends the lease to `now_ms + lease`; false when the claim is not this process's any
    /// more (it ran out and another notify took it over: this one must not mail).
    pub async fn renew(&self, pool: &AnyPool, now_ms: i64, lease: Duration) -> Result<bool> {
        let sql = self.update("lease_until_ms = ?");
        let query = sqlx::query(&sql).bind(lease_end(now_ms, lease));
        let renewed = run(pool, self.bind_mine(query), "renew a claim").await?;
        Ok(renewed == self.ids.len() as u64)
    }

    /// Records what became of the claimed alerts (`due_at_ms`: when a held one is to be
    /// mailed); returns how many were still this claim's.
    pub async fn finish(
        &self,
        pool: &AnyPool,
        outcome: &str,
        detail: Option<&str>,
        due_at_ms: Option<i64>,
        now_ms: i64,
    ) -> Result<u64> {
        let sql = self.update(
            "outcome = ?, detail = ?, handled_at_ms = ?, due_at_ms = COALESCE(?, due_at_ms), \
             claim_token = NULL, lease_until_ms = NULL",
        );
        let query = sqlx::query(&sql)
            .bind(outcome)
            .bind(detail)
            .bind(now_ms)
            .bind(due_at_ms);
        run(pool, self.bind_mine(query), "record a handled alert").await
    }

    /// Gives the claim back when nothing was mailed: an alert's claim runs out at once (kept,
    /// with the instant of the first claim, so that the retry takes it over and knows a
    /// cooldown claimed for it), a digest's alerts are held again.
    pub async fn release(&self, pool: &AnyPool) -> Result<()> {
        let sql = self.update(if self.digest {
            "outcome = 'held', claim_token = NULL, lease_until_ms = NULL"
        } else {
            "lease_until_ms = 0"
        });
        let query = self.bind_mine(sqlx::query(&sql));
        run(pool, query, "give a claim back").await.map(|_| ())
    }

    /// `UPDATE … SET {set}` of this claim's rows; [`Claim::bind_mine`] binds what the rows are
    /// found by, after the values of `set`.
    fn update(&self, set: &str) -> String {
        format!(
            "UPDATE sent_alerts SET {set} \
             WHERE claim_token = ? AND outcome = 'sending' AND alert_id IN ({})",
            marks(self.ids.len())
        )
    }

    fn bind_mine<'q>(&'q self, query: AnyQuery<'q>) -> AnyQuery<'q> {
        bind_ids(query.bind(self.token), &self.ids)
    }
}

/// Runs a statement; returns the rows it matched.
async fn run(pool: &AnyPool, query: AnyQuery<'_>, context: &'static str) -> Result<u64> {
    query
        .execute(pool)
        .await
        .map(|done| done.rows_affected())
        .map_err(|e| Error::db(context, e))
}
