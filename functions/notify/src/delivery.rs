//! How an alert that may be mailed goes out: not at all within its watch's cooldown (one
//! e-mail per period per watch, claimed in the database so that replicas agree), held during
//! the user's quiet hours (mailed in one digest when they end, see [`crate::digest`]), else
//! mailed at once.

use std::time::Duration;

use tickermesh_core::domain::{QuietHours, ZoneName};
use tickermesh_core::events::{humantime_rfc3339, ThresholdCrossed};
use tickermesh_core::store::deliveries::{self, Recipient, Watch};
use tickermesh_core::store::sending::Claim;
use tickermesh_core::{now_unix_ms, Error, Result};

use crate::{Notifier, Outcome, SendError, Unsubscribe, EMAILS};

/// The watch (subscription) an alert id names: ids are `ticker/subscription/direction/time`.
/// `None` for an id of another shape.
pub(crate) fn watch_in_id(alert_id: &str) -> Option<i64> {
    let mut parts = alert_id.rsplitn(4, '/');
    let (_time, _direction, watch, ticker) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if ticker.is_empty() {
        return None;
    }
    watch.parse().ok()
}

/// What notify holds while it handles an alert: its watch, so that two alerts of one watch
/// (and two deliveries of one alert) are handled one after the other; the alert itself when
/// its id names no watch.
pub(crate) fn lock_key(alert_id: &str) -> String {
    match watch_in_id(alert_id) {
        Some(watch) => format!("watch/{watch}"),
        None => format!("alert/{alert_id}"),
    }
}

/// The recipient, if alerts may be mailed to them; else why not (recorded as "suppressed").
pub(crate) fn consent(
    recipient: Option<&Recipient>,
) -> std::result::Result<&Recipient, &'static str> {
    match recipient {
        None => Err("the user is gone"),
        Some(r) if !r.confirmed => Err("the address is not confirmed"),
        Some(r) if r.unsubscribed => Err("the user unsubscribed"),
        Some(r) => Ok(r),
    }
}

/// The detail recorded with an alert not mailed for its watch's cooldown.
pub(crate) fn cooldown_detail(cooldown_ms: i64) -> String {
    let period = Duration::from_secs(u64::try_from(cooldown_ms / 1000).unwrap_or(0));
    format!(
        "cooldown: one alert per {} for this watch",
        humantime::format_duration(period)
    )
}

/// When the recipient's quiet hours end, if `now_ms` is inside them. Stored settings that do
/// not parse (written by no version of tickermesh) hold nothing: the alert is mailed.
pub(crate) fn hold_until(recipient: &Recipient, now_ms: i64) -> Option<i64> {
    let quiet = QuietHours::from_stored(recipient.quiet_start_min, recipient.quiet_end_min)
        .inspect_err(
            |e| tracing::warn!(user = recipient.user_id, error = %e, "quiet hours ignored"),
        )
        .ok()??;
    let zone = ZoneName::parse("time_zone", &recipient.time_zone)
        .inspect_err(
            |e| tracing::warn!(user = recipient.user_id, error = %e, "time zone taken as UTC"),
        )
        .unwrap_or_default();
    quiet.hold_until(&zone, now_ms)
}

