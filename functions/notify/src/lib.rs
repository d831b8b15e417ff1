//! The notify function: for each `tickermesh.threshold.crossed` event, one e-mail to the user
//! (Subject: the ticker; body: which threshold, the price and the time).
//!
//! An event only names an alert; what is mailed is read from the alerts table, so a forged
//! event cannot mail anyone anything. Each handled alert id is recorded, so a redelivered
//! alert sends no second e-mail. A mail server that cannot be reached leaves the alert
//! unacknowledged (retried for as long as it takes); a message the server defers (4xx) is
//! tried a few times with backoff, then dead-lettered; a refused one (5xx, or an address the
//! server cannot take) is dead-lettered at once, with its reason. One alert's failure never
//! holds the others for longer than its own retries.

pub mod config;
pub mod mailer;
mod message;
mod smtp;

use std::sync::{Arc, LazyLock};

use cloudevents::Event;
use lettre::message::Mailbox;
use prometheus::IntCounterVec;
use tickermesh_core::events::{EventHandler, HandleError, ThresholdCrossed};
use tickermesh_core::store::alerts;
use tickermesh_core::store::Store;
use tickermesh_core::{now_unix_ms, Error, Result};

pub use config::{MailRetry, MailSettings};
pub use mailer::{MailConfig, Mailer, SendError};
pub use message::message;

static EMAILS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    tickermesh_core::metrics::counter_vec(
        "tickermesh_emails_total",
        "Alert e-mails, by outcome (sent, duplicate, failed_transient: an attempt deferred or \
         the server away, failed_permanent: dead-lettered, unknown: an event naming no stored \
         alert).",
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
}

pub struct Notifier {
    store: Store,
    mailer: Mailer,
    from: Mailbox,
    retry: MailRetry,
}

/// Outcomes of an alert e-mail, exported at zero from the start so that an alert on failures
/// sees a series before the first one.
const OUTCOMES: [&str; 5] = [
    "sent",
    "duplicate",
    "failed_transient",
    "failed_permanent",
    "unknown",
];

impl Notifier {
    pub fn new(store: Store, mailer: Mailer, from: Mailbox) -> Self {
        tickermesh_core::metrics::export_at_zero(&EMAILS, &OUTCOMES);
        Self {
            store,
            mailer,
            from,
            retry: MailRetry::default(),
        }
    }

    /// How often a deferred (4xx) message is tried before it is dead-lettered.
    pub fn with_retry(self, retry: MailRetry) -> Self {
        Self { retry, ..self }
    }

    /// Mails the stored alert `alert_id` once. What is sent comes from the alerts table, the
    /// source of truth, never from the event that named the alert.
    pub async fn notify(&self, alert_id: &str) -> Result<Outcome> {
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
        let (recorded, detail) = match self.send(&alert).await {
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

    /// Sends the alert's e-mail; a deferred one is tried again, with backoff, up to the
    /// configured attempts.
    async fn send(&self, alert: &ThresholdCrossed) -> std::result::Result<(), SendError> {
        let message = message(&self.from, alert).map_err(SendError::Permanent)?;
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

    async fn handle(&self, event: &Event) -> std::result::Result<(), HandleError> {
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
