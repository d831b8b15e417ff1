//! What a quote may say, checked where quotes come in from outside: collect, from the market
//! data service; evaluate, from an event. A quote stamped a year ahead would freeze evaluation
//! and the latest value of its ticker (nothing newer would ever count), so absurd values are
//! refused and counted instead of stored.

/// How far ahead of this machine's clock a market time may be (clock skew between hosts).
pub const MAX_AHEAD_MS: i64 = 15 * 60 * 1000;
/// How old a quote may be: a market time before this is no current price.
pub const MAX_AGE_MS: i64 = 5 * 366 * 24 * 60 * 60 * 1000;
/// The highest price taken (no listed instrument trades near it).
pub const MAX_PRICE: f64 = 1e9;
/// Currency codes: ISO 4217 and Yahoo's minor units (`GBp`, `ZAc`, `ILA`).
const MAX_CURRENCY_LEN: usize = 8;

/// Why a quote was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InvalidQuote {
    #[error("price {0} is not a positive number up to 1e9")]
    Price(f64),
    #[error("market time {0} ms is not within {MAX_AHEAD_MS} ms ahead of now and 5 years back")]
    MarketTime(i64),
    #[error("currency {0:?} is not 1 to 8 ASCII letters")]
    Currency(String),
}

/// Checks a quote's values against `now_ms`.
pub fn check_quote(
    price: f64,
    currency: &str,
    market_time_ms: i64,
    now_ms: i64,
) -> Result<(), InvalidQuote> {
    if !(price.is_finite() && price > 0.0 && price <= MAX_PRICE) {
        return Err(InvalidQuote::Price(price));
    }
    let earliest = now_ms.saturating_sub(MAX_AGE_MS);
    let latest = now_ms.saturating_add(MAX_AHEAD_MS);
    if !(earliest..=latest).contains(&market_time_ms) {
        return Err(InvalidQuote::MarketTime(market_time_ms));
    }
    let letters = currency.bytes().all(|b| b.is_ascii_alphabetic());
    if currency.is_empty() || currency.len() > MAX_CURRENCY_LEN || !letters {
        return Err(InvalidQuote::Currency(currency.chars().take(16).collect()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn table() {
        let day = 24 * 60 * 60 * 1000;
        let cases: &[(f64, &str, i64, bool)] = &[
            (189.5, "USD", NOW, true),
            (0.0001, "GBp", NOW - day, true),
            (189.5, "ZAc", NOW + MAX_AHEAD_MS, true),
            (189.5, "USD", NOW + MAX_AHEAD_MS + 1, false),
            (189.5, "USD", NOW + 365 * day, false),
            (189.5, "USD", 253_402_300_800_000, false),
            (189.5, "USD", i64::MAX, false),
            (189.5, "USD", -1, false),
            (189.5, "USD", NOW - MAX_AGE_MS - 1, false),
            (0.0, "USD", NOW, false),
            (-3.0, "USD", NOW, false),
            (f64::NAN, "USD", NOW, false),
            (f64::INFINITY, "USD", NOW, false),
            (1e10, "USD", NOW, false),
            (189.5, "", NOW, false),
            (189.5, "US D", NOW, false),
            (189.5, "DOLLARSXX", NOW, false),
            (189.5, "€", NOW, false),
        ];
        for &(price, currency, time, ok) in cases {
            assert_eq!(
                check_quote(price, currency, time, NOW).is_ok(),
                ok,
                "{price} {currency:?} {time}"
            );
        }
    }
}
