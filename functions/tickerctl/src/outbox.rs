//! `tickerctl confirm --from-outbox <dir>`: the code of the newest confirmation e-mail to an
//! address in a local outbox folder (`tickermesh up` writes its e-mails there as `.eml` files
//! when no mail server is configured). For the local demo only: in a real deployment the code
//! arrives in the user's mailbox.

use std::path::Path;
use std::time::SystemTime;

use crate::client::ClientError;

/// What a confirmation e-mail's body says before the code.
const CODE_LINE: &str = "Your code:";
/// Files larger than this are not confirmation e-mails.
const MAX_MAIL_BYTES: u64 = 256 * 1024;

/// The code of the newest confirmation e-mail to `email` in `dir`.
pub fn code_from_outbox(dir: &Path, email: &str) -> Result<String, ClientError> {
    let email = crate::tokens::email_key(email);
    let entries = std::fs::read_dir(dir).map_err(|e| {
        ClientError::Usage(format!("cannot read the outbox {}: {e}", dir.display()))
    })?;
    let mut newest: Option<(SystemTime, String, String)> = None;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|x| x != "eml") {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() || meta.len() > MAX_MAIL_BYTES {
            continue;
        }
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        let Some(code) = confirmation_code(&text, &email) else {
            continue;
        };
        let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let name = entry.file_name().to_string_lossy().into_owned();
        let newer = match &newest {
            None => true,
            Some((t, n, _)) => (modified, &name) > (*t, n),
        };
        if newer {
            newest = Some((modified, name, code));
        }
    }
    newest.map(|(_, _, code)| code).ok_or_else(|| {
        ClientError::Usage(format!(
            "no confirmation e-mail to {email} in {} (yet?)",
            dir.display()
        ))
    })
}

/// The code in `mail` when it is a confirmation e-mail to `email` (lower-case).
pub fn confirmation_code(mail: &str, email: &str) -> Option<String> {
    let (head, body) = split_head(mail)?;
    let to = header(head, "to")?;
    if !recipients(&to).any(|r| r == email) {
        return None;
    }
    body.lines().find_map(|line| {
        let rest = line.trim().strip_prefix(CODE_LINE)?;
        let code: String = rest
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-'))
            .collect();
        (!code.is_empty() && code.len() <= 64 && code.bytes().all(|b| b.is_ascii_digit()))
            .then_some(code)
    })
}

/// The header block and the body of a message (CRLF or LF line ends).
fn split_head(mail: &str) -> Option<(&str, &str)> {
    mail.split_once("\r\n\r\n")
        .or_else(|| mail.split_once("\n\n"))
}

/// The unfolded value of the first header `name` (case-insensitive).
fn header(head: &str, name: &str) -> Option<String> {
    let mut value: Option<String> = None;
    for line in head.lines() {
        let line = line.trim_end_matches('\r');
        match &mut value {
            // A folded continuation of the header being read.
            Some(v) if line.starts_with([' ', '\t']) => {
                v.push(' ');
                v.push_str(line.trim());
            }
            Some(_) => break,
            None => {
                if let Some((n, v)) = line.split_once(':') {
                    if n.trim().eq_ignore_ascii_case(name) {
                        value = Some(v.trim().to_owned());
                    }
                }
            }
        }
    }
    value
}

/// The addresses of a `To:` value, lower-case: `a@x`, `Name <a@x>`, comma-separated.
fn recipients(to: &str) -> impl Iterator<Item = String> + '_ {
    to.split(',').map(|part| {
        let part = part.trim();
        let address = match (part.rfind('<'), part.rfind('>')) {
            (Some(open), Some(close)) if open < close => &part[open + 1..close],
            _ => part,
        };
        address.trim().to_lowercase()
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn mail(to: &str, body: &str) -> String {
        format!(
            "From: tickermesh <alerts@example.com>\r\nTo: {to}\r\n\
             Subject: Confirm your tickermesh address\r\n\
             Content-Transfer-Encoding: 7bit\r\n\r\n{body}"
        )
    }

    #[test]
    fn the_code_is_read_from_a_confirmation_to_that_address() {
        let body = "Someone asked.\r\n\r\nYour code: 12345678\r\nIt works once.\r\n";
        assert_eq!(
            confirmation_code(&mail("ada@example.com", body), "ada@example.com").as_deref(),
            Some("12345678")
        );
        assert_eq!(
            confirmation_code(&mail("Ada <ADA@example.com>", body), "ada@example.com").as_deref(),
            Some("12345678")
        );
        let dashed = "Your code: 1234-5678\n";
        assert_eq!(
            confirmation_code(&mail("ada@example.com", dashed), "ada@example.com").as_deref(),
            Some("12345678")
        );
        // Another address, or an alert e-mail (no code): nothing.
        assert_eq!(
            confirmation_code(&mail("bob@example.com", body), "ada@example.com"),
            None
        );
        assert_eq!(
            confirmation_code(
                &mail("ada@example.com", "AAPL rose above 250.\r\n"),
                "ada@example.com"
            ),
            None
        );
        // A code line in the headers is not the body's.
        let sneaky = "To: ada@example.com\r\nX-Note: Your code: 99999999\r\n\r\nhello\r\n";
        assert_eq!(confirmation_code(sneaky, "ada@example.com"), None);
    }

    #[test]
    fn the_newest_confirmation_wins() {
        let dir = tempfile::tempdir().unwrap();
        assert!(code_from_outbox(dir.path(), "ada@example.com").is_err());
        let old = dir.path().join("a.eml");
        std::fs::write(&old, mail("ada@example.com", "Your code: 11111111\r\n")).unwrap();
        let past = SystemTime::now() - std::time::Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(past)
            .unwrap();
        std::fs::write(
            dir.path().join("b.eml"),
            mail("ada@example.com", "Your code: 22222222\r\n"),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("c.eml"),
            mail("bob@example.com", "Your code: 33333333\r\n"),
        )
        .unwrap();
        std::fs::write(dir.path().join("d.txt"), "Your code: 44444444").unwrap();
        assert_eq!(
            code_from_outbox(dir.path(), " ADA@example.com").unwrap(),
            "22222222"
        );
        assert_eq!(
            code_from_outbox(dir.path(), "bob@example.com").unwrap(),
            "33333333"
        );
    }
}
