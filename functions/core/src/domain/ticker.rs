use crate::error::Error;

/// A Yahoo Finance symbol: 1-16 of letters, digits, `.`, `-`, `^`, `=`, stored upper-case
/// (`^GSPC`, `EURUSD=X`, `BRK-B`, `GS2C.DE`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ticker(String);

impl Ticker {
    pub const MAX_LEN: usize = 16;

    pub fn parse(field: &'static str, raw: &str) -> Result<Self, Error> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(Error::invalid(field, "is required"));
        }
        // Characters first: every allowed one is a single byte, so the length check after it
        // counts characters, as its message says (`é` × 9 is not "more than 16 characters").
        if let Some(bad) = trimmed
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '^' | '=')))
        {
            return Err(Error::invalid(
                field,
                format!(
                    "contains {bad:?}; only letters, digits, '.', '-', '^' and '=' are allowed"
                ),
            ));
        }
        if trimmed.len() > Self::MAX_LEN {
            return Err(Error::invalid(
                field,
                format!("must be at most {} characters", Self::MAX_LEN),
            ));
        }
        Ok(Self(trimmed.to_ascii_uppercase()))
    }
}

text_value!(Ticker);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn yahoo_symbols() {
        for (raw, want) in [
            ("^gspc", "^GSPC"),
            ("EURUSD=X", "EURUSD=X"),
            ("brk-b", "BRK-B"),
            ("GS2C.DE", "GS2C.DE"),
            (" aapl ", "AAPL"),
        ] {
            assert_eq!(Ticker::parse("ticker", raw).unwrap().as_str(), want);
        }
    }

    #[test]
    fn rejects() {
        for bad in ["", "AAPL!", "A B", "ABCDEFGHIJKLMNOPQ", "é"] {
            let err = Ticker::parse("ticker", bad).unwrap_err();
            assert!(err.to_string().starts_with("ticker:"), "{bad}: {err}");
        }
    }

    /// Symbols as Yahoo spells them, in any case, padded with blanks.
    fn symbol() -> impl Strategy<Value = String> {
        ("[ \t]{0,2}", "[A-Za-z0-9.^=-]{1,16}", "[ \t]{0,2}")
            .prop_map(|(pre, s, post)| format!("{pre}{s}{post}"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Anything: a symbol of the allowed characters, upper-case, trimmed, 1-16 long, that
        /// parses again to itself; or an error naming the field.
        #[test]
        fn parses_or_names_the_field(raw in prop_oneof![any::<String>(), symbol(), "[ -~]{0,20}"]) {
            let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '^' | '=');
            let trimmed = raw.trim();
            let valid = (1..=Ticker::MAX_LEN).contains(&trimmed.len()) && trimmed.chars().all(allowed);
            match Ticker::parse("ticker", &raw) {
                Ok(t) => {
                    prop_assert!(valid, "{raw:?} accepted");
                    prop_assert_eq!(t.as_str(), trimmed.to_ascii_uppercase());
                    prop_assert!(!t.as_str().chars().any(|c| c.is_ascii_lowercase()));
                    prop_assert_eq!(Ticker::parse("ticker", t.as_str()).unwrap(), t);
                }
                Err(err) => {
                    prop_assert!(!valid, "{raw:?} refused: {err}");
                    // A refusal for length only when there are too many characters.
                    if err.to_string().contains("at most") {
                        prop_assert!(trimmed.chars().count() > Ticker::MAX_LEN, "{raw:?}: {err}");
                    }
                    prop_assert!(matches!(err, Error::InvalidArgument { field: "ticker", .. }), "{err:?}");
                    prop_assert!(err.to_string().starts_with("ticker: "), "{err}");
                }
            }
        }

        /// Case does not matter: every spelling of a symbol is the same ticker.
        #[test]
        fn case_insensitive(raw in symbol()) {
            let upper = Ticker::parse("ticker", &raw.to_ascii_uppercase()).unwrap();
            prop_assert_eq!(Ticker::parse("ticker", &raw.to_ascii_lowercase()).unwrap(), upper);
        }
    }
}
