//! The notify function: for each `tickermesh.threshold.crossed` event, one e-mail to the user
//! (Subject: the ticker; body: which threshold, the price and the time).
//!
//! An event only names an alert; what is mailed is read from the alerts table, so a forged
//! event cannot mail anyone anything. Each handled alert id is recorded, so a redelivered
//! alert sends no second e-mail. A mail server that cannot be reached leaves the alert
//! unacknowledged (retried for as long as it takes); a message the server defers (4xx) is
//! tried a few times with backoff, then dead-lettered; a refused one (5xx, or an address the
//! server cannot take) is dead-lettered at once, with its reason. A consumer hands over up to
//! `TICKERMESH_MAIL_CONCURRENCY` alerts at once, each on its own pooled SMTP connection, so
//! one alert's retries never hold the others; two alerts of one watch (or two deliveries of
//! one alert) are never handled at the same time in a process; across processes an alert is
//! claimed in the database before it is mailed (`store::sending`), so that a second notify
//! (after a rebalance, or a second digest of the user) waits instead of mailing it again.
//!
//! Beyond consent, a watch's cooldown and the user's quiet hours decide whether an alert is
//! mailed now, not at all, or later in a digest ([`delivery`], [`digest`]).

mod access_mail;
pub mod config;
mod delivery;
mod digest;
pub mod mailer;
mod message;
mod smtp;

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use cloudevents::Event;
use lettre::message::Mailbox;
use prometheus::IntCounterVec;
use tickermesh_core::events::keyed::KeyedLocks;
use tickermesh_core::events::{
    AccessCodeRequested, DigestDue, EventHandler, HandleError, ThresholdCrossed, ACCESS_CODE,
    DIGEST_DUE,
};
use tickermesh_core::signing::SigningKey;
use tickermesh_core::store::alerts;
use tickermesh_core::store::sending::{self, Claim};
use tickermesh_core::store::Store;
use tickermesh_core::{now_unix_ms, Error, Result};

pub use config::{MailRetry, MailSettings, DEFAULT_MAIL_CONCURRENCY, DEFAULT_MAIL_LEASE};
pub use digest::{DigestOutcome, DIGEST_LIMIT};
pub use mailer::{MailConfig, Mailer, SendError};
pub use message::{
    alert_message, confirmation_message, digest_message, message, Confirmation,
    ConfirmationPurpose, LinkSettings, PublicUrl, Unsubscribe,
};

static EMAILS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    tickermesh_core::metrics::counter_vec(
        "tickermesh_emails_total",
        "Alert e-mails, by outcome (sent, duplicate, failed_transient: an attempt deferred or \
         the server away, failed_permanent: dead-lettered, suppressed: the address is not \
         confirmed, unsubscribed or gone, cooldown: the watch was mailed within its cooldown, \
         held: kept for the digest at the end of the quiet hours, unknown: an event naming no \
         stored alert, claimed: being mailed by another notify, tried again later).",
        &["outcome"],
    )
});

/// What happened to one alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    /// Already handled: a redelivery.
    Duplicate,
    /// Not delivered (refused, or deferred past the last attempt); recorded with the reason.
    DeadLettered(String),
    /// No alert with this id was ever stored: the event is refused.
    Unknown,
    /// Not mailed, by the user's choice or for want of consent: the address is not confirmed,
    /// its owner unsubscribed, or the user is gone. Recorded with the reason.
    Suppressed(&'static str),
    /// Not mailed: another alert of its watch was mailed within the watch's cooldown.
    Cooldown,
    /// Kept for the digest mailed when the user's quiet hours end, at `until_ms`.
    Held {
        until_ms: i64,
    },
}

pub struct Notifier {
    store: Store,
    mailer: Mailer,
    from: Mailbox,
    retry: MailRetry,
    concurrency: usize,
    /// How long a claim on an alert being mailed holds unless renewed.
    lease: Duration,
    /// The watches whose alerts are being handled now: a second delivery of one alert (the
    /// outbox publishes again what a stopped evaluate had not marked published) waits for the
    /// first, then finds it handled, instead of mailing it at the same time; a second alert of
    /// the watch waits too, then finds the watch's cooldown claimed.
    handling: KeyedLocks,
    /// The users whose digest is being mailed now.
    digesting: KeyedLocks,
    /// Derives access codes and signs unsubscribe links; without it no code can be mailed.
    key: Option<SigningKey>,
    /// Where unsubscribe links point; without them alert e-mails carry none.
    links: Option<LinkSettings>,
}

/// Outcomes of an alert e-mail, exported at zero from the start so that an alert on failures
/// sees a series before the first one.
const OUTCOMES: [&str; 9] = [
    "sent",
    "duplicate",
    "failed_transient",
    "failed_permanent",
    "suppressed",
    "cooldown",
    "held",
    "unknown",
    "claimed",
];

