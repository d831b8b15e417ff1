//! `ListAlerts`: the user's alerts, newest first, each with what became of its e-mail.
//!
//! Not cached: an alert's status changes as notify works (pending → sent, held → sent in the
//! digest), and a user who looks right after an e-mail should see it; one read of a short
//! index range costs little.
//!
//! A `ticker` the user does not watch (any more) is not an error: its past alerts are still
//! the user's, and a watch removed yesterday should not hide what it sent. None → empty list.

use tickermesh_api::v1::{AlertRecord, DeliveryStatus, ListAlertsResponse};
use tickermesh_core::domain::{Email, Ticker};
use tickermesh_core::store::history::{self, Handled, PastAlert};
use tickermesh_core::{Context, Error, Result};

/// The most alerts one call returns.
pub const MAX_LIMIT: u32 = 1000;

pub async fn list_alerts(
    ctx: &Context,
    email: Email,
    ticker: Option<Ticker>,
    limit: u32,
) -> Result<ListAlertsResponse> {
    let limit = checked_limit(limit)?;
    let alerts = history::list(ctx.store.pool(), &email, ticker.as_ref(), limit).await?;
    Ok(ListAlertsResponse {
        alerts: alerts.into_iter().map(record).collect(),
    })
}

fn checked_limit(limit: u32) -> Result<u32> {
    if limit == 0 || limit > MAX_LIMIT {
        return Err(Error::invalid(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}, got {limit}"),
        ));
    }
    Ok(limit)
}

fn record(a: PastAlert) -> AlertRecord {
    let delivery = delivery(a.handled.as_ref());
    AlertRecord {
        alert_id: a.alert_id,
        ticker: a.ticker,
        rule: a.direction,
        // A NULL price or threshold was not a finite number when stored.
        price: a.price.unwrap_or(f64::NAN),
        currency: a.currency,
        threshold: a.threshold.unwrap_or(f64::NAN),
        reference: a.reference,
        market_time_unix_ms: a.market_time_ms,
        created_at_unix_ms: a.created_at_ms,
        status: delivery.status as i32,
        detail: delivery.detail,
        // A claim's instant is not a handling.
        handled_at_unix_ms: match delivery.status {
            DeliveryStatus::Pending => 0,
            _ => a.handled.as_ref().map_or(0, |h| h.at_ms),
        },
        deliver_after_unix_ms: delivery.deliver_after_ms,
        simulated: a.simulated,
    }
}

#[derive(Debug, PartialEq)]
struct Delivery {
    status: DeliveryStatus,
    detail: String,
    deliver_after_ms: i64,
}

/// What notify's record says of an alert's e-mail, in the API's terms.
fn delivery(handled: Option<&Handled>) -> Delivery {
    let Some(h) = handled else {
        return Delivery {
            status: DeliveryStatus::Pending,
            detail: String::new(),
            deliver_after_ms: 0,
        };
    };
    let detail = h.detail.clone().unwrap_or_default();
    let (status, detail) = match h.outcome.as_str() {
        "sent" => (DeliveryStatus::Sent, detail),
        "dead_letter" => (DeliveryStatus::Failed, detail),
        "suppressed" => (DeliveryStatus::Suppressed, detail),
        // Suppressed by the watch's cooldown: say so whatever the row's detail.
        "cooldown" if detail.is_empty() => (DeliveryStatus::Suppressed, "cooldown".to_owned()),
        "cooldown" => (DeliveryStatus::Suppressed, detail),
        "held" => (DeliveryStatus::Held, detail),
        // Being mailed now: in a digest when it was held, else on its own.
        "sending" if h.due_at_ms.is_some() => (DeliveryStatus::Held, detail),
        "sending" => (DeliveryStatus::Pending, detail),
        // An outcome this version does not know (written by a newer notify): shown as is.
        other => (DeliveryStatus::Unspecified, other.to_owned()),
    };
    let deliver_after_ms = match status {
        DeliveryStatus::Held => h.due_at_ms.unwrap_or(0),
        _ => 0,
    };
    Delivery {
        status,
        detail,
        deliver_after_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handled(outcome: &str, detail: Option<&str>, due: Option<i64>) -> Handled {
        Handled {
            outcome: outcome.to_owned(),
            detail: detail.map(str::to_owned),
            at_ms: 5,
            due_at_ms: due,
        }
    }

    #[test]
    fn outcomes_map_to_statuses() {
        use DeliveryStatus as S;
        let table = [
            (None, S::Pending, "", 0),
            (Some(handled("sent", None, None)), S::Sent, "", 0),
            (
                Some(handled("sent", Some("digest"), None)),
                S::Sent,
                "digest",
                0,
            ),
            (
                Some(handled("dead_letter", Some("550 no such user"), None)),
                S::Failed,
                "550 no such user",
                0,
            ),
            (
                Some(handled("suppressed", Some("the user unsubscribed"), None)),
                S::Suppressed,
                "the user unsubscribed",
                0,
            ),
            (
                Some(handled("cooldown", None, None)),
                S::Suppressed,
                "cooldown",
                0,
            ),
            (
                Some(handled("cooldown", Some("cooldown until 12:00"), None)),
                S::Suppressed,
                "cooldown until 12:00",
                0,
            ),
            (Some(handled("held", None, Some(9_000))), S::Held, "", 9_000),
            // Claimed by a notify mailing it: still pending, or held until its digest is out.
            (Some(handled("sending", None, None)), S::Pending, "", 0),
            (
                Some(handled("sending", Some("quiet hours"), Some(9_000))),
                S::Held,
                "quiet hours",
                9_000,
            ),
            // deliver_after is the held alerts' only.
            (Some(handled("sent", None, Some(9_000))), S::Sent, "", 0),
            (
                Some(handled("later", None, None)),
                S::Unspecified,
                "later",
                0,
            ),
        ];
        for (row, status, detail, after) in table {
            let got = delivery(row.as_ref());
            let want = Delivery {
                status,
                detail: detail.to_owned(),
                deliver_after_ms: after,
            };
            assert_eq!(got, want, "{row:?}");
        }
    }

    #[test]
    fn limit_bounds() {
        assert!(checked_limit(0).is_err());
        assert_eq!(checked_limit(1).ok(), Some(1));
        assert_eq!(checked_limit(1000).ok(), Some(1000));
        let err = checked_limit(1001).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.starts_with("limit:")));
    }
}
