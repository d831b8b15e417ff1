//! What `tickerctl status` shows, built from health answers and metric samples.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::samples::Sample;

/// Every function of the mesh, and the gRPC service whose health stands for it.
pub const FUNCTIONS: &[(&str, Option<&str>)] = &[
    ("register", Some("tickermesh.v1.UserCommands")),
    ("access", Some("tickermesh.v1.UserCommands")),
    ("update", Some("tickermesh.v1.UserCommands")),
    ("delete", Some("tickermesh.v1.UserCommands")),
    ("watch", Some("tickermesh.v1.UserCommands")),
    ("query", Some("tickermesh.v1.TickerQueries")),
    ("collect", None),
    ("evaluate", None),
    ("notify", None),
    // HTTP only (the one-click link), no gRPC health route in the router: its health is its
    // metrics, like the event functions'.
    ("unsubscribe", None),
    // Ticked by a schedule (a PingSource; a timer in the local mesh), like collect.
    ("digest", None),
    ("retention", None),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// gRPC health answered SERVING.
    Serving,
    /// Its metrics are there (and, through Prometheus, at least one pod answers scrapes).
    Up,
    /// No pod runs: Knative or KEDA scaled it to zero, which is normal when idle.
    ScaledToZero,
    Down,
    Unreachable,
    /// The metrics could not be read.
    Unknown,
}

impl Health {
    fn ok(self) -> bool {
        matches!(self, Self::Serving | Self::Up | Self::ScaledToZero)
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Serving => "serving",
            Self::Up => "up",
            Self::ScaledToZero => "scaled to zero",
            Self::Down => "DOWN",
            Self::Unreachable => "UNREACHABLE",
            Self::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Serialize)]
pub struct FunctionStatus {
    pub name: String,
    pub health: Health,
    pub detail: String,
}

#[derive(Debug, Serialize)]
pub struct LastCollect {
    pub at: String,
    pub age_seconds: f64,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub endpoint: String,
    pub metrics: String,
    pub metrics_error: Option<String>,
    pub healthy: bool,
    pub functions: Vec<FunctionStatus>,
    pub last_collect: Option<LastCollect>,
    pub breaker: Option<&'static str>,
    /// Alerts emitted, by direction.
    pub alerts: BTreeMap<String, f64>,
    /// E-mails, by outcome.
    pub emails: BTreeMap<String, f64>,
    /// Events waiting, by `function/topic`.
    pub consumer_lag: BTreeMap<String, f64>,
}

/// Sums the samples of `name` by the value of `label`.
fn sum_by(
    samples: &[Sample],
    name: &str,
    label: impl Fn(&Sample) -> String,
) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for s in samples.iter().filter(|s| s.name == name) {
        *out.entry(label(s)).or_insert(0.0) += s.value;
    }
    out
}

fn max_of(samples: &[Sample], name: &str) -> Option<f64> {
    samples
        .iter()
        .filter(|s| s.name == name)
        .map(|s| s.value)
        .reduce(f64::max)
}

impl Report {
    /// `grpc` holds the health answer of each gRPC function; `samples` the metrics (through
    /// Prometheus they carry `up`, so pods that are gone or down show); `now` is unix seconds.
    pub fn build(
        endpoint: &str,
        metrics: String,
        grpc: Vec<(&str, (Health, String))>,
        samples: Result<Vec<Sample>, String>,
        through_prometheus: bool,
        now: f64,
    ) -> Self {
        let (samples, metrics_error) = match samples {
            Ok(s) => (s, None),
            Err(e) => (Vec::new(), Some(e)),
        };
        let lag = sum_by(&samples, "tickermesh_consumer_lag_messages", |s| {
            format!("{}/{}", consumer(s), s.label("topic").unwrap_or("?"))
        });
        let last_pass = max_of(&samples, "tickermesh_retention_last_pass_timestamp_seconds")
            .filter(|t| *t > 0.0)
            .map(|t| (now - t).max(0.0));
        let last_collect = max_of(
            &samples,
            "tickermesh_collector_last_iteration_timestamp_seconds",
        )
        .filter(|t| *t > 0.0)
        .map(|t| LastCollect {
            at: crate::output::time((t * 1000.0) as i64),
            age_seconds: (now - t).max(0.0),
        });
        let mut functions: Vec<FunctionStatus> = grpc
            .into_iter()
            .map(|(name, (health, detail))| {
                // In the cluster a health check wakes a function scaled to zero; a cold start
                // slower than the deadline is not an outage when no pod of it runs.
                let (health, detail) = match health {
                    Health::Unreachable
                        if through_prometheus && pods(&samples, name).0 == Health::ScaledToZero =>
                    {
                        (Health::ScaledToZero, format!("no pods; {detail}"))
                    }
                    _ => (health, detail),
                };
                FunctionStatus {
                    name: name.to_owned(),
                    health,
                    detail,
                }
            })
            .collect();
        for (name, grpc_service) in FUNCTIONS {
            if grpc_service.is_some() {
                continue;
            }
            let (health, mut detail) = match &metrics_error {
                Some(e) => (Health::Unknown, e.clone()),
                None if through_prometheus => pods(&samples, name),
                None => in_process(&samples, name),
            };
            match *name {
                "collect" => match &last_collect {
                    Some(c) => write!(detail, "; last tick {:.0}s ago", c.age_seconds),
                    None => write!(detail, "; no tick yet"),
                },
                // Consume nothing (HTTP requests, a schedule): no lag to show.
                "unsubscribe" | "digest" => Ok(()),
                "retention" => match last_pass {
                    Some(age) => write!(detail, "; last pass {age:.0}s ago"),
                    None => write!(detail, "; no pass yet"),
                },
                _ => {
                    let waiting: f64 = lag
                        .iter()
                        .filter(|(k, _)| k.starts_with(&format!("{name}/")))
                        .map(|(_, v)| v)
                        .sum();
                    write!(detail, "; lag {waiting}")
                }
            }
            .unwrap_or_default();
            functions.push(FunctionStatus {
                name: (*name).to_owned(),
                health,
                detail,
            });
        }
        Self {
            endpoint: endpoint.to_owned(),
            metrics,
            healthy: metrics_error.is_none() && functions.iter().all(|f| f.health.ok()),
            metrics_error,
            functions,
            last_collect,
            breaker: max_of(&samples, "tickermesh_yahoo_breaker_state").map(|v| match v as i64 {
                0 => "closed",
                1 => "open",
                _ => "half-open",
            }),
            alerts: sum_by(&samples, "tickermesh_alerts_emitted_total", |s| {
                s.label("direction").unwrap_or("?").to_owned()
            }),
            emails: sum_by(&samples, "tickermesh_emails_total", |s| {
                s.label("outcome").unwrap_or("?").to_owned()
            }),
            consumer_lag: lag,
        }
    }