impl Notifier {
    /// Delivers a claimed alert whose recipient consents: the cooldown, then the quiet hours,
    /// then the e-mail. A claim on the cooldown is given back when the alert must be delivered
    /// again (the mail server away, the database failing), so that the retry finds it free,
    /// and when the mail server refused the e-mail for good.
    pub(crate) async fn deliver_consented(
        &self,
        alert: &ThresholdCrossed,
        recipient: &Recipient,
        unsubscribe: Option<&Unsubscribe>,
        claim: &Claim,
    ) -> Result<Outcome> {
        let pool = self.store.pool();
        // The cooldown is claimed at the instant of the alert's first claim, so that a notify
        // taking the alert over (from one that stopped, or after a failure) knows a cooldown
        // claimed for it.
        let now = claim.at_ms;
        let claimed = match recipient.watch {
            Some(watch) if watch.cooldown_ms > 0 => {
                if claim.taken_over && watch.last_mailed_at_ms == Some(now) {
                    // Claimed for this alert by an earlier attempt. Never given back (what it
                    // replaced is not known any more): a retry finds it its own again, and
                    // after a refused e-mail the watch waits out the cooldown.
                    None
                } else if deliveries::claim_cooldown(pool, watch.id, now).await? {
                    Some(watch)
                } else {
                    let detail = cooldown_detail(watch.cooldown_ms);
                    claim
                        .finish(pool, "cooldown", Some(detail.as_str()), None, now_unix_ms())
                        .await?;
                    EMAILS.with_label_values(&["cooldown"]).inc();
                    return Ok(Outcome::Cooldown);
                }
            }
            _ => None,
        };
        let result = self
            .hold_or_send(alert, recipient, unsubscribe, claim, now)
            .await;
        // Given back when nothing reached the user: the alert must be delivered again, or the
        // mail server refused it for good (the watch's next alert may then be mailed).
        let mailed_nothing = matches!(&result, Err(_) | Ok(Outcome::DeadLettered(_)));
        if let (true, Some(watch)) = (mailed_nothing, claimed) {
            self.release(watch, now).await;
        }
        result
    }

    async fn hold_or_send(
        &self,
        alert: &ThresholdCrossed,
        recipient: &Recipient,
        unsubscribe: Option<&Unsubscribe>,
        claim: &Claim,
        now: i64,
    ) -> Result<Outcome> {
        let pool = self.store.pool();
        if let Some(until_ms) = hold_until(recipient, now) {
            let detail = format!("quiet hours until {}", humantime_rfc3339(until_ms));
            claim
                .finish(pool, "held", Some(&detail), Some(until_ms), now_unix_ms())
                .await?;
            EMAILS.with_label_values(&["held"]).inc();
            return Ok(Outcome::Held { until_ms });
        }
        let (recorded, detail) = match self.send(alert, unsubscribe, claim).await {
            Ok(()) => (Outcome::Sent, None),
            Err(SendError::Unavailable(reason)) => {
                EMAILS.with_label_values(&["failed_transient"]).inc();
                return Err(Error::Mail(format!("not sent yet: {reason}")));
            }
            Err(SendError::Permanent(reason) | SendError::Transient(reason)) => {
                tracing::error!(alert = %alert.alert_id, %reason, "alert e-mail not delivered; dead-lettered");
                (Outcome::DeadLettered(reason.clone()), Some(reason))
            }
        };
        let (label, stored) = match recorded {
            Outcome::Sent => ("sent", "sent"),
            _ => ("failed_permanent", "dead_letter"),
        };
        // The column holds 1000 characters; a refusal's first line says enough.
        let detail: Option<String> = detail.map(|d| d.chars().take(900).collect());
        self.record_mailed(claim, stored, detail.as_deref()).await;
        EMAILS.with_label_values(&[label]).inc();
        Ok(recorded)
    }