impl Notifier {
    pub fn new(store: Store, mailer: Mailer, from: Mailbox) -> Self {
        tickermesh_core::metrics::export_at_zero(&EMAILS, &OUTCOMES);
        access_mail::init();
        digest::init();
        Self {
            store,
            mailer,
            from,
            retry: MailRetry::default(),
            concurrency: 1,
            lease: DEFAULT_MAIL_LEASE,
            handling: KeyedLocks::new(),
            digesting: KeyedLocks::new(),
            key: None,
            links: None,
        }
        .with_concurrency(DEFAULT_MAIL_CONCURRENCY)
    }

    /// How many alerts a consumer hands over at once (at least 1); the SMTP pool keeps as
    /// many connections, so each alert in flight has one.
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self.mailer.keep_idle(self.concurrency);
        self
    }

    /// The signing key (access codes, unsubscribe links) and the public URL of the links.
    pub fn with_access(self, key: SigningKey, links: Option<LinkSettings>) -> Self {
        Self {
            key: Some(key),
            links,
            ..self
        }
    }

    /// How often a deferred (4xx) message is tried before it is dead-lettered.
    pub fn with_retry(self, retry: MailRetry) -> Self {
        Self { retry, ..self }
    }

    /// How long a claim on an alert being mailed holds unless renewed (every third of it while
    /// the e-mail is being sent): another notify mails the alert once it has run out, so it is
    /// also how long the alerts of a killed notify wait.
    pub fn with_lease(self, lease: Duration) -> Self {
        Self { lease, ..self }
    }

    /// Mails the stored alert `alert_id` once (or holds it, or not at all: see
    /// [`delivery`]). What is sent comes from the alerts table, the source of truth, never from
    /// the event that named the alert.
    pub async fn notify(&self, alert_id: &str) -> Result<Outcome> {
        let _only_one = self.handling.lock(&delivery::lock_key(alert_id)).await;
        let (pool, backend) = (self.store.pool(), self.store.backend());
        // Claimed first: on the common path (a new alert) the claim is the only extra write,
        // and the alert and its recipient are then read together.
        let claimed = sending::claim_alert(pool, backend, alert_id, now_unix_ms(), self.lease);
        let Some(claim) = claimed.await? else {
            return self.not_claimed(alert_id).await;
        };
        let handled = self.handle_claimed(alert_id, &claim).await;
        if handled.is_err() {
            // Nothing was recorded: the retry claims the alert at once.
            if let Err(e) = claim.release(pool).await {
                tracing::warn!(alert = %alert_id, error = %e, "a claim on an alert could not be given back; the retry waits for it to run out");
            }
        }
        handled
    }

    /// Why an alert could not be claimed: it was never stored, or it was handled already, or
    /// another notify is mailing it (then it is tried again later).
    async fn not_claimed(&self, alert_id: &str) -> Result<Outcome> {
        match alerts::find(self.store.pool(), alert_id).await? {
            None => {
                EMAILS.with_label_values(&["unknown"]).inc();
                tracing::warn!(alert = %alert_id, "an event names an alert that was never stored; refused");
                Ok(Outcome::Unknown)
            }
            Some(stored) if stored.handled => {
                EMAILS.with_label_values(&["duplicate"]).inc();
                Ok(Outcome::Duplicate)
            }
            Some(_) => {
                EMAILS.with_label_values(&["claimed"]).inc();
                Err(Error::Aborted(format!(
                    "alert {alert_id} is being mailed by another notify; tried again when that \
                     one has recorded it or its claim has run out"
                )))
            }
        }
    }

    async fn handle_claimed(&self, alert_id: &str, claim: &Claim) -> Result<Outcome> {
        let pool = self.store.pool();
        // Consent is checked at the last moment: an address unconfirmed or unsubscribed since
        // the alert was made gets nothing. An alert that names no watch (made before alerts
        // named theirs) names it in its id.
        let watch = delivery::watch_in_id(alert_id);
        let Some((alert, recipient)) = alerts::find_with_recipient(pool, alert_id, watch).await?
        else {
            // Deleted with its user since the claim (which went with it).
            EMAILS.with_label_values(&["unknown"]).inc();
            return Ok(Outcome::Unknown);
        };
        let recipient = match delivery::consent(recipient.as_ref()) {
            Ok(r) => r,
            Err(reason) => {
                claim
                    .finish(pool, "suppressed", Some(reason), None, now_unix_ms())
                    .await?;
                EMAILS.with_label_values(&["suppressed"]).inc();
                return Ok(Outcome::Suppressed(reason));
            }
        };
        let unsubscribe = self.unsubscribe_link(recipient.user_id, &alert.email);
        self.deliver_consented(&alert, recipient, unsubscribe.as_ref(), claim)
            .await
    }

    /// The unsubscribe link of a user's e-mails, where this notify makes links.
    fn unsubscribe_link(&self, user_id: i64, email: &str) -> Option<Unsubscribe> {
        match (&self.key, &self.links) {
            (Some(key), Some(links)) => Some(links.unsubscribe(key, user_id, email)),
            _ => None,
        }
    }

    /// Delivers what an earlier process handed to the in-process bus before `before_ms` and
    /// never mailed: the bus keeps nothing across a stop or a crash, the alerts table does.
    /// Waits (retrying) while the mail server is away; returns how many were handled.
    pub async fn deliver_unhandled(&self, before_ms: i64) -> Result<usize> {
        // This run is the only notify of its store: what an earlier run claimed is not being
        // mailed by anyone.
        sending::abandon_before(self.store.pool(), before_ms, self.lease).await?;
        let ids = alerts::published_unhandled(self.store.pool(), before_ms).await?;
        for id in &ids {
            let mut delays = tickermesh_core::events::redelivery_delays();
            while let Err(e) = self.notify(id).await {
                tracing::warn!(alert = %id, error = %e, "an undelivered alert must wait");
                let delay = delays.next().unwrap_or(std::time::Duration::from_secs(30));
                tokio::time::sleep(delay).await;
            }
        }
        if !ids.is_empty() {
            tracing::info!(
                count = ids.len(),
                "alerts left undelivered by an earlier run handled"
            );
        }
        Ok(ids.len())
    }

    /// Sends the alert's e-mail, with its unsubscribe link where there is one.
    async fn send(
        &self,
        alert: &ThresholdCrossed,
        unsubscribe: Option<&Unsubscribe>,
        claim: &Claim,
    ) -> std::result::Result<(), SendError> {
        let message =
            alert_message(&self.from, alert, unsubscribe).map_err(SendError::Permanent)?;
        self.deliver(message, Some(claim)).await
    }

    /// Sends one e-mail; a deferred one is tried again, with backoff, up to the configured
    /// attempts. With a claim, the whole of it (attempts and the waits between them) holds
    /// the claim: it is renewed every third of the lease, so that a mail server that stalls or
    /// defers does not let the claim run out under a live sender (another notify would take
    /// the alert over and mail it too). A claim found lost stops the sending (dropping the
    /// connection before the message is accepted): the alert is delivered again.
    async fn deliver(
        &self,
        message: lettre::Message,
        claim: Option<&Claim>,
    ) -> std::result::Result<(), SendError> {
        let attempts = self.attempts(message);
        let Some(claim) = claim else {
            return attempts.await;
        };
        tokio::pin!(attempts);
        let every = (self.lease / 3).max(Duration::from_millis(100));
        loop {
            tokio::select! {
                sent = &mut attempts => return sent,
                () = tokio::time::sleep(every) => {
                    let renewed = claim.renew(self.store.pool(), now_unix_ms(), self.lease);
                    match renewed.await {
                        Ok(true) => {}
                        Ok(false) => {
                            return Err(SendError::Unavailable(
                                "the claim on it was lost while sending".into(),
                            ))
                        }
                        // The database away: the sending goes on (the claim may still hold).
                        Err(e) => tracing::warn!(error = %e, "a claim could not be renewed while sending"),
                    }
                }
            }
        }
    }

    /// The attempts at one message: a deferred one is tried again with backoff.
    async fn attempts(&self, message: lettre::Message) -> std::result::Result<(), SendError> {
        let mut delays = self.retry.delays();
        let mut attempts = 1;
        loop {
            match self.mailer.send(message.clone()).await {
                Err(SendError::Transient(reason)) => {
                    EMAILS.with_label_values(&["failed_transient"]).inc();
                    let Some(delay) = delays.next() else {
                        return Err(SendError::Transient(format!(
                            "gave up after {attempts} attempts: {reason}"
                        )));
                    };
                    tokio::time::sleep(delay).await;
                    attempts += 1;
                }
                other => return other,
            }
        }
    }
}

