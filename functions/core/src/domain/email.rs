use crate::error::Error;

/// An e-mail address: trimmed, lower-cased so that addresses compare case-insensitively, at
/// most 254 bytes in that form, RFC 5322 syntax.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// In UTF-8 bytes of the stored (lower-case) form. SMTP counts a path in octets (RFC 5321:
    /// 256 with the angle brackets); a byte bound also keeps within the `VARCHAR(254)` column,
    /// which counts characters.
    pub const MAX_LEN: usize = 254;

    pub fn parse(field: &'static str, raw: &str) -> Result<Self, Error> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(Error::invalid(field, "is required"));
        }
        // Lower-casing can lengthen a string (`İ` becomes `i̇`, one byte more) or shorten it
        // (the Kelvin sign becomes `k`), so only the normalised form is measured and checked. The
        // quick bound first spares lower-casing megabytes: no character shrinks by more than 3×.
        if trimmed.len() > 3 * Self::MAX_LEN {
            return Err(too_long(field));
        }
        let normal = trimmed.to_lowercase();
        if normal.len() > Self::MAX_LEN {
            return Err(too_long(field));
        }
        // The crate takes any non-ASCII character as a letter (RFC 6532), C1 controls and
        // Unicode line separators too: those could split a mail header, and invisible ones make
        // two addresses that look the same.
        if let Some(c) = normal.chars().find(|&c| unseen(c)) {
            return Err(Error::invalid(
                field,
                format!("contains {c:?}, a control, blank or invisible character"),
            ));
        }
        // The crate accepts a few forms no mail relay delivers to (quoted local parts,
        // display names); a plain `local@domain` with a dotted domain is what users type.
        let plain = !normal.contains(['"', '<', '>', ' ', '[']);
        let dotted = normal
            .rsplit_once('@')
            .is_some_and(|(_, domain)| domain.contains('.') && !domain.ends_with('.'));
        if !plain || !dotted || !email_address::EmailAddress::is_valid(&normal) {
            return Err(Error::invalid(field, "is not a valid e-mail address"));
        }
        Ok(Self(normal))
    }
}

/// Controls (C0, DEL, C1), blanks and line separators, and the invisible format characters:
/// soft hyphen, zero-width and joiner characters, direction marks and overrides, the byte-order
/// mark, interlinear annotations and tags.
fn unseen(c: char) -> bool {
    c.is_control()
        || c.is_whitespace()
        || matches!(c,
            '\u{AD}' | '\u{61C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E0000}'..='\u{E007F}')
}

fn too_long(field: &'static str) -> Error {
    Error::invalid(
        field,
        format!("must be at most {} bytes once lower-cased", Email::MAX_LEN),
    )
}

