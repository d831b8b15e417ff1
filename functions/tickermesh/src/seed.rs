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
            previous_close: None,
        };
        if quotes::insert(store.pool(), store.backend(), &quote).await? {
            stored += 1;
        }
    }
    Ok(stored)
}

/// A confirmed user with `email` watching `ticker` (made if missing; an existing one keeps its
/// watch), with a new access token: any earlier token of the user stops working. For local
/// demos and benchmarks, which cannot read a mailbox.
pub async fn seed_user(
    store: &Store,
    email: &tickermesh_core::domain::Email,
    ticker: &Ticker,
) -> Result<tickermesh_core::access::AccessToken> {
    use tickermesh_core::access::AccessToken;
    use tickermesh_core::domain::Thresholds;
    use tickermesh_core::store::{access, users};
    let now = now_unix_ms();
    let mut tx = store.begin().await?;
    let user = match users::find(&mut *tx, email).await? {
        Some(user) => user,
        None => {
            let none = Thresholds::new(None, None)?;
            users::insert(&mut tx, email, ticker, none, Default::default(), now, 0).await?
        }
    };
    let token = AccessToken::generate()?;
    access::consume(
        &mut tx,
        store.backend(),
        user.id,
        token.hash().as_bytes(),
        now,
    )
    .await?;
    tx.commit()
        .await
        .map_err(|e| tickermesh_core::Error::db("commit a seeded user", e))?;
    Ok(token)
}

/// Writes `token` to a new file at `path`, readable by its owner only from the start (an
/// existing file is replaced).
pub fn write_token_file(path: &std::path::Path, token: &str) -> std::io::Result<()> {
    use std::io::Write;
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(token.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}
