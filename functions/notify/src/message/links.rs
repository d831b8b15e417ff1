//! The links of an alert e-mail: the deployment's public URL (`TICKERMESH_PUBLIC_URL`) and the
//! one-click unsubscribe built on it, which goes into the body and into RFC 2369's
//! `List-Unsubscribe` (the HTTPS URL and, where configured, a mailto) with RFC 8058's
//! `List-Unsubscribe-Post: List-Unsubscribe=One-Click`. Large mailbox providers require both of
//! bulk senders; the URL is served by the unsubscribe function.

use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::MessageBuilder;
use lettre::Address;
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use tickermesh_core::config::{var_opt, ConfigError};
use tickermesh_core::signing::SigningKey;
use url::Url;

/// The path the unsubscribe function serves its link at.
const UNSUBSCRIBE_PATH: &str = "unsubscribe";

/// The variable of the public URL.
pub const PUBLIC_URL_VAR: &str = "TICKERMESH_PUBLIC_URL";
/// The variable of the address that takes unsubscribe requests by e-mail.
pub const UNSUBSCRIBE_MAILTO_VAR: &str = "TICKERMESH_UNSUBSCRIBE_MAILTO";

/// What the links of notify's e-mails are made of, read once at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSettings {
    /// `TICKERMESH_PUBLIC_URL`.
    pub public_url: PublicUrl,
    /// `TICKERMESH_UNSUBSCRIBE_MAILTO` (optional).
    pub mailto: Option<Address>,
}

impl LinkSettings {
    /// `None` without `TICKERMESH_PUBLIC_URL`: alert e-mails then carry no unsubscribe link. A
    /// bad value, or a mailto without a public URL (RFC 8058 one-click needs the URL), is an
    /// error naming its variable.
    pub fn from_env() -> Result<Option<Self>, ConfigError> {
        let public_url = var_opt::<PublicUrl>(PUBLIC_URL_VAR)?;
        let mailto = var_opt::<Address>(UNSUBSCRIBE_MAILTO_VAR)?;
        match (public_url, mailto) {
            (Some(public_url), mailto) => Ok(Some(Self { public_url, mailto })),
            (None, None) => Ok(None),
            (None, Some(_)) => Err(ConfigError {
                var: UNSUBSCRIBE_MAILTO_VAR.into(),
                reason: format!("needs {PUBLIC_URL_VAR}, the one-click link"),
            }),
        }
    }

    /// The unsubscribe link of one user's alert e-mails.
    pub fn unsubscribe(&self, key: &SigningKey, user_id: i64, email: &str) -> Unsubscribe {
        Unsubscribe::new(&self.public_url, key, user_id, email, self.mailto.as_ref())
    }
}

/// The base of every link in an e-mail, e.g. `https://tickermesh.example.com` (a path prefix is
/// kept). Checked once, when the configuration is read, so that no alert fails on it later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl(Url);

impl std::str::FromStr for PublicUrl {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let url = Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
        if !matches!(url.scheme(), "https" | "http") || url.host().is_none() {
            return Err(
                "must be an http(s) URL with a host, like https://tickermesh.example.com".into(),
            );
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not hold a user name or password".into());
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("must have no query or fragment: links are made under it".into());
        }
        Ok(Self(url))
    }
}

impl PublicUrl {
    /// The URL of `path` under this base.
    fn join(&self, path: &str) -> Url {
        let mut url = self.0.clone();
        let joined = format!("{}/{path}", url.path().trim_end_matches('/'));
        url.set_path(&joined);
        url
    }
}

/// Where the recipient of one alert e-mail unsubscribes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    url: Url,
    mailto: Option<Address>,
}

/// What RFC 6068 needs escaped in the address of a mailto URI, and what would end the URI in
/// the header (`>`, `,`, spaces).
const MAILTO_ADDRESS: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b',')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

impl Unsubscribe {
    /// The link of the user `user_id` with address `email`:
    /// `{public_url}/unsubscribe?u=<id>&t=<token>`, the token signed with `key`; and
    /// `mailto` (`TICKERMESH_UNSUBSCRIBE_MAILTO`), where configured, as a second way.
    pub fn new(
        public_url: &PublicUrl,
        key: &SigningKey,
        user_id: i64,
        email: &str,
        mailto: Option<&Address>,
    ) -> Self {
        let mut url = public_url.join(UNSUBSCRIBE_PATH);
        url.query_pairs_mut()
            .append_pair("u", &user_id.to_string())
            .append_pair("t", &key.unsubscribe_token(user_id, email));
        Self {
            url,
            mailto: mailto.cloned(),
        }
    }

    /// The HTTPS link, for the body.
    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    /// `List-Unsubscribe`'s value: each URI in angle brackets, the HTTPS one first.
    fn list_unsubscribe(&self) -> String {
        let mut value = format!("<{}>", self.url);
        if let Some(address) = &self.mailto {
            let encoded = utf8_percent_encode(address.as_ref(), MAILTO_ADDRESS);
            value.push_str(&format!(", <mailto:{encoded}?subject=unsubscribe>"));
        }
        value
    }

