//! Yahoo Finance's chart API (`/v8/finance/chart/{symbol}`): the part of the JSON we read.
//!
//! Success: `chart.result[0].meta` holds `regularMarketPrice`, `regularMarketTime` (Unix
//! seconds) and `currency`; the series next to it may hold `null`s, which we never read.
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
            currency: meta.currency.unwrap_or_else(|| "USD".to_owned()),
            market_time_ms: time.saturating_mul(1000),
        }),
        _ => Ok(ChartQuote::NoPrice),
    }
}

/// A chart body of the real shape, for the simulated market and for tests.
pub fn success_body(symbol: &str, price: f64, currency: &str, market_time_s: i64) -> String {
    serde_json::json!({
        "chart": {
            "result": [{
                "meta": {
                    "currency": currency,
                    "symbol": symbol,
                    "exchangeName": "NMS",
                    "instrumentType": "EQUITY",
                    "regularMarketPrice": price,
                    "regularMarketTime": market_time_s,
                    "chartPreviousClose": price,
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
    })
    .to_string()
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
                market_time_ms: 1_700_000_000_000
            }
        );
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