text_value!(Email);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
    fn rejects_controls_blanks_and_invisibles() {
        for c in [
            '\u{0}', '\r', '\n', '\u{80}', '\u{85}', '\u{A0}', '\u{2028}', '\u{200B}', '\u{202E}',
        ] {
            let raw = format!("a{c}b@example.com");
            let err = Email::parse("email", &raw).unwrap_err();
            assert!(
                err.to_string().starts_with("email: contains"),
                "{raw:?}: {err}"
            );
        }
    }

    #[test]
    fn rejects_too_long() {
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse("email", &long).is_err());
    }

    /// 254 characters as typed, 286 once lower-cased: `İ` becomes `i̇`.
    #[test]
    fn measures_the_lower_case_form() {
        let raw = format!("{}@{}.example.com", "İ".repeat(32), "d".repeat(209));
        assert_eq!(raw.chars().count(), 254);
        let err = Email::parse("email", &raw).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("email: must be at most 254 bytes"),
            "{err}"
        );
        // The Kelvin sign (3 bytes) lower-cases to `k`: long as typed, short enough once stored.
        let kelvin = format!("{}@{}.com", "\u{212A}".repeat(64), "d".repeat(60));
        assert_eq!(kelvin.len(), 257);
        assert_eq!(Email::parse("email", &kelvin).unwrap().as_str().len(), 129);
    }

    /// The quick bound in `parse` holds: no character loses more than two thirds of its bytes
    /// when lower-cased.
    #[test]
    fn lower_casing_shrinks_at_most_threefold() {
        for c in (0..=u32::from(char::MAX)).filter_map(char::from_u32) {
            let lower: usize = c.to_lowercase().map(char::len_utf8).sum();
            assert!(c.len_utf8() <= 3 * lower, "{c:?}");
        }
    }

    /// Addresses as users type them: valid syntax, mixed case, sometimes non-ASCII letters
    /// (`É`, `ß`, the Kelvin sign), padded with blanks; some domains run past the limit.
    fn typed() -> impl Strategy<Value = String> {
        let local = prop_oneof![
            "[A-Za-z0-9_%+]{1,15}(\\.[A-Za-z0-9_%+]{1,15}){0,2}",
            "[a-zA-ZéÉß\u{212A}]{1,20}",
        ];
        let domain = "([A-Za-z0-9]([A-Za-z0-9-]{0,18}[A-Za-z0-9])?\\.){1,12}[A-Za-z]{2,10}";
        (local, domain, "[ \t]{0,2}", "[ \t]{0,2}")
            .prop_map(|(l, d, pre, post)| format!("{pre}{l}@{d}{post}"))
    }

    /// A domain of `n` letters in labels of at most 60.
    fn labels(n: usize) -> String {
        let letters = "d".repeat(n);
        let chunks: Vec<&str> = letters
            .as_bytes()
            .chunks(60)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        chunks.join(".")
    }

    fn any_text() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            typed(),
            // Near the length limit, some growing when lower-cased.
            (0usize..=32, 150usize..260).prop_map(|(l, d)| format!(
                "{}@{}.com",
                "İ".repeat(l),
                labels(d)
            )),
            // A valid address with any one character slipped in anywhere.
            (typed(), any::<char>(), any::<prop::sample::Index>()).prop_map(|(t, c, at)| {
                let mut chars: Vec<char> = t.chars().collect();
                chars.insert(at.index(chars.len() + 1), c);
                chars.into_iter().collect()
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Whatever it is given: an address within the limits, lower-case and trimmed, that
        /// parses again to itself; or an error naming the field.
        #[test]
        fn parses_or_names_the_field(raw in any_text()) {
            match Email::parse("email", &raw) {
                Ok(e) => {
                    let s = e.as_str();
                    prop_assert!(!s.is_empty() && s.len() <= Email::MAX_LEN, "{s:?}");
                    prop_assert_eq!(s, raw.trim().to_lowercase());
                    prop_assert_eq!(s.trim(), s);
                    prop_assert!(s.contains('@'));
                    // Nothing that could split a mail header line (`\r\n` injection) or hide.
                    prop_assert!(!s.chars().any(unseen), "{s:?}");
                    prop_assert_eq!(Email::parse("email", s).unwrap(), e.clone());
                    // Case-insensitive: the upper-case spelling of an ASCII address is the same user.
                    if s.is_ascii() {
                        prop_assert_eq!(Email::parse("email", &s.to_uppercase()).unwrap(), e);
                    }
                }
                Err(err) => {
                    prop_assert!(matches!(err, Error::InvalidArgument { field: "email", .. }), "{err:?}");
                    prop_assert!(err.to_string().starts_with("email: "), "{err}");
                }
            }
        }

        /// What users type is accepted whenever its stored form fits.
        #[test]
        fn typed_addresses_are_accepted(raw in typed()) {
            let fits = raw.trim().to_lowercase().len() <= Email::MAX_LEN;
            let parsed = Email::parse("email", &raw);
            prop_assert_eq!(parsed.is_ok(), fits, "{:?}: {:?}", raw, parsed);
        }
    }
}
