use crate::error::Error;

/// An e-mail address: trimmed, at most 254 characters, RFC 5322 syntax, lower-cased so that
/// addresses compare case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(field: &'static str, raw: &str) -> Result<Self, Error> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(Error::invalid(field, "is required"));
        }
        if trimmed.chars().count() > Self::MAX_LEN {
            return Err(Error::invalid(
                field,
                format!("must be at most {} characters", Self::MAX_LEN),
            ));
        }
        // The crate accepts a few forms no mail relay delivers to (quoted local parts,
        // display names); a plain `local@domain` with a dotted domain is what users type.
        let plain = !trimmed.contains(['"', '<', '>', ' ', '[']);
        let dotted = trimmed
            .rsplit_once('@')
            .is_some_and(|(_, domain)| domain.contains('.') && !domain.ends_with('.'));
        if !plain || !dotted || !email_address::EmailAddress::is_valid(trimmed) {
            return Err(Error::invalid(field, "is not a valid e-mail address"));
        }
        Ok(Self(trimmed.to_lowercase()))
    }
}

text_value!(Email);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_normalises() {
        let e = Email::parse("email", "  Ada.Lovelace+stocks@Example.COM ").unwrap();
        assert_eq!(e.as_str(), "ada.lovelace+stocks@example.com");
    }

    #[test]
    fn rejects_bad_syntax() {
        for bad in [
            "",
            "   ",
            "no-at-sign",
            "a@b",
            "@example.com",
            "a@",
            "a b@example.com",
            "\"q\"@example.com",
            "a@@example.com",
            "a@example.com.",
        ] {
            let err = Email::parse("email", bad).unwrap_err();
            assert!(err.to_string().starts_with("email:"), "{bad}: {err}");
        }
    }

    #[test]
    fn rejects_too_long() {
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse("email", &long).is_err());
    }
}
