//! `tickermesh seed`: simulated quotes straight into the database, for demos and benchmarks.

use tickermesh_core::domain::Ticker;
use tickermesh_core::store::quotes::{self, Quote};
use tickermesh_core::store::Store;
use tickermesh_core::{now_unix_ms, Result};

/// Writes `count` one-minute quotes ending now: a deterministic walk around `start` that stays
/// positive. Returns how many were new.
pub async fn seed(store: &Store, ticker: &Ticker, count: u32, start: f64) -> Result<u32> {
    let now = now_unix_ms();
    let mut price = start;
    let mut stored = 0;
    for i in 0..count {
        // A fixed pseudo-random step in [-1%, +1%].
        let step = ((i64::from(i).wrapping_mul(7919) % 201) - 100) as f64 / 10_000.0;
        price = (price * (1.0 + step)).max(0.01);
        let market_time_ms = now - i64::from(count - i) * 60_000;
        let quote = Quote {
            ticker: ticker.as_str().to_owned(),
            price: (price * 100.0).round() / 100.0,
            currency: "USD".to_owned(),
            market_time_ms,
            collected_at_ms: market_time_ms,
            simulated: true,
        };
        if quotes::insert(store.pool(), store.backend(), &quote).await? {
            stored += 1;
        }
    }
    Ok(stored)
}
