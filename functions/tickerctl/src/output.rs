//! What tickerctl prints: a line of text for people, or JSON (`--json`) for scripts.

use std::time::{Duration, UNIX_EPOCH};

use serde_json::{json, Value};
use tickermesh_api::v1::{Quote, User, Watch, WatchStatus};

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
    let mut text = format!(
        "{verb} {} watching {} (min {}, max {}{})",
        u.email,
        u.ticker,
        bound(u.min_price),
        bound(u.max_price),
        rules(u.move_percent, u.cooldown_seconds)
    );
    // The delivery settings when they are not the defaults (mailed at once, UTC).
    match &u.quiet_hours {
        Some(q) => text.push_str(&format!(
            ", quiet hours {}-{} {}",
            q.start, q.end, u.time_zone
        )),
        None if !u.time_zone.is_empty() && u.time_zone != "UTC" => {
            text.push_str(&format!(", time zone {}", u.time_zone));
        }
        None => {}
    }
    let quiet = u
        .quiet_hours
        .as_ref()
        .map_or(Value::Null, |q| json!({ "start": q.start, "end": q.end }));
    Output::new(
        text,
        json!({
            "email": u.email, "ticker": u.ticker, "min_price": u.min_price, "max_price": u.max_price,
            "move_percent": u.move_percent, "cooldown_seconds": u.cooldown_seconds,
            "time_zone": u.time_zone, "quiet_hours": quiet,
            "created_at": time(u.created_at_unix_ms), "updated_at": time(u.updated_at_unix_ms),
        }),
    )
}

fn bound(v: Option<f64>) -> String {
    v.map_or_else(|| "none".to_owned(), |p| format!("{p}"))
}

fn percent(v: Option<f64>) -> String {
    v.map_or_else(|| "none".to_owned(), |p| format!("{p}%"))
}

fn cooldown(seconds: u32) -> String {
    if seconds == 0 {
        return "none".to_owned();
    }
    humantime::format_duration(Duration::from_secs(seconds.into())).to_string()
}

/// A watch's rules beyond its thresholds, when it has any: ", move 5%, cooldown 30m".
fn rules(move_percent: Option<f64>, cooldown_seconds: u32) -> String {
    let mut text = String::new();
    if move_percent.is_some() {
        text.push_str(&format!(", move {}", percent(move_percent)));
    }
    if cooldown_seconds > 0 {
        text.push_str(&format!(", cooldown {}", cooldown(cooldown_seconds)));
    }
    text
}

/// One watch as a command returns it: "AAPL (min 150, max 250, armed)".
pub fn watch(w: &Watch) -> Output {
    Output::new(
        format!(
            "{} (min {}, max {}{}, {})",
            w.ticker,
            bound(w.min_price),
            bound(w.max_price),
            rules(w.move_percent, w.cooldown_seconds),
            w.alert_state
        ),
        watch_json(w),
    )
}

fn watch_json(w: &Watch) -> Value {
    json!({
        "ticker": w.ticker, "min_price": w.min_price, "max_price": w.max_price,
        "move_percent": w.move_percent, "cooldown_seconds": w.cooldown_seconds,
        "alert_state": w.alert_state,
        "created_at": time(w.created_at_unix_ms), "updated_at": time(w.updated_at_unix_ms),
    })
}

