//! What tickerctl prints: a line of text for people, or JSON (`--json`) for scripts.

use std::time::{Duration, UNIX_EPOCH};

use serde_json::{json, Value};
use tickermesh_api::v1::{Quote, User};

pub struct Output {
    pub text: String,
    pub json: Value,
}

impl Output {
    pub fn new(text: String, json: Value) -> Self {
        Self { text, json }
    }

    pub fn print(&self, json: bool) {
        if json {
            println!("{}", self.json);
        } else {
            println!("{}", self.text.trim_end());
        }
    }
}

/// A user as a command returns it, after `verb` ("registered", "updated").
pub fn user(verb: &str, user: Option<User>) -> Output {
    let u = user.unwrap_or_default();
    let bound = |v: Option<f64>| v.map_or_else(|| "none".to_owned(), |p| format!("{p}"));
    Output::new(
        format!(
            "{verb} {} watching {} (min {}, max {})",
            u.email,
            u.ticker,
            bound(u.min_price),
            bound(u.max_price)
        ),
        json!({
            "email": u.email, "ticker": u.ticker, "min_price": u.min_price, "max_price": u.max_price,
            "created_at": time(u.created_at_unix_ms), "updated_at": time(u.updated_at_unix_ms),
        }),
    )
}

pub fn quote_json(q: &Quote) -> Value {
    json!({
        "ticker": q.ticker, "price": q.price, "currency": q.currency,
        "market_time": time(q.market_time_unix_ms), "collected_at": time(q.collected_at_unix_ms),
    })
}

/// The last second RFC 3339 can write (9999-12-31T23:59:59Z).
const RFC3339_MAX_MS: i64 = 253_402_300_799_999;

/// RFC 3339 in UTC; a time it cannot write (after year 9999, before 1970) as milliseconds,
/// so that no answer from a server can make the client panic.
pub fn time(unix_ms: i64) -> String {
    match u64::try_from(unix_ms) {
        Ok(ms) if unix_ms <= RFC3339_MAX_MS => {
            humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
        }
        _ => format!("{unix_ms} ms since 1970"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn any_time_prints() {
        assert_eq!(super::time(0), "1970-01-01T00:00:00Z");
        assert!(super::time(i64::MAX).contains("ms since"));
        assert!(super::time(-5).contains("ms since"));
    }
}
