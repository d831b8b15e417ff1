//! The e-mails notify sends. An alert: To the user, Subject the ticker, a plain-text body, and
//! where the deployment has a public URL the one-click unsubscribe link in the body and in the
//! `List-Unsubscribe`/`List-Unsubscribe-Post` headers ([`links`]). A confirmation code
//! ([`confirmation`]). The alerts held during quiet hours, in one e-mail ([`digest`]).

mod confirmation;
mod digest;
mod links;

use lettre::message::{header::ContentType, Mailbox};
use lettre::Message;
use tickermesh_core::events::{humantime_rfc3339, Direction, ThresholdCrossed};

pub use confirmation::{confirmation_message, Confirmation, ConfirmationPurpose};
pub use digest::digest_message;
pub use links::{LinkSettings, PublicUrl, Unsubscribe};

/// The e-mail for an alert, without an unsubscribe link: [`alert_message`] with `None`.
pub fn message(from: &Mailbox, alert: &ThresholdCrossed) -> std::result::Result<Message, String> {
    alert_message(from, alert, None)
}

/// The e-mail for an alert: To the user, Subject the ticker; with `unsubscribe`, its link at the
/// end of the body and the headers that let a mail client unsubscribe in one click.
pub fn alert_message(
    from: &Mailbox,
    alert: &ThresholdCrossed,
    unsubscribe: Option<&Unsubscribe>,
) -> std::result::Result<Message, String> {
    let to: Mailbox = alert
        .email
        .parse()
        .map_err(|e| format!("recipient {:?}: {e}", alert.email))?;
    let mut body = describe(alert);
    if alert.simulated {
        body.push_str("\nThis price comes from the simulated market, not an exchange.\n");
    }
    body.push_str(if alert.direction.is_move() {
        "\nYou get one e-mail per move; the next one comes after\n\
         the move has been back under your percent.\n"
    } else {
        "\nYou get one e-mail per crossing; the next one comes\n\
         after the price has been back inside your range.\n"
    });
    plain(from, to, alert.ticker.clone(), body, unsubscribe)
}

/// A plain-text e-mail; with `unsubscribe`, its link at the end of `body` and the headers
/// that let a mail client unsubscribe in one click. Every e-mail to a user is made here.
pub(crate) fn plain(
    from: &Mailbox,
    to: Mailbox,
    subject: String,
    mut body: String,
    unsubscribe: Option<&Unsubscribe>,
) -> std::result::Result<Message, String> {
    let mut builder = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN);
    if let Some(unsubscribe) = unsubscribe {
        // The URL may pass 76 characters: the body is then quoted-printable, which every mail
        // client decodes.
        body.push_str(&format!(
            "\nTo stop these e-mails, open this link:\n{}\n",
            unsubscribe.url()
        ));
        builder = unsubscribe.headers(builder);
    }
    builder.body(body).map_err(|e| e.to_string())
}

/// What happened, in two lines: what the price crossed, then the price and its time. The body
/// of an alert e-mail starts with it; a digest lists one per alert.
pub(crate) fn describe(alert: &ThresholdCrossed) -> String {
    let (verb, bound) = match alert.direction {
        Direction::Above => ("rose above", "maximum"),
        Direction::Below => ("fell below", "minimum"),
        Direction::Up | Direction::Down => return describe_move(alert),
    };
    // Lines under 76 characters keep the body plain 7-bit text (no quoted-printable folds).
    format!(
        "{ticker} {verb} your {bound} of {threshold:.2} {currency}.\n\
         Price: {price:.2} {currency} at {time}.\n",
        ticker = alert.ticker,
        threshold = alert.threshold,
        currency = alert.currency,
        price = alert.price,
        time = humantime_rfc3339(alert.market_time_ms),
    )
}

