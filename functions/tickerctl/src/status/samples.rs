//! Metric samples, from a function's `/metrics` text or from a Prometheus server's query API.

use serde::Deserialize;
use std::collections::BTreeMap;

/// One sample: a metric name, its labels, its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.get(name).map(String::as_str)
    }
}

/// The metrics `tickerctl status` reads (and `up`, which only Prometheus has).
pub const STATUS_METRICS: &[&str] = &[
    "tickermesh_collector_last_iteration_timestamp_seconds",
    "tickermesh_yahoo_breaker_state",
    "tickermesh_alerts_emitted_total",
    "tickermesh_emails_total",
    "tickermesh_consumer_lag_messages",
    "tickermesh_events_total",
    "tickermesh_collector_iterations_total",
];

/// Parses the Prometheus text exposition format: `name{label="value",…} value [timestamp]`.
/// Lines it cannot read are skipped: the status shows what it can.
pub fn parse_text(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(parse_line)
        .collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let (name, rest) = match line.find('{') {
        Some(open) => (&line[..open], &line[open + 1..]),
        None => {
            let (name, rest) = line.split_once(' ')?;
            (name, rest)
        }
    };
    let mut labels = BTreeMap::new();
    let mut rest = rest;
    if line.contains('{') {
        loop {
            rest = rest.trim_start_matches(',');
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let (key, after) = rest.split_once("=\"")?;
            let (value, after) = quoted(after)?;
            labels.insert(key.trim().to_owned(), value);
            rest = after;
        }
    }
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some(Sample {
        name: name.trim().to_owned(),
        labels,
        value,
    })
}

/// A label value up to its closing quote, unescaped; returns it and the text after the quote.
fn quoted(text: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &text[i + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => value.push('\n'),
                other => value.push(other),
            },
            c => value.push(c),
        }
    }
    None
}

/// Reads a function's (or the local mesh's) `/metrics`.
pub async fn from_metrics(http: &reqwest::Client, url: &str) -> Result<Vec<Sample>, String> {
    let text = http
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| format!("cannot read {url}: {e}"))?
        .text()
        .await
        .map_err(|e| format!("cannot read {url}: {e}"))?;
    Ok(parse_text(&text))
}

#[derive(Deserialize)]
struct QueryResponse {
    status: String,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    data: Option<QueryData>,
}

#[derive(Deserialize)]
struct QueryData {
    result: Vec<VectorSample>,
}

#[derive(Deserialize)]
struct VectorSample {
    metric: BTreeMap<String, String>,
    value: (f64, String),
}

/// Asks a Prometheus server for the current value of every series `status` reads, from the
/// targets of scrape job `job`.
pub async fn from_prometheus(
    http: &reqwest::Client,
    base: &str,
    job: &str,
) -> Result<Vec<Sample>, String> {
    let query = format!(
        "{{__name__=~\"up|{}\",job=\"{job}\"}}",
        STATUS_METRICS.join("|")
    );
    let url = format!("{}/api/v1/query", base.trim_end_matches('/'));
    let fail = |e: String| format!("cannot query Prometheus at {base}: {e}");
    let response: QueryResponse = http
        .get(&url)
        .query(&[("query", query.as_str())])
        .send()
        .await
        .map_err(|e| fail(e.to_string()))?
        .json()
        .await
        .map_err(|e| fail(e.to_string()))?;
    if response.status != "success" {
        return Err(fail(response.error.unwrap_or(response.status)));
    }
    Ok(response
        .data
        .map(|d| d.result)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|mut s| {
            let name = s.metric.remove("__name__")?;
            Some(Sample {
                name,
                labels: s.metric,
                value: s.value.1.parse().ok()?,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_text_format() {
        let text = "# HELP x y\n# TYPE x counter\n\
                    tickermesh_emails_total{outcome=\"sent\"} 3\n\
                    tickermesh_yahoo_breaker_state 1\n\
                    weird{a=\"q\\\"uote\",b=\"c\"} 2.5 1700000000\n\
                    broken{a=\"unterminated 1\n";
        let samples = parse_text(text);
        assert_eq!(samples.len(), 3, "{samples:?}");
        assert_eq!(samples[0].name, "tickermesh_emails_total");
        assert_eq!(samples[0].label("outcome"), Some("sent"));
        assert_eq!(samples[0].value, 3.0);
        assert_eq!(samples[1].value, 1.0);
        assert!(samples[1].labels.is_empty());
        assert_eq!(samples[2].label("a"), Some("q\"uote"));
        assert_eq!(samples[2].label("b"), Some("c"));
        assert_eq!(samples[2].value, 2.5);
    }
}
