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
        if trimmed.len() > Self::MAX_LEN {
            return Err(Error::invalid(
                field,
                format!("must be at most {} characters", Self::MAX_LEN),
            ));
        }
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
        Ok(Self(trimmed.to_ascii_uppercase()))
    }
}

text_value!(Ticker);

#[cfg(test)]
mod tests {
    use super::*;

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
}
