//! The alert e-mail: To the user, Subject the ticker, a plain-text body.

use lettre::message::{header::ContentType, Mailbox};
use lettre::Message;
use tickermesh_core::events::{humantime_rfc3339, Direction, ThresholdCrossed};

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