#[async_trait::async_trait]
impl EventHandler for Notifier {
    fn name(&self) -> &'static str {
        "notify"
    }

    /// Alerts are independent of each other (one e-mail per alert id, whatever the order),
    /// so they may be handled at once; the limit bounds the SMTP connections.
    fn concurrency(&self) -> usize {
        self.concurrency
    }

    async fn handle(&self, event: &Event) -> std::result::Result<(), HandleError> {
        use cloudevents::AttributesReader;
        if event.ty() == ACCESS_CODE {
            // The event names a code; its address comes from the table.
            let named = AccessCodeRequested::from_event(event)?;
            return Ok(self.mail_code(&named).await?);
        }
        if event.ty() == DIGEST_DUE {
            // The event names a user; what is mailed is what the table holds for them.
            let (due, as_of_ms) = DigestDue::from_event(event, now_unix_ms())?;
            self.mail_digest(&due.email, as_of_ms).await?;
            return Ok(());
        }
        // Only the id is taken from the event; the alert itself is read from the table.
        let named = ThresholdCrossed::from_event(event)?;
        match self.notify(&named.alert_id).await? {
            Outcome::Unknown => Err(HandleError::Invalid("no such alert was stored".into())),
            _ => Ok(()),
        }
    }
}

/// The function's HTTP surface: CloudEvents on `POST /`, `/healthz`, `/metrics`.
pub fn router(notifier: Arc<Notifier>) -> tickermesh_core::server::Router {
    tickermesh_core::events::event_router(notifier)
}
