use std::num::NonZeroU32;
use std::time::Duration;

use reqwest::Url;
use tickermesh_core::config::{positive_var, var, ConfigError};
use tickermesh_core::events::DEFAULT_QUOTES_TOPIC;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarketKind {
    Yahoo,
    Sim,
}

impl std::str::FromStr for MarketKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "yahoo" => Ok(Self::Yahoo),
            "sim" => Ok(Self::Sim),
            other => Err(format!("must be yahoo or sim, not {other:?}")),
        }
    }
}

/// Requests per second toward the market data service unless configured: 10,000 tickers a
/// tick take 200 s at this pace, so larger watch lists need a higher limit (and a longer
/// collector period).
pub const DEFAULT_RATE_LIMIT: NonZeroU32 = match NonZeroU32::new(50) {
    Some(n) => n,
    None => NonZeroU32::MIN,
};

/// The collector's settings (beyond the database and port every function has).
#[derive(Debug, Clone)]
pub struct CollectConfig {
    /// `TICKERMESH_MARKET`: `yahoo` (default) or `sim`.
    pub market: MarketKind,
    /// `TICKERMESH_YAHOO_BASE_URL`.
    pub yahoo_base_url: Url,
    /// `TICKERMESH_YAHOO_TIMEOUT_MS`: per request.
    pub yahoo_timeout: Duration,
    /// `TICKERMESH_YAHOO_RATE_LIMIT`: requests per second at most (evenly spaced).
    pub yahoo_rate_limit: NonZeroU32,
    /// `TICKERMESH_COLLECT_CONCURRENCY`: requests in flight at once.
    pub concurrency: usize,
    /// `TICKERMESH_BREAKER_FAILURES`: consecutive upstream failures that open the breaker.
    pub breaker_failures: u32,
    /// `TICKERMESH_BREAKER_COOLDOWN_SECS`: how long it stays open before a probe.
    pub breaker_cooldown: Duration,
    /// `TICKERMESH_QUOTES_TOPIC`.
    pub quotes_topic: String,
}

impl CollectConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let concurrency: usize = positive_var("TICKERMESH_COLLECT_CONCURRENCY", 100)?;
        let default_base =
            Url::parse("https://query2.finance.yahoo.com").map_err(|e| ConfigError {
                var: "TICKERMESH_YAHOO_BASE_URL".into(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            market: var("TICKERMESH_MARKET", MarketKind::Yahoo)?,
            yahoo_base_url: var("TICKERMESH_YAHOO_BASE_URL", default_base)?,
            yahoo_timeout: Duration::from_millis(var("TICKERMESH_YAHOO_TIMEOUT_MS", 5000)?),
            yahoo_rate_limit: var("TICKERMESH_YAHOO_RATE_LIMIT", DEFAULT_RATE_LIMIT)?,
            concurrency,
            breaker_failures: var("TICKERMESH_BREAKER_FAILURES", 5)?,
            breaker_cooldown: Duration::from_secs(var("TICKERMESH_BREAKER_COOLDOWN_SECS", 30)?),
            quotes_topic: var("TICKERMESH_QUOTES_TOPIC", DEFAULT_QUOTES_TOPIC.to_owned())?,
        })
    }
}
