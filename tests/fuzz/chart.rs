//! The Yahoo chart body (`tickermesh_collect::chart::parse`): arbitrary bytes, and JSON of the
//! chart API's shape with any values in `chart.result[0].meta` and `chart.error`.

use proptest::prelude::*;
use tickermesh_collect::chart::{parse, ChartQuote, ParseError};

use crate::numbers::{json_number, json_other};

/// A field of `meta`: absent, a number, or something else.
fn field(
    name: &'static str,
    value: impl Strategy<Value = String>,
) -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just(String::new()),
        4 => value.prop_map(move |v| format!("\"{name}\":{v},")),
        1 => json_other().prop_map(move |v| format!("\"{name}\":{v},")),
    ]
}

fn currency() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("\"USD\"".to_owned()),
        any::<String>().prop_map(|s| serde_json::Value::String(s).to_string()),
    ]
}

/// A body of the chart API's shape; `meta` and `error` hold anything.
fn chart_body() -> impl Strategy<Value = String> {
    let meta = (
        field("regularMarketPrice", json_number()),
        field("regularMarketTime", json_number()),
        field("currency", currency()),
    )
        .prop_map(|(p, t, c)| format!("{{{p}{t}{c}\"symbol\":\"X\"}}"));
    let result = prop_oneof![
        meta.prop_map(|m| format!("[{{\"meta\":{m},\"timestamp\":[null]}}]")),
        Just("[]".to_owned()),
        Just("null".to_owned()),
        Just("[{}]".to_owned()),
    ];
    let error = prop_oneof![
        Just("null".to_owned()),
        Just(r#"{"code":"Not Found","description":"No data found"}"#.to_owned()),
        (any::<String>(), json_other()).prop_map(|(code, d)| format!(
            r#"{{"code":{},"description":{d}}}"#,
            serde_json::Value::String(code)
        )),
    ];
    (result, error).prop_map(|(r, e)| format!(r#"{{"chart":{{"result":{r},"error":{e}}}}}"#))
}

/// What `meta` says, read as JSON on its own, to compare the parser's answer with.
fn expected(body: &str) -> Option<(f64, i64, Option<String>)> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let meta = v.pointer("/chart/result/0/meta")?;
    let price = meta.get("regularMarketPrice")?.as_f64()?;
    let time = meta.get("regularMarketTime")?.as_i64()?;
    let currency = meta
        .get("currency")
        .and_then(|c| c.as_str())
        .map(str::to_owned);
    Some((price, time, currency))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Any bytes: a quote, a "no price", "not found", or an error; never a panic.
    #[test]
    fn any_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse(&body);
    }

    /// Chart JSON with any values: a price is finite and positive, with the body's own time
    /// in milliseconds (saturated, never overflowing) and its currency (USD when absent);
    /// "Not Found" is `NotFound`; a value of the wrong type is a JSON error.
    #[test]
    fn chart_shaped_json(body in chart_body()) {
        let parsed = parse(body.as_bytes());
        let not_found = body.contains(r#""code":"Not Found""#);
        match parsed {
            Ok(ChartQuote::Price { price, currency, market_time_ms, .. }) => {
                prop_assert!(!not_found);
                prop_assert!(price.is_finite() && price > 0.0, "{price}");
                let (p, t, c) = expected(&body).expect("a price comes from meta");
                prop_assert_eq!(price, p);
                prop_assert_eq!(market_time_ms, t.saturating_mul(1000));
                prop_assert_eq!(currency, c.unwrap_or_else(|| "USD".to_owned()));
            }
            Ok(ChartQuote::NotFound) => prop_assert!(not_found, "{}", body),
            Ok(ChartQuote::NoPrice) => {
                let usable = expected(&body).is_some_and(|(p, _, _)| p.is_finite() && p > 0.0);
                prop_assert!(!usable, "a usable price was dropped: {}", body);
            }
            Err(ParseError::Api { .. }) => {
                let api_error = body.contains(r#""error":{"code""#);
                prop_assert!(api_error, "{}", body);
            }
            Err(ParseError::Json(e)) => prop_assert!(!e.is_empty()),
        }
    }
}