/// The watchlist as a table: ticker, thresholds, move rule, cooldown, alert state, the latest
/// price and its time, and a mark on a symbol the market data service does not know.
pub fn watchlist(email: &str, watches: &[WatchStatus]) -> Output {
    let header = [
        "TICKER",
        "MIN",
        "MAX",
        "MOVE",
        "COOLDOWN",
        "ALERT",
        "LATEST",
        "MARKET TIME",
        "",
    ]
    .map(str::to_owned);
    let mut rows = vec![header];
    let mut items = Vec::with_capacity(watches.len());
    for status in watches {
        let w = status.watch.clone().unwrap_or_default();
        let (price, at) = match &status.latest {
            Some(q) => (
                format!("{:.4} {}", q.price, q.currency),
                time(q.market_time_unix_ms),
            ),
            None => ("-".to_owned(), "-".to_owned()),
        };
        let mark = if status.unknown_symbol {
            "unknown symbol"
        } else {
            ""
        };
        rows.push([
            w.ticker.clone(),
            bound(w.min_price),
            bound(w.max_price),
            percent(w.move_percent),
            cooldown(w.cooldown_seconds),
            w.alert_state.clone(),
            price,
            at,
            mark.to_owned(),
        ]);
        let mut item = watch_json(&w);
        item["latest"] = status.latest.as_ref().map_or(Value::Null, quote_json);
        item["unknown_symbol"] = json!(status.unknown_symbol);
        items.push(item);
    }
    let mut text = format!("{email} watches {} tickers\n", watches.len());
    text.push_str(&table(&rows));
    Output::new(text, json!({ "email": email, "watches": items }))
}

/// Rows of cells as lines of left-aligned columns, each as wide as its widest cell.
pub fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    for row in rows {
        let mut line = String::new();
        for (cell, w) in row.iter().zip(widths) {
            line.push_str(&format!("{cell:<w$}  "));
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
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
    use tickermesh_api::v1::{Quote, Watch, WatchStatus};

    #[test]
    fn a_watchlist_is_a_table_with_unknown_symbols_marked() {
        let watches = [
            WatchStatus {
                watch: Some(Watch {
                    ticker: "AAPL".into(),
                    min_price: Some(150.0),
                    max_price: None,
                    alert_state: "armed".into(),
                    move_percent: Some(5.0),
                    cooldown_seconds: 1800,
                    ..Default::default()
                }),
                latest: Some(Quote {
                    ticker: "AAPL".into(),
                    price: 153.2,
                    currency: "USD".into(),
                    market_time_unix_ms: 0,
                    ..Default::default()
                }),
                unknown_symbol: false,
            },
            WatchStatus {
                watch: Some(Watch {
                    ticker: "NOPE".into(),
                    alert_state: "armed".into(),
                    ..Default::default()
                }),
                latest: None,
                unknown_symbol: true,
            },
        ];
        let out = super::watchlist("ada@example.com", &watches);
        let lines: Vec<&str> = out.text.lines().collect();
        assert_eq!(lines[0], "ada@example.com watches 2 tickers");
        assert!(lines[1].starts_with("TICKER  MIN"), "{}", out.text);
        assert!(
            lines[2].starts_with("AAPL")
                && lines[2].contains("150")
                && lines[2].contains("153.2000 USD")
                && lines[2].contains("1970-01-01T00:00:00Z")
                && lines[2].contains(" 5% ")
                && lines[2].contains(" 30m ")
                && !lines[2].contains("unknown"),
            "{}",
            out.text
        );
        assert!(lines[3].starts_with("NOPE") && lines[3].ends_with("unknown symbol"));
        // The columns line up: each row's price starts where the header's LATEST does.
        let col = lines[1].find("LATEST").unwrap();
        assert_eq!(lines[2].find("153.2000"), Some(col));
        assert_eq!(out.json["watches"][1]["unknown_symbol"], true);
        assert!(out.json["watches"][1]["latest"].is_null());
        assert_eq!(out.json["watches"][0]["latest"]["price"], 153.2);
        assert_eq!(out.json["watches"][0]["cooldown_seconds"], 1800);
        assert_eq!(
            out.json["watches"][1]["move_percent"],
            serde_json::Value::Null
        );
        let one = super::watch(watches[0].watch.as_ref().unwrap());
        assert_eq!(
            one.text,
            "AAPL (min 150, max none, move 5%, cooldown 30m, armed)"
        );
    }

    #[test]
    fn any_time_prints() {
        assert_eq!(super::time(0), "1970-01-01T00:00:00Z");
        assert!(super::time(i64::MAX).contains("ms since"));
        assert!(super::time(-5).contains("ms since"));
    }
}
