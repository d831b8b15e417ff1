//! The notify function: for each `tickermesh.threshold.crossed` event, one e-mail to the user
//! (Subject: the ticker; body: which threshold, the price and the time).
//!
//! Each handled alert id is recorded, so a redelivered alert sends no second e-mail. A
//! transient SMTP failure is retried (the event is not acknowledged until sent); a permanent
//! one is counted and dead-lettered (recorded with its reason), never retried forever.

pub mod config;
pub mod mailer;

use std::sync::{Arc, LazyLock};

use cloudevents::Event;
use lettre::message::{header::ContentType, Mailbox};
use lettre::Message;
use prometheus::IntCounterVec;
use tickermesh_core::events::{
    humantime_rfc3339, Direction, EventHandler, HandleError, ThresholdCrossed,
};
use tickermesh_core::store::alerts;
use tickermesh_core::store::Store;
use tickermesh_core::{now_unix_ms, Error, Result};

pub use config::MailSettings;
pub use mailer::{MailConfig, Mailer, SendError};

static EMAILS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    tickermesh_core::metrics::counter_vec(
        "tickermesh_emails_total",
        "Alert e-mails, by outcome (sent, duplicate, failed_transient, failed_permanent).",
        &["outcome"],
    )
});

/// What happened to one alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    /// Already handled: a redelivery.
    Duplicate,
    /// Refused for good; recorded with the reason.
    DeadLettered(String),
}

pub struct Notifier {
    store: Store,
    mailer: Mailer,
    from: Mailbox,
}

/// The e-mail for an alert: To the user, Subject the ticker.
pub fn message(from: &Mailbox, alert: &ThresholdCrossed) -> std::result::Result<Message, String> {
    let to: Mailbox = alert
        .email
        .parse()
        .map_err(|e| format!("recipient {:?}: {e}", alert.email))?;
    let (verb, bound) = match alert.direction {
        Direction::Above => ("rose above", "maximum"),
        Direction::Below => ("fell below", "minimum"),
    };
    // Lines under 76 characters keep the body plain 7-bit text (no quoted-printable folds).
    let mut body = format!(
        "{ticker} {verb} your {bound} of {threshold:.2} {currency}.\n\
         Price: {price:.2} {currency} at {time}.\n",
        ticker = alert.ticker,
        threshold = alert.threshold,
        currency = alert.currency,
        price = alert.price,
        time = humantime_rfc3339(alert.market_time_ms),
    );
    if alert.simulated {
        body.push_str("\nThis price comes from the simulated market, not an exchange.\n");
    }
    body.push_str(
        "\nYou get one e-mail per crossing; the next one comes\n\
         after the price has been back inside your range.\n",
    );
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(alert.ticker.clone())
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| e.to_string())
}

impl Notifier {
    pub fn new(store: Store, mailer: Mailer, from: Mailbox) -> Self {
        // An alert on failures then sees a series from the start.
        tickermesh_core::metrics::export_at_zero(
            &EMAILS,
            &["sent", "duplicate", "failed_transient", "failed_permanent"],
        );
        Self {
            store,
            mailer,
            from,
        }
    }

    pub async fn notify(&self, alert: &ThresholdCrossed) -> Result<Outcome> {
        if alerts::handled(self.store.pool(), &alert.alert_id)
            .await?
            .is_some()
        {
            EMAILS.with_label_values(&["duplicate"]).inc();
            return Ok(Outcome::Duplicate);
        }
        let outcome = match message(&self.from, alert) {
            Err(reason) => Err(SendError::Permanent(reason)),
            Ok(message) => self.mailer.send(message).await,
        };
        let (label, recorded, detail) = match outcome {
            Ok(()) => ("sent", Outcome::Sent, None),
            Err(SendError::Transient(reason)) => {
                EMAILS.with_label_values(&["failed_transient"]).inc();
                return Err(Error::Mail(format!("not sent yet: {reason}")));
            }
            Err(SendError::Permanent(reason)) => {
                tracing::error!(alert = %alert.alert_id, %reason, "alert e-mail refused; dead-lettered");
                (
                    "failed_permanent",
                    Outcome::DeadLettered(reason.clone()),
                    Some(reason),
                )
            }
        };
        let stored = if recorded == Outcome::Sent {
            "sent"
        } else {
            "dead_letter"
        };
        // The column holds 1000 characters; a refusal's first line says enough.
        let detail: Option<String> = detail.map(|d| d.chars().take(900).collect());
        alerts::record_handled(
            self.store.pool(),
            self.store.backend(),
            &alert.alert_id,
            stored,
            detail.as_deref(),
            now_unix_ms(),
        )
        .await?;
        EMAILS.with_label_values(&[label]).inc();
        Ok(recorded)
    }
}

#[async_trait::async_trait]
impl EventHandler for Notifier {
    fn name(&self) -> &'static str {
        "notify"
    }

    async fn handle(&self, event: &Event) -> std::result::Result<(), HandleError> {
        let alert = ThresholdCrossed::from_event(event)?;
        self.notify(&alert).await.map(drop).map_err(Into::into)
    }
}

/// The function's HTTP surface: CloudEvents on `POST /`, `/healthz`, `/metrics`.
pub fn router(notifier: Arc<Notifier>) -> tickermesh_core::server::Router {
    tickermesh_core::events::event_router(notifier)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(direction: Direction, simulated: bool) -> ThresholdCrossed {
        ThresholdCrossed {
            alert_id: "x".into(),
            email: "ada@example.com".into(),
            ticker: "AAPL".into(),
            price: 251.5,
            currency: "USD".into(),
            threshold: 250.0,
            direction,
            market_time_ms: 1_700_000_000_000,
            simulated,
        }
    }

    #[test]
    fn subject_is_the_ticker_and_body_says_what_happened() {
        let from: Mailbox = "tickermesh <alerts@example.com>".parse().unwrap();
        let m = message(&from, &alert(Direction::Above, true)).unwrap();
        let text = String::from_utf8(m.formatted()).unwrap();
        assert!(text.contains("Subject: AAPL"), "{text}");
        assert!(text.contains("To: ada@example.com"), "{text}");
        assert!(
            text.contains("AAPL rose above your maximum of 250.00 USD."),
            "{text}"
        );
        assert!(
            text.contains("Price: 251.50 USD at 2023-11-14T22:13:20.000Z."),
            "{text}"
        );
        assert!(text.contains("Content-Transfer-Encoding: 7bit"), "{text}");
        assert!(text.contains("simulated market"));
        let m = message(&from, &alert(Direction::Below, false)).unwrap();
        let text = String::from_utf8(m.formatted()).unwrap();
        assert!(text.contains("fell below your minimum"));
        assert!(!text.contains("simulated"));
    }

    #[test]
    fn a_bad_recipient_is_refused() {
        let from: Mailbox = "a@example.com".parse().unwrap();
        let mut a = alert(Direction::Above, false);
        a.email = "not an address".into();
        assert!(message(&from, &a).is_err());
    }
}
