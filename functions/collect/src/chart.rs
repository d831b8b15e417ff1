//! Yahoo Finance's chart API (`/v8/finance/chart/{symbol}`): the part of the JSON we read.
//!
//! Success: `chart.result[0].meta` holds `regularMarketPrice`, `regularMarketTime` (Unix
//! seconds) and `currency`; the series next to it may hold `null`s, which we never read. The
//! previous session's close is `chartPreviousClose` (and `previousClose` on some answers):
//! the reference of percent-move rules, optional, so a missing or odd one never costs the
//! quote.
//! Unknown symbol: HTTP 404 with `chart.error.code = "Not Found"` and `chart.result = null`.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Envelope {
    chart: Chart,
}

#[derive(Debug, Deserialize)]
struct Chart {
    result: Option<Vec<ChartResult>>,
    error: Option<ChartError>,
}

#[derive(Debug, Deserialize)]
struct ChartResult {
    meta: Meta,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    currency: Option<String>,
    regular_market_price: Option<f64>,
    regular_market_time: Option<i64>,
    /// Read as any JSON value: a previous close of the wrong type is no previous close, not a
    /// body that fails to parse.
    previous_close: Option<serde_json::Value>,
    chart_previous_close: Option<serde_json::Value>,
}

impl Meta {
    /// `previousClose` when it is a positive number, else `chartPreviousClose` when it is one.
    fn previous_close(&self) -> Option<f64> {
        let positive = |v: &Option<serde_json::Value>| {
            v.as_ref()
                .and_then(serde_json::Value::as_f64)
                .filter(|c| c.is_finite() && *c > 0.0)
        };
        positive(&self.previous_close).or_else(|| positive(&self.chart_previous_close))
    }
}

#[derive(Debug, Deserialize)]
struct ChartError {
    code: Option<String>,
    description: Option<String>,
}

