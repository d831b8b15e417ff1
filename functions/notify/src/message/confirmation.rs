//! The confirmation e-mail: the one-time code that confirms an address (double opt-in) or gives
//! its owner a new access token. It holds the code and when it expires, and no link: the
//! deployment serves no confirmation page, so the code is given back through the API
//! (`ConfirmEmail`, `tickerctl confirm`).

use lettre::message::{header::ContentType, Mailbox};
use lettre::Message;
use tickermesh_core::events::humantime_rfc3339;

/// Why the code was sent; it changes the words, not the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfirmationPurpose {
    /// A new registration: no alert goes to the address until it is confirmed.
    Register,
    /// `RequestAccess`: a new access token, which replaces the old one.
    Access,
}

/// One confirmation e-mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmation<'a> {
    pub email: &'a str,
    pub code: &'a str,
    pub expires_at_ms: i64,
    pub purpose: ConfirmationPurpose,
}

/// The longest code this e-mail carries.
const MAX_CODE_LEN: usize = 64;

/// The e-mail of a confirmation code: To the address, a plain-text body with the code and its
/// expiry. A code that is not 1–64 ASCII letters, digits or `-` is refused: it is written into
/// the body as is.
pub fn confirmation_message(
    from: &Mailbox,
    confirmation: &Confirmation<'_>,
) -> std::result::Result<Message, String> {
    let to: Mailbox = confirmation
        .email
        .parse()
        .map_err(|e| format!("recipient {:?}: {e}", confirmation.email))?;
    let code = confirmation.code;
    let plain = |b: u8| b.is_ascii_alphanumeric() || b == b'-';
    if code.is_empty() || code.len() > MAX_CODE_LEN || !code.bytes().all(plain) {
        return Err("the code must be 1-64 ASCII letters, digits or '-'".into());
    }
    let (subject, asked, effect, ignore) = match confirmation.purpose {
        ConfirmationPurpose::Register => (
            "Confirm your tickermesh address",
            "asked tickermesh to send price alerts\nto this address.",
            "Confirming it starts the alerts.",
            "No alert is sent to an address that is not confirmed,\n\
             and the request expires by itself.",
        ),
        ConfirmationPurpose::Access => (
            "Your tickermesh access code",
            "asked for a new tickermesh access token\nfor this address.",
            "Confirming it replaces your old access token.",
            "Your access token stays as it is.",
        ),
    };
    // Lines under 76 characters keep the body plain 7-bit text (no quoted-printable folds).
    let body = format!(
        "Someone, hopefully you, {asked}\n\n\
         Your code: {code}\n\
         It works once, until {expires}.\n\
         {effect}\n\n\
         Give it to tickermesh with `tickerctl confirm`.\n\n\
         If you did not ask for this, ignore this e-mail.\n\
         {ignore}\n",
        expires = humantime_rfc3339(confirmation.expires_at_ms),
    );
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from() -> Mailbox {
        "tickermesh <alerts@example.com>".parse().unwrap()
    }

    fn confirmation(code: &str, purpose: ConfirmationPurpose) -> Confirmation<'_> {
        Confirmation {
            email: "ada@example.com",
            code,
            expires_at_ms: 1_700_000_000_000,
            purpose,
        }
    }

    #[test]
    fn the_code_and_its_expiry_are_in_the_body() {
        let m = confirmation_message(
            &from(),
            &confirmation("482-913", ConfirmationPurpose::Register),
        )
        .unwrap();
        let text = String::from_utf8(m.formatted()).unwrap();
        assert!(
            text.contains("Subject: Confirm your tickermesh address"),
            "{text}"
        );
        assert!(text.contains("To: ada@example.com"), "{text}");
        assert!(text.contains("Your code: 482-913\r\n"), "{text}");
        assert!(text.contains("until 2023-11-14T22:13:20.000Z."), "{text}");
        assert!(text.contains("Content-Transfer-Encoding: 7bit"), "{text}");
        assert!(!text.contains("List-Unsubscribe"), "{text}");
        assert!(
            !text.contains("http"),
            "no link: nothing serves one\n{text}"
        );

        let m = confirmation_message(
            &from(),
            &confirmation("ABC123", ConfirmationPurpose::Access),
        )
        .unwrap();
        let text = String::from_utf8(m.formatted()).unwrap();
        assert!(
            text.contains("Subject: Your tickermesh access code"),
            "{text}"
        );
        assert!(text.contains("replaces your old access token"), "{text}");
    }

    #[test]
    fn codes_that_are_not_plain_and_bad_recipients_are_refused() {
        for code in [
            "",
            "12\r\nBcc: x@example.com",
            "12 34",
            "<b>",
            &"1".repeat(65),
        ] {
            let c = confirmation(code, ConfirmationPurpose::Register);
            assert!(confirmation_message(&from(), &c).is_err(), "{code:?}");
        }
        let mut c = confirmation("123456", ConfirmationPurpose::Register);
        c.email = "ada@example.com\r\nBcc: eve@example.com";
        assert!(confirmation_message(&from(), &c).is_err());
    }
}
