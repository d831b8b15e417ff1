//! `tickerctl alerts`: the user's alerts as a table, newest first — when, which ticker and
//! rule, the price against the threshold, and what became of the e-mail.

use serde_json::{json, Value};
use tickermesh_api::v1::{AlertRecord, DeliveryStatus};

use crate::output::{time, Output};

const HEADER: [&str; 6] = ["TIME", "TICKER", "RULE", "PRICE", "THRESHOLD", "STATUS"];

pub fn table(email: &str, alerts: &[AlertRecord]) -> Output {
    let mut rows = vec![HEADER.map(str::to_owned)];
    rows.extend(alerts.iter().map(|a| {
        [
            time(a.created_at_unix_ms),
            a.ticker.clone(),
            a.rule.clone(),
            format!("{:.4} {}", a.price, a.currency),
            threshold(a),
            status(a),
        ]
    }));
    let mut text = format!("{} alerts for {email}, newest first\n", alerts.len());
    text.push_str(&crate::output::table(&rows));
    let items: Vec<Value> = alerts.iter().map(alert_json).collect();
    Output::new(text, json!({ "email": email, "alerts": items }))
}

/// A price threshold as a price; a move's as its percent (and the close it is measured from).
fn threshold(a: &AlertRecord) -> String {
    match a.rule.as_str() {
        "up" | "down" => match a.reference {
            Some(close) => format!("{}% of {close:.4}", a.threshold),
            None => format!("{}%", a.threshold),
        },
        _ => format!("{:.4}", a.threshold),
    }
}

fn status_name(a: &AlertRecord) -> &'static str {
    match DeliveryStatus::try_from(a.status).unwrap_or(DeliveryStatus::Unspecified) {
        DeliveryStatus::Pending => "pending",
        DeliveryStatus::Sent => "sent",
        DeliveryStatus::Failed => "failed",
        DeliveryStatus::Suppressed => "suppressed",
        DeliveryStatus::Held => "held",
        DeliveryStatus::Unspecified => "unknown",
    }
}

/// "sent", "sent (digest)", "held until <time>", "suppressed (cooldown)".
fn status(a: &AlertRecord) -> String {
    let name = status_name(a);
    let mut s = name.to_owned();
    if a.deliver_after_unix_ms != 0 {
        s.push_str(&format!(" until {}", time(a.deliver_after_unix_ms)));
    }
    if !a.detail.is_empty() {
        s.push_str(&format!(" ({})", a.detail));
    }
    s
}

fn alert_json(a: &AlertRecord) -> Value {
    let at = |ms: i64| {
        if ms == 0 {
            Value::Null
        } else {
            json!(time(ms))
        }
    };
    json!({
        "alert_id": a.alert_id, "ticker": a.ticker, "rule": a.rule,
        "price": a.price, "currency": a.currency, "threshold": a.threshold,
        "reference": a.reference, "market_time": time(a.market_time_unix_ms),
        "created_at": time(a.created_at_unix_ms), "status": status_name(a),
        "detail": a.detail, "handled_at": at(a.handled_at_unix_ms),
        "deliver_after": at(a.deliver_after_unix_ms), "simulated": a.simulated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(rule: &str, status: DeliveryStatus, detail: &str) -> AlertRecord {
        AlertRecord {
            alert_id: format!("AAPL/1/{rule}/0"),
            ticker: "AAPL".into(),
            rule: rule.into(),
            price: 251.5,
            currency: "USD".into(),
            threshold: 250.0,
            created_at_unix_ms: 60_000,
            status: status as i32,
            detail: detail.into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_table_with_a_status_and_its_detail() {
        let mut held = alert("below", DeliveryStatus::Held, "");
        held.deliver_after_unix_ms = 3_600_000;
        let mut up = alert("up", DeliveryStatus::Suppressed, "cooldown");
        up.threshold = 5.0;
        up.reference = Some(240.0);
        let alerts = [alert("above", DeliveryStatus::Sent, "digest"), held, up];
        let out = table("ada@example.com", &alerts);
        let lines: Vec<&str> = out.text.lines().collect();
        assert_eq!(lines[0], "3 alerts for ada@example.com, newest first");
        assert!(lines[1].starts_with("TIME") && lines[1].ends_with("STATUS"));
        assert!(
            lines[2].starts_with("1970-01-01T00:01:00Z  AAPL"),
            "{}",
            out.text
        );
        assert!(lines[2].contains("251.5000 USD") && lines[2].contains("250.0000"));
        assert!(lines[2].ends_with("sent (digest)"), "{}", out.text);
        assert!(
            lines[3].ends_with("held until 1970-01-01T01:00:00Z"),
            "{}",
            out.text
        );
        assert!(lines[4].contains("5% of 240.0000"), "{}", out.text);
        assert!(lines[4].ends_with("suppressed (cooldown)"), "{}", out.text);
        // The columns line up under the header.
        let col = lines[1].find("STATUS").unwrap_or_default();
        assert_eq!(lines[2].find("sent"), Some(col));
        assert_eq!(out.json["alerts"][1]["status"], "held");
        assert!(out.json["alerts"][0]["handled_at"].is_null());
    }

    #[test]
    fn no_alerts() {
        let out = table("ada@example.com", &[]);
        assert_eq!(out.text.lines().count(), 2);
        assert_eq!(out.json["alerts"], json!([]));
    }
}