/// What one chart response says.
#[derive(Debug, Clone, PartialEq)]
pub enum ChartQuote {
    Price {
        price: f64,
        currency: String,
        market_time_ms: i64,
        /// The previous session's close, when the answer has a sane one.
        previous_close: Option<f64>,
    },
    /// The symbol does not exist.
    NotFound,
    /// The symbol exists but has no current price (e.g. delisted).
    NoPrice,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ParseError {
    #[error("not chart JSON: {0}")]
    Json(String),
    #[error("chart error {code}: {description}")]
    Api { code: String, description: String },
}

/// Parses a chart response body (of a 200 or a 404).
pub fn parse(body: &[u8]) -> Result<ChartQuote, ParseError> {
    let envelope: Envelope =
        serde_json::from_slice(body).map_err(|e| ParseError::Json(e.to_string()))?;
    if let Some(err) = envelope.chart.error {
        let code = err.code.unwrap_or_default();
        if code == "Not Found" {
            return Ok(ChartQuote::NotFound);
        }
        return Err(ParseError::Api {
            code,
            description: err.description.unwrap_or_default(),
        });
    }
    let Some(meta) = envelope
        .chart
        .result
        .and_then(|r| r.into_iter().next())
        .map(|r| r.meta)
    else {
        return Ok(ChartQuote::NoPrice);
    };
    match (meta.regular_market_price, meta.regular_market_time) {
        (Some(price), Some(time)) if price.is_finite() && price > 0.0 => Ok(ChartQuote::Price {
            price,
            previous_close: meta.previous_close(),
            currency: meta.currency.unwrap_or_else(|| "USD".to_owned()),
            market_time_ms: time.saturating_mul(1000),
        }),
        _ => Ok(ChartQuote::NoPrice),
    }
}

/// A chart body of the real shape, for the simulated market and for tests; its previous close
/// is the price.
pub fn success_body(symbol: &str, price: f64, currency: &str, market_time_s: i64) -> String {
    success_body_with_close(symbol, price, Some(price), currency, market_time_s)
}

/// [`success_body`] with `chartPreviousClose` given, or left out with `None`.
pub fn success_body_with_close(
    symbol: &str,
    price: f64,
    previous_close: Option<f64>,
    currency: &str,
    market_time_s: i64,
) -> String {
    let mut body = serde_json::json!({
        "chart": {
            "result": [{
                "meta": {
                    "currency": currency,
                    "symbol": symbol,
                    "exchangeName": "NMS",
                    "instrumentType": "EQUITY",
                    "regularMarketPrice": price,
                    "regularMarketTime": market_time_s,
                    "chartPreviousClose": previous_close,
                    "dataGranularity": "1d",
                    "range": "1d"
                },
                "timestamp": [market_time_s - 60, market_time_s],
                "indicators": {"quote": [{
                    "open": [null, price], "high": [null, price], "low": [null, price],
                    "close": [null, price], "volume": [null, 1000]
                }]}
            }],
            "error": null
        }
    });
    if previous_close.is_none() {
        let meta = body.pointer_mut("/chart/result/0/meta");
        if let Some(meta) = meta.and_then(serde_json::Value::as_object_mut) {
            meta.remove("chartPreviousClose");
        }
    }
    body.to_string()
}

/// The body Yahoo sends with HTTP 404 for an unknown symbol.
pub fn not_found_body() -> String {
    serde_json::json!({
        "chart": {
            "result": null,
            "error": {"code": "Not Found", "description": "No data found, symbol may be delisted"}
        }
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_with_nulls_in_the_series() {
        let body = success_body("AAPL", 189.25, "USD", 1_700_000_000);
        assert_eq!(
            parse(body.as_bytes()).unwrap(),
            ChartQuote::Price {
                price: 189.25,
                currency: "USD".into(),
                market_time_ms: 1_700_000_000_000,
                previous_close: Some(189.25),
            }
        );
    }

    #[test]
    fn previous_close_table() {
        // (meta fields beside the price, previous close read)
        let cases: &[(&str, Option<f64>)] = &[
            (r#""chartPreviousClose":180.5"#, Some(180.5)),
            (
                r#""previousClose":181,"chartPreviousClose":180.5"#,
                Some(181.0),
            ),
            (
                r#""previousClose":0,"chartPreviousClose":180.5"#,
                Some(180.5),
            ),
            (
                r#""previousClose":-2,"chartPreviousClose":180.5"#,
                Some(180.5),
            ),
            (
                r#""previousClose":null,"chartPreviousClose":180.5"#,
                Some(180.5),
            ),
            (
                r#""previousClose":"181","chartPreviousClose":180.5"#,
                Some(180.5),
            ),
            (r#""previousClose":181"#, Some(181.0)),
            (r#""chartPreviousClose":0"#, None),
            (r#""chartPreviousClose":"x""#, None),
            (r#""chartPreviousClose":{"a":1}"#, None),
            (r#""other":1"#, None),
        ];
        for &(fields, expected) in cases {
            let body = format!(
                r#"{{"chart":{{"result":[{{"meta":{{"currency":"USD","regularMarketPrice":190,"regularMarketTime":1,{fields}}}}}],"error":null}}}}"#
            );
            match parse(body.as_bytes()) {
                Ok(ChartQuote::Price { previous_close, .. }) => {
                    assert_eq!(previous_close, expected, "{fields}")
                }
                other => panic!("{fields}: {other:?}"),
            }
        }
    }

    #[test]
    fn bodies_with_and_without_a_previous_close() {
        let with = success_body_with_close("AAPL", 105.2, Some(100.0), "USD", 1);
        let without = success_body_with_close("AAPL", 105.2, None, "USD", 1);
        assert!(!without.contains("chartPreviousClose"), "{without}");
        let close = |body: &str| match parse(body.as_bytes()) {
            Ok(ChartQuote::Price { previous_close, .. }) => previous_close,
            other => panic!("{other:?}"),
        };
        assert_eq!(close(&with), Some(100.0));
        assert_eq!(close(&without), None);
    }

    #[test]
    fn not_found_and_other_errors() {
        assert_eq!(
            parse(not_found_body().as_bytes()).unwrap(),
            ChartQuote::NotFound
        );
        let other = r#"{"chart":{"result":null,"error":{"code":"Bad Request","description":"Invalid input"}}}"#;
        assert!(matches!(
            parse(other.as_bytes()),
            Err(ParseError::Api { code, .. }) if code == "Bad Request"
        ));
        assert!(matches!(parse(b"<html>"), Err(ParseError::Json(_))));
    }

    #[test]
    fn missing_price_is_no_price() {
        let body = r#"{"chart":{"result":[{"meta":{"currency":"EUR","regularMarketPrice":null,"regularMarketTime":1}}],"error":null}}"#;
        assert_eq!(parse(body.as_bytes()).unwrap(), ChartQuote::NoPrice);
        let empty = r#"{"chart":{"result":[],"error":null}}"#;
        assert_eq!(parse(empty.as_bytes()).unwrap(), ChartQuote::NoPrice);
    }
}
