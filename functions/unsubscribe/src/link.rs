//! The query of an unsubscribe link: `u`, the user id, and `t`, its signed token. Anything that
//! is not exactly one of each, well formed, is malformed (400) before the database or the key
//! is asked anything.

/// The length of a token: base64url without padding of an HMAC-SHA256 (32 bytes).
const TOKEN_LEN: usize = 43;
/// The most digits an `i64` has.
const MAX_ID_DIGITS: usize = 19;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub user_id: i64,
    pub token: String,
}

impl Link {
    /// The link in a request's query string, or `None` when it is malformed: `u` or `t`
    /// missing or given twice, `u` not a positive decimal id, `t` not 43 base64url characters.
    /// Other parameters (a mail client's or a proxy's additions) are ignored.
    pub fn parse(query: Option<&str>) -> Option<Self> {
        let (mut user_id, mut token) = (None, None);
        for (key, value) in url::form_urlencoded::parse(query?.as_bytes()) {
            match &*key {
                "u" if user_id.replace(parse_id(&value)?).is_some() => return None,
                "t" if token.replace(parse_token(&value)?).is_some() => return None,
                _ => {}
            }
        }
        Some(Self {
            user_id: user_id?,
            token: token?,
        })
    }
}

fn parse_id(text: &str) -> Option<i64> {
    let digits =
        !text.is_empty() && text.len() <= MAX_ID_DIGITS && text.bytes().all(|b| b.is_ascii_digit());
    digits
        .then(|| text.parse::<i64>().ok())
        .flatten()
        .filter(|id| *id > 0)
}

fn parse_token(text: &str) -> Option<String> {
    let base64url = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    (text.len() == TOKEN_LEN && text.bytes().all(base64url)).then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde";

    #[test]
    fn a_whole_link_parses() {
        assert_eq!(TOKEN.len(), TOKEN_LEN);
        let link = Link::parse(Some(&format!("u=42&t={TOKEN}&utm_source=mail"))).unwrap();
        assert_eq!(link.user_id, 42);
        assert_eq!(link.token, TOKEN);
        // Percent-encoded characters are decoded first.
        let link = Link::parse(Some(&format!("t={}&u=%34%32", TOKEN))).unwrap();
        assert_eq!(link.user_id, 42);
    }

    #[test]
    fn anything_else_is_malformed() {
        let short = &TOKEN[1..];
        for query in [
            String::new(),
            "u=42".into(),
            format!("t={TOKEN}"),
            format!("u=0&t={TOKEN}"),
            format!("u=-1&t={TOKEN}"),
            format!("u=+1&t={TOKEN}"),
            format!("u=1.0&t={TOKEN}"),
            format!("u=99999999999999999999&t={TOKEN}"),
            format!("u=9223372036854775808&t={TOKEN}"),
            format!("u=&t={TOKEN}"),
            format!("u=1&u=1&t={TOKEN}"),
            format!("u=1&t={TOKEN}&t={TOKEN}"),
            format!("u=1&t={short}"),
            format!("u=1&t={TOKEN}A"),
            format!("u=1&t={}", TOKEN.replace('A', "+")),
            format!("u=1&t={}", TOKEN.replace('A', "%2F")),
            format!("u=1&t={}", TOKEN.replace('A', "%00")),
        ] {
            assert_eq!(Link::parse(Some(&query)), None, "{query}");
        }
        assert_eq!(Link::parse(None), None);
    }
}
