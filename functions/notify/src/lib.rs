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
//! one alert's retries never hold the others; two deliveries of one alert are never handled
//! at the same time in a process.

mod access_mail;
pub mod config;
pub mod mailer;
mod message;
mod smtp;

use std::sync::{Arc, LazyLock};

use cloudevents::Event;
use lettre::message::Mailbox;
use prometheus::IntCounterVec;
use tickermesh_core::events::keyed::KeyedLocks;
use tickermesh_core::events::{
    AccessCodeRequested, EventHandler, HandleError, ThresholdCrossed, ACCESS_CODE,
};
use tickermesh_core::signing::SigningKey;
use tickermesh_core::store::Store;
use tickermesh_core::store::{alerts, users};
use tickermesh_core::{now_unix_ms, Error, Result};

pub use config::{MailRetry, MailSettings, DEFAULT_MAIL_CONCURRENCY};
pub use mailer::{MailConfig, Mailer, SendError};
pub use message::{
    alert_message, confirmation_message, message, Confirmation, ConfirmationPurpose, LinkSettings,
    PublicUrl, Unsubscribe,
};

static EMAILS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    tickermesh_core::metrics::counter_vec(
        "tickermesh_emails_total",
        "Alert e-mails, by outcome (sent, duplicate, failed_transient: an attempt deferred or \
         the server away, failed_permanent: dead-lettered, suppressed: the address is not \
         confirmed, unsubscribed or gone, unknown: an event naming no stored alert).",
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
}

pub struct Notifier {
    store: Store,
    mailer: Mailer,
    from: Mailbox,
    retry: MailRetry,
    concurrency: usize,
    /// The alerts being handled now: a second delivery of one (the outbox publishes again
    /// what a stopped evaluate had not marked published) waits for the first, then finds it
    /// handled, instead of mailing it at the same time.
    handling: KeyedLocks,
    /// Derives access codes and signs unsubscribe links; without it no code can be mailed.
    key: Option<SigningKey>,
    /// Where unsubscribe links point; without them alert e-mails carry none.
    links: Option<LinkSettings>,
}

/// Outcomes of an alert e-mail, exported at zero from the start so that an alert on failures
/// sees a series before the first one.
const OUTCOMES: [&str; 6] = [
    "sent",
    "duplicate",
    "failed_transient",
    "failed_permanent",
    "suppressed",
    "unknown",
];

impl Notifier {
    pub fn new(store: Store, mailer: Mailer, from: Mailbox) -> Self {
        tickermesh_core::metrics::export_at_zero(&EMAILS, &OUTCOMES);
        access_mail::init();
        Self {
            store,
            mailer,
            from,
            retry: MailRetry::default(),
            concurrency: 1,
            handling: KeyedLocks::new(),
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

    /// Mails the stored alert `alert_id` once. What is sent comes from the alerts table, the
    /// source of truth, never from the event that named the alert.
    pub async fn notify(&self, alert_id: &str) -> Result<Outcome> {
        let _only_one = self.handling.lock(alert_id).await;
        let pool = self.store.pool();
        let Some(stored) = alerts::find(pool, alert_id).await? else {
            EMAILS.with_label_values(&["unknown"]).inc();
            tracing::warn!(alert = %alert_id, "an event names an alert that was never stored; refused");
            return Ok(Outcome::Unknown);
        };
        if stored.handled {
            EMAILS.with_label_values(&["duplicate"]).inc();
            return Ok(Outcome::Duplicate);
        }
        let alert = stored.alert;
        // Consent is checked at the last moment: an address unconfirmed or unsubscribed since
        // the alert was made gets nothing.
        let recipient = users::recipient(pool, &alert.email).await?;
        let unsubscribe = match &recipient {
            None => Err("the user is gone"),
            Some(r) if !r.confirmed => Err("the address is not confirmed"),
            Some(r) if r.unsubscribed => Err("the user unsubscribed"),
            Some(r) => Ok(match (&self.key, &self.links) {
                (Some(key), Some(links)) => Some(links.unsubscribe(key, r.user_id, &alert.email)),
                _ => None,
            }),
        };
        let unsubscribe = match unsubscribe {
            Ok(link) => link,
            Err(reason) => {
                let now = now_unix_ms();
                let backend = self.store.backend();
                alerts::record_handled(pool, backend, alert_id, "suppressed", Some(reason), now)
                    .await?;
                EMAILS.with_label_values(&["suppressed"]).inc();
                return Ok(Outcome::Suppressed(reason));
            }
        };
        let (recorded, detail) = match self.send(&alert, unsubscribe.as_ref()).await {
            Ok(()) => (Outcome::Sent, None),
            Err(SendError::Unavailable(reason)) => {
                EMAILS.with_label_values(&["failed_transient"]).inc();
                return Err(Error::Mail(format!("not sent yet: {reason}")));
            }
            Err(SendError::Permanent(reason) | SendError::Transient(reason)) => {
                tracing::error!(alert = %alert_id, %reason, "alert e-mail not delivered; dead-lettered");
                (Outcome::DeadLettered(reason.clone()), Some(reason))
            }
        };
        let (label, stored) = match recorded {
            Outcome::Sent => ("sent", "sent"),
            _ => ("failed_permanent", "dead_letter"),
        };
        // The column holds 1000 characters; a refusal's first line says enough.
        let detail: Option<String> = detail.map(|d| d.chars().take(900).collect());
        let backend = self.store.backend();
        let now = now_unix_ms();
        alerts::record_handled(pool, backend, alert_id, stored, detail.as_deref(), now).await?;
        EMAILS.with_label_values(&[label]).inc();
        Ok(recorded)
    }

    /// Delivers what an earlier process handed to the in-process bus before `before_ms` and
    /// never mailed: the bus keeps nothing across a stop or a crash, the alerts table does.
    /// Waits (retrying) while the mail server is away; returns how many were handled.
    pub async fn deliver_unhandled(&self, before_ms: i64) -> Result<usize> {
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
    ) -> std::result::Result<(), SendError> {
        let message =
            alert_message(&self.from, alert, unsubscribe).map_err(SendError::Permanent)?;
        self.deliver(message).await
    }

    /// Sends one e-mail; a deferred one is tried again, with backoff, up to the configured
    /// attempts.
    async fn deliver(&self, message: lettre::Message) -> std::result::Result<(), SendError> {
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