    /// Records what became of an e-mail that went out (or was refused). A database failing
    /// now is retried here until the record is written, renewing the claim meanwhile where it
    /// can: giving up would give the claim (and the cooldown) back, and the retry of the event
    /// would mail the alert again. A claim that ran out meanwhile and was taken over is only
    /// logged: the e-mail went out, and the other notify mails it again (a duplicate, not a
    /// loss).
    pub(crate) async fn record_mailed(&self, claim: &Claim, outcome: &str, detail: Option<&str>) {
        let pool = self.store.pool();
        let mut delays = tickermesh_core::events::redelivery_delays();
        loop {
            match claim
                .finish(pool, outcome, detail, None, now_unix_ms())
                .await
            {
                Ok(n) if n < claim.ids().len() as u64 => {
                    tracing::warn!(alerts = ?claim.ids(), "an e-mail went out after its claim ran out");
                    return;
                }
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "a mailed alert could not be recorded yet");
                    let delay = delays.next().unwrap_or(std::time::Duration::from_secs(30));
                    tokio::time::sleep(delay).await;
                    let renewed = claim.renew(pool, now_unix_ms(), self.lease).await;
                    if let Err(e) = renewed {
                        tracing::debug!(error = %e, "a claim could not be renewed");
                    }
                }
            }
        }
    }

    /// Gives back a cooldown claim; a failure is only logged (the alert waits out the
    /// cooldown instead).
    async fn release(&self, watch: Watch, claimed_at_ms: i64) {
        let released = deliveries::release_cooldown(
            self.store.pool(),
            watch.id,
            claimed_at_ms,
            watch.last_mailed_at_ms,
        )
        .await;
        if let Err(e) = released {
            tracing::warn!(watch = watch.id, error = %e, "a cooldown claim could not be given back");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watch_is_read_from_the_alert_id() {
        let cases: &[(&str, Option<i64>)] = &[
            ("AAPL/42/above/1700000000000", Some(42)),
            ("BRK.B/7/down/1", Some(7)),
            // A symbol with a slash still leaves the last three parts.
            ("A/B/9/up/1", Some(9)),
            ("a-1", None),
            ("AAPL/x/above/1", None),
            ("/42/above/1", None),
            ("42/above/1", None),
        ];
        for (id, want) in cases {
            assert_eq!(watch_in_id(id), *want, "{id}");
        }
        assert_eq!(lock_key("AAPL/42/above/1"), lock_key("MSFT/42/below/2"));
        assert_ne!(lock_key("AAPL/42/above/1"), lock_key("AAPL/43/above/1"));
        assert_eq!(lock_key("a-1"), "alert/a-1");
    }

    fn recipient(confirmed: bool, unsubscribed: bool) -> Recipient {
        Recipient {
            user_id: 1,
            confirmed,
            unsubscribed,
            time_zone: "UTC".into(),
            quiet_start_min: None,
            quiet_end_min: None,
            watch: None,
        }
    }

    #[test]
    fn consent_is_confirmed_and_not_unsubscribed() {
        let ok = recipient(true, false);
        assert!(consent(Some(&ok)).is_ok());
        assert_eq!(consent(None), Err("the user is gone"));
        assert_eq!(
            consent(Some(&recipient(false, false))),
            Err("the address is not confirmed")
        );
        assert_eq!(
            consent(Some(&recipient(true, true))),
            Err("the user unsubscribed")
        );
    }

    #[test]
    fn the_cooldown_detail_names_the_period() {
        assert_eq!(
            cooldown_detail(3_600_000),
            "cooldown: one alert per 1h for this watch"
        );
        assert_eq!(
            cooldown_detail(5_400_000),
            "cooldown: one alert per 1h 30m for this watch"
        );
        assert_eq!(
            cooldown_detail(90_000),
            "cooldown: one alert per 1m 30s for this watch"
        );
    }

    #[test]
    fn held_during_the_quiet_hours_in_the_users_zone() {
        // 2026-11-27T23:10:00Z.
        let now = 1_795_821_000_000;
        let mut r = recipient(true, false);
        assert_eq!(hold_until(&r, now), None, "no quiet hours");
        (r.quiet_start_min, r.quiet_end_min) = (Some(22 * 60), Some(7 * 60));
        // 07:00 UTC the next morning.
        assert_eq!(hold_until(&r, now), Some(1_795_849_200_000));
        r.time_zone = "Asia/Tokyo".into();
        assert_eq!(hold_until(&r, now), None, "08:10 in Tokyo: outside");
        r.time_zone = "Mars/Olympus".into();
        assert_eq!(
            hold_until(&r, now),
            Some(1_795_849_200_000),
            "an unknown zone is UTC"
        );
        (r.quiet_start_min, r.quiet_end_min) = (Some(5000), Some(60));
        assert_eq!(
            hold_until(&r, now),
            None,
            "bounds that do not parse hold nothing"
        );
    }
}