/// A percent move, e.g. "AAPL moved up 5.2% from the previous close (your rule: 5%):" then
/// "from 100.00 to 105.20 USD at <time>." (`threshold` holds the rule's percent, `reference`
/// the previous close; stored moves always have one).
fn describe_move(alert: &ThresholdCrossed) -> String {
    let way = if alert.direction == Direction::Down {
        "down"
    } else {
        "up"
    };
    let (moved, from) = match alert.reference {
        Some(r) => (
            format!(" {:.1}%", ((alert.price - r) / r * 100.0).abs()),
            format!("from {r:.2} "),
        ),
        None => (String::new(), String::new()),
    };
    format!(
        "{ticker} moved {way}{moved} from the previous close (your rule: {rule}%):\n\
         {from}to {price:.2} {currency} at {time}.\n",
        ticker = alert.ticker,
        rule = alert.threshold,
        price = alert.price,
        currency = alert.currency,
        time = humantime_rfc3339(alert.market_time_ms),
    )
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
            subscription_id: None,
            reference: None,
        }
    }

    #[test]
    fn a_move_says_how_far_from_the_previous_close() {
        let from: Mailbox = "tickermesh <alerts@example.com>".parse().unwrap();
        let mut up = alert(Direction::Up, false);
        (up.price, up.threshold, up.reference) = (105.2, 5.0, Some(100.0));
        let (_, body) = read(&message(&from, &up).unwrap());
        assert!(
            body.contains(
                "AAPL moved up 5.2% from the previous close (your rule: 5%):\r\n\
                 from 100.00 to 105.20 USD at 2023-11-14T22:13:20.000Z.\r\n"
            ),
            "{body}"
        );
        assert!(body.contains("one e-mail per move"), "{body}");
        let mut down = alert(Direction::Down, false);
        (down.price, down.threshold, down.reference) = (92.0, 2.5, Some(100.0));
        let (_, body) = read(&message(&from, &down).unwrap());
        assert!(
            body.contains("AAPL moved down 8.0% from the previous close (your rule: 2.5%):"),
            "{body}"
        );
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

    /// The message as a mail client reads it: header lines unfolded, the body decoded from
    /// quoted-printable (soft breaks and `=XX` escapes).
    fn read(m: &Message) -> (String, String) {
        let text = String::from_utf8(m.formatted()).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let head = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        let mut decoded = Vec::new();
        let raw = body.replace("=\r\n", "");
        let mut bytes = raw.bytes();
        while let Some(b) = bytes.next() {
            if b == b'=' {
                let hex: String = [bytes.next().unwrap(), bytes.next().unwrap()]
                    .iter()
                    .map(|b| *b as char)
                    .collect();
                decoded.push(u8::from_str_radix(&hex, 16).unwrap());
            } else {
                decoded.push(b);
            }
        }
        (head, String::from_utf8(decoded).unwrap())
    }

    fn header<'a>(head: &'a str, name: &str) -> Vec<&'a str> {
        head.split("\r\n")
            .filter_map(|line| line.strip_prefix(&format!("{name}: ")))
            .collect()
    }

    #[test]
    fn the_unsubscribe_link_is_in_the_headers_and_the_body() {
        use tickermesh_core::signing::SigningKey;
        let from: Mailbox = "tickermesh <alerts@example.com>".parse().unwrap();
        let key = SigningKey::new(vec![3; 32]).unwrap();
        let base: PublicUrl = "https://tickermesh.example.com/".parse().unwrap();
        let mailto: lettre::Address = "unsubscribe@example.com".parse().unwrap();
        let token = key.unsubscribe_token(42, "ada@example.com");
        let url = format!("https://tickermesh.example.com/unsubscribe?u=42&t={token}");

        let with_mailto = Unsubscribe::new(&base, &key, 42, "ada@example.com", Some(&mailto));
        let m = alert_message(&from, &alert(Direction::Above, false), Some(&with_mailto)).unwrap();
        let (head, body) = read(&m);
        assert_eq!(
            header(&head, "List-Unsubscribe"),
            [format!(
                "<{url}>, <mailto:unsubscribe@example.com?subject=unsubscribe>"
            )],
            "{head}"
        );
        assert_eq!(
            header(&head, "List-Unsubscribe-Post"),
            ["List-Unsubscribe=One-Click"],
            "{head}"
        );
        assert!(
            body.contains(&format!(
                "To stop these e-mails, open this link:\r\n{url}\r\n"
            )),
            "{body}"
        );
        assert!(body.contains("AAPL rose above your maximum"), "{body}");

        let without_mailto = Unsubscribe::new(&base, &key, 42, "ada@example.com", None);
        let m = alert_message(
            &from,
            &alert(Direction::Below, false),
            Some(&without_mailto),
        );
        let (head, _) = read(&m.unwrap());
        assert_eq!(
            header(&head, "List-Unsubscribe"),
            [format!("<{url}>")],
            "{head}"
        );

        // Without a public URL: neither header, no link, the message as before.
        let (head, body) = read(&message(&from, &alert(Direction::Above, false)).unwrap());
        assert!(!head.contains("List-Unsubscribe"), "{head}");
        assert!(!body.contains("stop these e-mails"), "{body}");
    }
}
