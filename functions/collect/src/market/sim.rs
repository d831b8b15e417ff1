use super::Fetch;

/// A deterministic simulated market: each symbol oscillates around its own base price
/// (between 20 and 500) with a 10-minute period and a ±5 % swing, so a threshold near the base
/// is crossed within minutes. Its previous close is the symbol's first price of the (UTC) day,
/// so percent-move rules of a few percent fire within minutes too. Prices are marked
/// simulated wherever they travel.
#[derive(Debug, Default, Clone)]
pub struct SimMarket;

const PERIOD_MS: f64 = 600_000.0;
const DAY_MS: i64 = 86_400_000;

fn hash(s: &str) -> u64 {
    // FNV-1a: stable across runs and platforms, unlike the std hasher.
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl SimMarket {
    pub fn price(ticker: &str, at_ms: i64) -> f64 {
        let h = hash(ticker);
        let base = 20.0 + (h % 48_000) as f64 / 100.0;
        let phase = (h % 628) as f64 / 100.0;
        let angle = (at_ms as f64 / PERIOD_MS) * std::f64::consts::TAU + phase;
        ((base * (1.0 + 0.05 * angle.sin())) * 100.0).round() / 100.0
    }

    /// The "previous close" at `at_ms`: the price at the start of its UTC day.
    pub fn previous_close(ticker: &str, at_ms: i64) -> f64 {
        Self::price(ticker, at_ms - at_ms.rem_euclid(DAY_MS))
    }

    /// The quote at `now_ms`, with the market time on a whole second.
    pub fn fetch(&self, ticker: &str, now_ms: i64) -> Fetch {
        let market_time_ms = now_ms - now_ms.rem_euclid(1000);
        Fetch::Quote {
            price: Self::price(ticker, market_time_ms),
            currency: "USD".to_owned(),
            market_time_ms,
            previous_close: Some(Self::previous_close(ticker, market_time_ms)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_positive_and_moving() {
        let a = SimMarket::price("AAPL", 1_000_000);
        assert_eq!(a, SimMarket::price("AAPL", 1_000_000));
        assert!(a > 0.0);
        assert_ne!(a, SimMarket::price("AAPL", 1_000_000 + 150_000));
        assert_ne!(a, SimMarket::price("MSFT", 1_000_000));
    }

    #[test]
    fn previous_close_is_the_days_first_price_and_moves_are_a_few_percent() {
        let day = 20_000 * DAY_MS;
        let close = SimMarket::previous_close("AAPL", day + 3_600_000);
        assert_eq!(close, SimMarket::price("AAPL", day));
        assert_eq!(close, SimMarket::previous_close("AAPL", day + DAY_MS - 1));
        assert!(close > 0.0);
        // Within ten minutes the price is somewhere on its ±5 % swing: a move of a few
        // percent from the close happens, none of more than about 10 %.
        let moves: Vec<f64> = (0..600)
            .map(|s| (SimMarket::price("AAPL", day + 3_600_000 + s * 1000) - close) / close * 100.0)
            .collect();
        assert!(moves.iter().any(|m| m.abs() >= 3.0), "{moves:?}");
        assert!(moves.iter().all(|m| m.abs() < 10.6), "{moves:?}");
        match SimMarket.fetch("AAPL", day + 5_000) {
            Fetch::Quote { previous_close, .. } => assert_eq!(previous_close, Some(close)),
            other => panic!("{other:?}"),
        }
    }
}
