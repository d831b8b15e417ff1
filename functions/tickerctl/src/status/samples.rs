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
    "tickermesh_digest_runs_total",
    "tickermesh_retention_passes_total",
    "tickermesh_retention_last_pass_timestamp_seconds",
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
    use proptest::prelude::*;

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

    /// A sample as the Prometheus text format writes it (label values escaped: `\\`, `\"`,
    /// `\n`), with a timestamp or not.
    fn render(sample: &Sample, timestamp: Option<i64>) -> String {
        let labels: Vec<String> = sample
            .labels
            .iter()
            .map(|(k, v)| {
                let v = v
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                format!("{k}=\"{v}\"")
            })
            .collect();
        let value = match sample.value {
            v if v.is_nan() => "NaN".to_owned(),
            v if v == f64::INFINITY => "+Inf".to_owned(),
            v if v == f64::NEG_INFINITY => "-Inf".to_owned(),
            v => v.to_string(),
        };
        let labels = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{}}}", labels.join(","))
        };
        match timestamp {
            Some(t) => format!("{}{labels} {value} {t}", sample.name),
            None => format!("{}{labels} {value}", sample.name),
        }
    }

    fn sample() -> impl Strategy<Value = Sample> {
        (
            "[a-zA-Z_:][a-zA-Z0-9_:]{0,30}",
            proptest::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_]{0,12}", any::<String>(), 0..4),
            any::<f64>(),
        )
            .prop_map(|(name, labels, value)| Sample {
                name,
                labels,
                value,
            })
    }

    fn same(a: &Sample, b: &Sample) -> bool {
        a.name == b.name
            && a.labels == b.labels
            && (a.value.to_bits() == b.value.to_bits() || (a.value.is_nan() && b.value.is_nan()))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// Any text, and text made of the format's own characters: no panic, and every sample
        /// read has a name with neither braces nor blanks around it.
        #[test]
        fn any_text_is_read_or_skipped(text in prop_oneof![
            any::<String>(),
            "[a-z_{}=\",\\\\ \t\n#0-9.eE+-]{0,300}",
        ]) {
            let lines = text.lines().count();
            let samples = parse_text(&text);
            prop_assert!(samples.len() <= lines);
            for s in samples {
                prop_assert!(!s.name.contains('{'), "{s:?}");
                prop_assert_eq!(s.name.trim(), s.name.as_str());
            }
        }

        /// What a Prometheus client writes (with HELP and TYPE lines, any label values, any
        /// value including NaN and ±Inf, with or without a timestamp) is read back exactly.
        #[test]
        fn exposition_round_trips(
            samples in proptest::collection::vec((sample(), proptest::option::of(any::<i64>())), 0..8),
        ) {
            let text: String = samples
                .iter()
                .map(|(s, t)| format!("# HELP {} any text {{\n# TYPE {} gauge\n{}\n", s.name, s.name, render(s, *t)))
                .collect();
            let read = parse_text(&text);
            prop_assert_eq!(read.len(), samples.len(), "{}", text);
            for (got, (want, _)) in read.iter().zip(&samples) {
                prop_assert!(same(got, want), "{got:?} != {want:?} from {text}");
            }
        }
    }
}
