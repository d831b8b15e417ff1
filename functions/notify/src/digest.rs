//! The digest (`tickermesh.digest.due`): one e-mail listing a user's alerts held during their
//! quiet hours, once these are over. The alerts come from the table (held, due by the event's
//! time), so a repeated event finds none left and mails nothing; consent is checked again, as
//! the user may have unsubscribed since. Exactly the alerts listed are then marked sent.

use std::sync::LazyLock;

use prometheus::IntCounterVec;
use tickermesh_core::store::sending::{self, Claim};
use tickermesh_core::store::{alerts, deliveries};
use tickermesh_core::{now_unix_ms, Error, Result};

use crate::delivery::consent;
use crate::message::digest_message;
use crate::{Notifier, SendError};

static DIGESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    tickermesh_core::metrics::counter_vec(
        "tickermesh_digests_total",
        "Digest e-mails of alerts held during quiet hours, by outcome (sent, nothing_due: a \
         repeated or late event, suppressed: the user unsubscribed or is gone since, \
         failed_permanent: refused by the mail server, its alerts dead-lettered).",
        &["outcome"],
    )
});

const OUTCOMES: [&str; 4] = ["sent", "nothing_due", "suppressed", "failed_permanent"];

/// The most alerts one digest lists; more wait for the next digest (a minute later).
pub const DIGEST_LIMIT: u32 = 200;

pub(crate) fn init() {
    tickermesh_core::metrics::export_at_zero(&DIGESTS, &OUTCOMES);
}

/// What a digest did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DigestOutcome {
    /// One e-mail listing this many alerts.
    Sent(usize),
    NothingDue,
    Suppressed(&'static str),
    DeadLettered(String),
}

impl Notifier {
    /// Mails `email` the alerts held for them until `as_of_ms`, in one e-mail, once. A mail
    /// server that cannot be reached is an error (the event is delivered again); a refused
    /// message dead-letters the alerts it listed.
    pub async fn mail_digest(&self, email: &str, as_of_ms: i64) -> Result<DigestOutcome> {
        // Two digests of one user in this process: the second finds the alerts sent. Across
        // processes the claim decides: the second finds them claimed, hence nothing due.
        let _only_one = self.digesting.lock(email).await;
        let pool = self.store.pool();
        let claimed = sending::claim_digest(
            pool,
            email,
            as_of_ms,
            now_unix_ms(),
            self.lease,
            DIGEST_LIMIT,
        );
        let Some(claim) = claimed.await? else {
            DIGESTS.with_label_values(&["nothing_due"]).inc();
            return Ok(DigestOutcome::NothingDue);
        };
        let mailed = self.mail_claimed_digest(email, &claim).await;
        if mailed.is_err() {
            // Held again: the retry claims them at once.
            if let Err(e) = claim.release(pool).await {
                tracing::warn!(error = %e, "a digest's claim could not be given back; its alerts wait for it to run out");
            }
        }
        mailed
    }

    async fn mail_claimed_digest(&self, email: &str, claim: &Claim) -> Result<DigestOutcome> {
        let pool = self.store.pool();
        let ids = claim.ids();
        let recipient = deliveries::recipient(pool, email, None).await?;
        let recipient = match consent(recipient.as_ref()) {
            Ok(r) => r,
            Err(reason) => {
                claim
                    .finish(pool, "suppressed", Some(reason), None, now_unix_ms())
                    .await?;
                DIGESTS.with_label_values(&["suppressed"]).inc();
                return Ok(DigestOutcome::Suppressed(reason));
            }
        };
        let mut held = Vec::with_capacity(ids.len());
        for id in ids {
            // Read as every alert is read, from the one source of truth.
            if let Some(stored) = alerts::find(pool, id).await? {
                held.push(stored.alert);
            }
        }
        let unsubscribe = self.unsubscribe_link(recipient.user_id, email);
        let sent = match digest_message(&self.from, email, &held, unsubscribe.as_ref()) {
            Ok(message) => self.deliver(message, Some(claim)).await,
            Err(reason) => Err(SendError::Permanent(reason)),
        };
        let (outcome, stored, detail) = match sent {
            Ok(()) => (DigestOutcome::Sent(held.len()), "sent", "digest".to_owned()),
            Err(SendError::Unavailable(reason)) => {
                return Err(Error::Mail(format!("digest not sent yet: {reason}")));
            }
            Err(SendError::Permanent(reason) | SendError::Transient(reason)) => {
                tracing::error!(%reason, alerts = ids.len(), "a digest e-mail was not delivered; its alerts dead-lettered");
                let detail: String = format!("digest: {reason}").chars().take(900).collect();
                (DigestOutcome::DeadLettered(reason), "dead_letter", detail)
            }
        };
        self.record_mailed(claim, stored, Some(&detail)).await;
        let label = match outcome {
            DigestOutcome::Sent(_) => "sent",
            _ => "failed_permanent",
        };
        DIGESTS.with_label_values(&[label]).inc();
        Ok(outcome)
    }
}
