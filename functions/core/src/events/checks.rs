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
    #[error("price {price} is more than the allowed factor off the previous price {reference}")]
    Jump { price: f64, reference: f64 },
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

/// The CloudEvent `source` of the quotes collect publishes ([`super::QuoteCollected::to_event`]).
/// Inside the cluster evaluate takes quote events from this source only (configurable).
pub const COLLECTOR_SOURCE: &str = "/tickermesh/collect";

/// How far a price may move from the prices it follows before it is taken for a data error:
/// a factor of 10 either way. Yahoo's minor units (`GBp` against `GBP`, a factor of 100) and
/// a misplaced decimal point are caught; no listed share moves tenfold between two quotes a
/// minute apart, and a real move that large (a reverse split) costs one quote (see
/// [`check_jump`]).
pub const MAX_JUMP: f64 = 10.0;

/// Checks `price` against the prices it follows: the ticker's collected quote just before it
/// and the quote its ticker was last evaluated at (`None` when unknown). It is refused only
/// when it is more than `max_jump` times, or less than 1/`max_jump` of, every price known:
/// a glitch is refused, and so is the first quote after a real jump, but the quote after that
/// follows the refused one (collected, so stored) and passes, as does the first good quote
/// after a glitch (it is close to the last evaluated one).
pub fn check_jump(
    price: f64,
    previous: Option<f64>,
    last_evaluated: Option<f64>,
    max_jump: f64,
) -> Result<(), InvalidQuote> {
    let near = |reference: f64| price <= reference * max_jump && price * max_jump >= reference;
    let known: Vec<f64> = [previous, last_evaluated]
        .into_iter()
        .flatten()
        .filter(|r| r.is_finite() && *r > 0.0)
        .collect();
    if known.is_empty() || known.iter().any(|r| near(*r)) {
        Ok(())
    } else {
        Err(InvalidQuote::Jump {
            price,
            reference: known[0],
        })
    }
}

/// The previous close a quote's moves may be measured from: a positive number within
/// `max_jump` times of the price either way, else none. An odd one (Yahoo's minor units
/// against major ones, a zero) would make every watcher of the ticker see a move of
/// thousands of percent; without one the quote still counts for its thresholds.
pub fn check_reference(price: f64, previous_close: Option<f64>, max_jump: f64) -> Option<f64> {
    previous_close
        .filter(|c| c.is_finite() && *c > 0.0 && price <= c * max_jump && price * max_jump >= *c)
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

    #[test]
    fn jump_table() {
        let cases: &[(f64, Option<f64>, Option<f64>, bool)] = &[
            (100.0, None, None, true),
            (100.0, Some(95.0), Some(95.0), true),
            (1000.0, Some(100.0), None, true),
            (1000.1, Some(100.0), None, false),
            (10.0, Some(100.0), Some(100.0), true),
            (9.99, Some(100.0), Some(100.0), false),
            // Pence against pounds: a hundred times off.
            (18_950.0, Some(189.5), Some(189.5), false),
            // After a glitch (collected, refused): close to the last evaluated price.
            (101.0, Some(5_000.0), Some(100.0), true),
            // After a real jump: close to the refused quote before it.
            (20.5, Some(20.0), Some(1.0), true),
            (20.0, Some(1.0), Some(1.0), false),
            // References that are no price are ignored.
            (5.0, Some(0.0), Some(f64::NAN), true),
        ];
        for &(price, previous, evaluated, ok) in cases {
            assert_eq!(
                check_jump(price, previous, evaluated, MAX_JUMP).is_ok(),
                ok,
                "{price} after {previous:?} / {evaluated:?}"
            );
        }
    }

    #[test]
    fn reference_table() {
        let cases: &[(f64, Option<f64>, Option<f64>)] = &[
            (105.2, Some(100.0), Some(100.0)),
            (105.2, None, None),
            (105.2, Some(0.0), None),
            (105.2, Some(-100.0), None),
            (105.2, Some(f64::NAN), None),
            (105.2, Some(f64::INFINITY), None),
            (1000.0, Some(100.0), Some(100.0)),
            (1000.1, Some(100.0), None),
            (10.0, Some(100.0), Some(100.0)),
            (9.99, Some(100.0), None),
            // Pence against pounds.
            (18_950.0, Some(189.5), None),
        ];
        for &(price, close, expected) in cases {
            assert_eq!(
                check_reference(price, close, MAX_JUMP),
                expected,
                "{price} after {close:?}"
            );
        }
    }

    #[test]
    fn the_collector_publishes_from_its_source() {
        let quote = super::super::QuoteCollected {
            ticker: "AAPL".into(),
            price: 1.0,
            currency: "USD".into(),
            market_time_ms: NOW,
            collected_at_ms: NOW,
            simulated: false,
            previous_close: None,
        };
        let event = quote.to_event().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            cloudevents::AttributesReader::source(&event).as_str(),
            COLLECTOR_SOURCE
        );
    }
}
