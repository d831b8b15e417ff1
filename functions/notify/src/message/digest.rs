//! The digest e-mail: the alerts held during a user's quiet hours, in one message, with the
//! same unsubscribe link and headers as an alert e-mail.

use lettre::message::Mailbox;
use lettre::Message;
use tickermesh_core::events::ThresholdCrossed;

use super::{describe, Unsubscribe};

/// The e-mail listing `alerts` (oldest first) to `email`. None is refused: a digest of nothing
/// is not sent.
pub fn digest_message(
    from: &Mailbox,
    email: &str,
    alerts: &[ThresholdCrossed],
    unsubscribe: Option<&Unsubscribe>,
) -> std::result::Result<Message, String> {
    let to: Mailbox = email
        .parse()
        .map_err(|e| format!("recipient {email:?}: {e}"))?;
    let subject = match alerts {
        [] => return Err("a digest of no alert".into()),
        [one] => format!("{}: 1 alert from your quiet hours", one.ticker),
        many => format!("{} alerts from your quiet hours", many.len()),
    };
    // Lines under 76 characters keep the body plain 7-bit text (no quoted-printable folds).
    let mut body = String::from("These alerts came during your quiet hours:\n");
    for alert in alerts {
        body.push('\n');
        body.push_str(&describe(alert));
        if alert.simulated {
            body.push_str("(A simulated price, not from an exchange.)\n");
        }
    }
    body.push_str(
        "\nAlerts that come during your quiet hours are held and sent\n\
         together when they end.\n",
    );
    super::plain(from, to, subject, body, unsubscribe)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickermesh_core::events::Direction;
    use tickermesh_core::signing::SigningKey;

    fn alert(ticker: &str, direction: Direction, price: f64, simulated: bool) -> ThresholdCrossed {
        ThresholdCrossed {
            alert_id: format!("{ticker}/1/{}/1", direction.as_str()),
            email: "ada@example.com".into(),
            ticker: ticker.into(),
            price,
            currency: "USD".into(),
            threshold: 250.0,
            direction,
            market_time_ms: 1_700_000_000_000,
            simulated,
            subscription_id: Some(1),
            reference: None,
        }
    }

    fn from() -> Mailbox {
        "tickermesh <alerts@example.com>".parse().unwrap()
    }

    #[test]
    fn lists_every_alert_with_the_unsubscribe_headers() {
        let key = SigningKey::new(vec![3; 32]).unwrap();
        let base = "https://tickermesh.example.com".parse().unwrap();
        let unsubscribe = Unsubscribe::new(&base, &key, 42, "ada@example.com", None);
        let alerts = [
            alert("AAPL", Direction::Above, 251.5, false),
            alert("MSFT", Direction::Below, 240.0, true),
        ];
        let m = digest_message(&from(), "ada@example.com", &alerts, Some(&unsubscribe)).unwrap();
        // Header lines unfolded, as a mail client reads them.
        let text = String::from_utf8(m.formatted())
            .unwrap()
            .replace("\r\n ", " ");
        assert!(
            text.contains("Subject: 2 alerts from your quiet hours"),
            "{text}"
        );
        assert!(text.contains("To: ada@example.com"), "{text}");
        assert!(
            text.contains("AAPL rose above your maximum of 250.00 USD."),
            "{text}"
        );
        assert!(
            text.contains("MSFT fell below your minimum of 250.00 USD."),
            "{text}"
        );
        assert_eq!(text.matches("simulated price").count(), 1, "{text}");
        assert!(
            text.contains("List-Unsubscribe: <https://tickermesh.example.com/unsubscribe?u=42&t="),
            "{text}"
        );
        assert!(
            text.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
            "{text}"
        );
        assert!(text.contains("To stop these e-mails"), "{text}");
    }

    #[test]
    fn one_alert_names_its_ticker_and_none_or_a_bad_address_is_refused() {
        let one = [alert("AAPL", Direction::Above, 251.5, false)];
        let m = digest_message(&from(), "ada@example.com", &one, None).unwrap();
        let text = String::from_utf8(m.formatted()).unwrap();
        assert!(
            text.contains("Subject: AAPL: 1 alert from your quiet hours"),
            "{text}"
        );
        assert!(!text.contains("List-Unsubscribe"), "{text}");
        assert!(digest_message(&from(), "ada@example.com", &[], None).is_err());
        assert!(
            digest_message(&from(), "ada@example.com\r\nBcc: e@example.com", &one, None).is_err()
        );
    }
}
