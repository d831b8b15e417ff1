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

/// RFC 3339 in UTC.
pub fn time(unix_ms: i64) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(u64::try_from(unix_ms).unwrap_or(0));
    humantime::format_rfc3339_seconds(at).to_string()
}