    /// The report for a person: one line per function, then the pipeline.
    pub fn text(&self) -> String {
        let mut out = format!(
            "tickermesh at {} (metrics: {})\n",
            self.endpoint, self.metrics
        );
        for f in &self.functions {
            let _ = writeln!(
                out,
                "  {:<12} {:<15} {}",
                f.name,
                f.health.as_str(),
                f.detail
            );
        }
        let pairs = |m: &BTreeMap<String, f64>| {
            if m.is_empty() {
                return "none".to_owned();
            }
            m.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let last = self.last_collect.as_ref().map_or_else(
            || "none yet".to_owned(),
            |c| format!("{} ({:.0}s ago)", c.at, c.age_seconds),
        );
        let _ = writeln!(out, "last collect  {last}");
        let _ = writeln!(out, "breaker       {}", self.breaker.unwrap_or("unknown"));
        let _ = writeln!(out, "consumer lag  {}", pairs(&self.consumer_lag));
        let _ = writeln!(out, "alerts        {}", pairs(&self.alerts));
        let _ = writeln!(out, "e-mails       {}", pairs(&self.emails));
        if let Some(e) = &self.metrics_error {
            let _ = writeln!(out, "metrics unavailable: {e}");
        }
        out
    }
}

/// The consumer a lag or event sample is about. Through Prometheus the scrape target's own
/// `function` label wins and the sample's moves to `exported_function`.
fn consumer(s: &Sample) -> &str {
    s.label("exported_function")
        .or_else(|| s.label("function"))
        .unwrap_or("?")
}

/// Health from Prometheus's `up` of the function's pods (or of the local mesh, scraped as
/// function `mesh`, which runs every function).
fn pods(samples: &[Sample], function: &str) -> (Health, String) {
    let up: Vec<f64> = samples
        .iter()
        .filter(|s| s.name == "up")
        .filter(|s| matches!(s.label("function"), Some(f) if f == function || f == "mesh"))
        .map(|s| s.value)
        .collect();
    let answering = up.iter().filter(|v| **v >= 1.0).count();
    match (up.len(), answering) {
        (0, _) => (Health::ScaledToZero, "no pods".to_owned()),
        (n, 0) => (Health::Down, format!("{n} pods, none answers scrapes")),
        (n, a) => (Health::Up, format!("{a} of {n} pods up")),
    }
}

/// Health of a function inside the local mesh: its metrics are there.
fn in_process(samples: &[Sample], function: &str) -> (Health, String) {
    let present = samples.iter().any(|s| match function {
        "collect" => s.name == "tickermesh_collector_iterations_total",
        "unsubscribe" => s.name == "tickermesh_unsubscribe_requests_total",
        "digest" => s.name == "tickermesh_digest_runs_total",
        "retention" => s.name == "tickermesh_retention_passes_total",
        f => s.name == "tickermesh_events_total" && consumer(s) == f,
    });
    if present {
        (Health::Up, "in the mesh process".to_owned())
    } else {
        (Health::Down, "no metrics of it".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str, labels: &[(&str, &str)], value: f64) -> Sample {
        Sample {
            name: name.to_owned(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            value,
        }
    }

    #[test]
    fn pods_through_prometheus_decide_health() {
        let samples = vec![
            sample("up", &[("function", "evaluate")], 1.0),
            sample("up", &[("function", "evaluate")], 0.0),
            sample("up", &[("function", "notify")], 0.0),
            sample("tickermesh_yahoo_breaker_state", &[], 1.0),
            sample("tickermesh_emails_total", &[("outcome", "sent")], 2.0),
            sample("tickermesh_emails_total", &[("outcome", "sent")], 3.0),
            sample(
                "tickermesh_consumer_lag_messages",
                &[("function", "notify"), ("topic", "threshold-alerts")],
                7.0,
            ),
            // Scraped from the local mesh: the target's label wins.
            sample(
                "tickermesh_consumer_lag_messages",
                &[
                    ("function", "mesh"),
                    ("exported_function", "evaluate"),
                    ("topic", "ticker-quotes"),
                ],
                4.0,
            ),
        ];
        let grpc = vec![
            ("query", (Health::Serving, String::new())),
            ("register", (Health::Unreachable, "deadline".to_owned())),
        ];
        let r = Report::build("e", "m".into(), grpc, Ok(samples), true, 100.0);
        let health = |n: &str| r.functions.iter().find(|f| f.name == n).unwrap().health;
        assert_eq!(health("evaluate"), Health::Up);
        assert_eq!(health("notify"), Health::Down);
        assert_eq!(health("collect"), Health::ScaledToZero);
        assert!(!r.healthy, "a function is down");
        assert_eq!(r.breaker, Some("open"));
        assert_eq!(r.emails["sent"], 5.0);
        assert_eq!(r.consumer_lag["notify/threshold-alerts"], 7.0);
        assert_eq!(r.consumer_lag["evaluate/ticker-quotes"], 4.0);
        assert_eq!(health("register"), Health::ScaledToZero, "woken, not down");
        assert!(r.text().contains("notify       DOWN"), "{}", r.text());
        assert!(r.text().contains("lag 7"), "{}", r.text());
    }

    /// unsubscribe (HTTP only, no gRPC health route) is up in the local mesh when its metrics
    /// are there, with no lag to show; without them it is down.
    #[test]
    fn unsubscribe_is_judged_by_its_metrics() {
        let samples = vec![sample(
            "tickermesh_unsubscribe_requests_total",
            &[("method", "POST"), ("outcome", "unsubscribed")],
            0.0,
        )];
        let r = Report::build("e", "m".into(), vec![], Ok(samples), false, 0.0);
        let f = r
            .functions
            .iter()
            .find(|f| f.name == "unsubscribe")
            .unwrap();
        assert_eq!(f.health, Health::Up);
        assert_eq!(f.detail, "in the mesh process");
        let r = Report::build("e", "m".into(), vec![], Ok(vec![]), false, 0.0);
        let f = r
            .functions
            .iter()
            .find(|f| f.name == "unsubscribe")
            .unwrap();
        assert_eq!(f.health, Health::Down);
        let names: Vec<&str> = FUNCTIONS.iter().map(|(n, _)| *n).collect();
        for n in ["access", "watch", "unsubscribe", "digest", "retention"] {
            assert!(names.contains(&n), "{n} is not in the status list");
        }
    }

    /// digest and retention (ticked by a schedule) are up in the local mesh when their metrics
    /// are there; retention says when it last ran.
    #[test]
    fn the_scheduled_functions_are_judged_by_their_metrics() {
        let samples = vec![
            sample("tickermesh_digest_runs_total", &[("outcome", "ok")], 0.0),
            sample(
                "tickermesh_retention_passes_total",
                &[("outcome", "ok")],
                1.0,
            ),
            sample(
                "tickermesh_retention_last_pass_timestamp_seconds",
                &[],
                40.0,
            ),
        ];
        let r = Report::build("e", "m".into(), vec![], Ok(samples), false, 100.0);
        let detail = |n: &str| {
            let f = r.functions.iter().find(|f| f.name == n).unwrap();
            (f.health, f.detail.clone())
        };
        assert_eq!(detail("digest"), (Health::Up, "in the mesh process".into()));
        assert_eq!(
            detail("retention"),
            (Health::Up, "in the mesh process; last pass 60s ago".into())
        );
        let r = Report::build("e", "m".into(), vec![], Ok(vec![]), false, 100.0);
        for n in ["digest", "retention"] {
            let f = r.functions.iter().find(|f| f.name == n).unwrap();
            assert_eq!(f.health, Health::Down, "{n}");
        }
    }

    #[test]
    fn unreadable_metrics_make_the_report_unhealthy() {
        let r = Report::build("e", "m".into(), vec![], Err("refused".into()), false, 0.0);
        assert!(!r.healthy);
        assert!(r.functions.iter().all(|f| f.health == Health::Unknown));
        assert!(r.text().contains("metrics unavailable: refused"));
    }
}