    /// The two headers on a message being built.
    pub(super) fn headers(&self, builder: MessageBuilder) -> MessageBuilder {
        builder
            .header(ListUnsubscribe(self.list_unsubscribe()))
            .header(ListUnsubscribePost)
    }
}

/// RFC 2369 `List-Unsubscribe`: URIs in angle brackets. A [`Url`] and a percent-encoded address
/// hold no space, `<`, `>` or line break, so the value cannot end early or add a header.
#[derive(Debug, Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_owned()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// RFC 8058 `List-Unsubscribe-Post`: the HTTPS URI of `List-Unsubscribe` takes a POST of this
/// body and unsubscribes at once.
#[derive(Debug, Clone)]
struct ListUnsubscribePost;

const ONE_CLICK: &str = "List-Unsubscribe=One-Click";

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        if s.trim() == ONE_CLICK {
            Ok(Self)
        } else {
            Err(format!("not {ONE_CLICK}").into())
        }
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), ONE_CLICK.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::new(vec![9; 32]).unwrap()
    }

    #[test]
    fn public_urls_are_checked_once() {
        for good in [
            "https://tickermesh.example.com",
            "https://tickermesh.example.com/",
            "http://127.0.0.1:50051",
            "https://example.com/tm/",
        ] {
            assert!(good.parse::<PublicUrl>().is_ok(), "{good}");
        }
        for bad in [
            "",
            "tickermesh.example.com",
            "ftp://example.com",
            "https://example.com/?a=b",
            "https://example.com/#x",
            "https://user:pw@example.com",
            "mailto:a@example.com",
        ] {
            assert!(bad.parse::<PublicUrl>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_link_carries_the_users_signed_token_under_the_base() {
        let k = key();
        let token = k.unsubscribe_token(42, "ada@example.com");
        for (base, expected) in [
            (
                "https://tm.example.com",
                "https://tm.example.com/unsubscribe",
            ),
            (
                "https://tm.example.com/",
                "https://tm.example.com/unsubscribe",
            ),
            (
                "https://example.com/tm/",
                "https://example.com/tm/unsubscribe",
            ),
        ] {
            let u = Unsubscribe::new(&base.parse().unwrap(), &k, 42, "ada@example.com", None);
            assert_eq!(u.url(), format!("{expected}?u=42&t={token}"));
            assert_eq!(u.list_unsubscribe(), format!("<{}>", u.url()));
        }
        // A base with characters a URL must escape comes out escaped: nothing ends the header.
        let odd: PublicUrl = "https://example.com/a b<c>".parse().unwrap();
        let u = Unsubscribe::new(&odd, &k, 1, "ada@example.com", None);
        assert!(u
            .url()
            .starts_with("https://example.com/a%20b%3Cc%3E/unsubscribe?u=1&t="));
    }

    /// The two variables (this is the only test that sets them).
    #[test]
    fn settings_come_from_the_environment_and_name_a_bad_variable() {
        let set = |url: &str, mailto: &str| {
            std::env::set_var(PUBLIC_URL_VAR, url);
            std::env::set_var(UNSUBSCRIBE_MAILTO_VAR, mailto);
            LinkSettings::from_env()
        };
        assert_eq!(set("", "").unwrap(), None);
        let settings = set("https://tm.example.com", "unsub@example.com")
            .unwrap()
            .unwrap();
        assert_eq!(settings.mailto.unwrap().to_string(), "unsub@example.com");
        assert!(set("https://tm.example.com", "")
            .unwrap()
            .unwrap()
            .mailto
            .is_none());
        assert_eq!(set("tm.example.com", "").unwrap_err().var, PUBLIC_URL_VAR);
        let err = set("https://tm.example.com", "not an address").unwrap_err();
        assert_eq!(err.var, UNSUBSCRIBE_MAILTO_VAR);
        assert_eq!(
            set("", "unsub@example.com").unwrap_err().var,
            UNSUBSCRIBE_MAILTO_VAR
        );
        std::env::remove_var(PUBLIC_URL_VAR);
        std::env::remove_var(UNSUBSCRIBE_MAILTO_VAR);
    }

    #[test]
    fn the_mailto_is_percent_encoded() {
        let address: Address = "un+sub?x=1&y#z@example.com".parse().unwrap();
        let base = "https://tm.example.com".parse().unwrap();
        let u = Unsubscribe::new(&base, &key(), 7, "ada@example.com", Some(&address));
        let value = u.list_unsubscribe();
        assert!(
            value.ends_with(", <mailto:un+sub%3Fx=1%26y%23z@example.com?subject=unsubscribe>"),
            "{value}"
        );
        assert_eq!(value.matches('<').count(), 2);
        assert_eq!(value.matches('>').count(), 2);
    }
}
