//! Monitoring: the Prometheus rules, config and dashboard under `minikube/monitoring`, the
//! metric names the code exports, promtool, and a real Prometheus server on loopback.
//! `tests/tools.sh` installs Debian's `prometheus` package; without it these tests fail.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::manifests::repo;
use crate::proc::{free_port, Proc};

pub fn monitoring_dir() -> PathBuf {
    repo().join("minikube/monitoring")
}

/// A Prometheus tool on the `PATH` (tests/tools.sh installs Debian's package when
/// `command -v promtool` finds nothing): fails the test, naming the fix, when missing.
pub fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{name} is not on the PATH: run tests/tools.sh (it installs Debian's prometheus package)")
        })
}

pub fn promtool(args: &[&str], dir: &Path) -> Output {
    Command::new(tool("promtool"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run promtool")
}

/// Every metric name the functions register: the `"tickermesh_…"` literals of their sources.
pub fn exported_metrics() -> BTreeSet<String> {
    fn walk(dir: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("read source");
                for piece in text.split("\"tickermesh_").skip(1) {
                    let name: String = piece
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if piece[name.len()..].starts_with('"') {
                        out.insert(format!("tickermesh_{name}"));
                    }
                }
            }
        }
    }
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(repo().join("functions"))
        .expect("functions/")
        .flatten()
    {
        let src = entry.path().join("src");
        if src.is_dir() && !entry.path().ends_with("tickerctl") {
            walk(&src, &mut names);
        }
    }
    names
}

/// The metric names a PromQL expression selects (`tickermesh_*` and `up`).
pub fn metrics_in(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut in_string = false;
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut BTreeSet<String>| {
        if token.starts_with("tickermesh_") || token == "up" {
            out.insert(std::mem::take(token));
        }
        token.clear();
    };
    for c in expr.chars() {
        if c == '"' {
            in_string = !in_string;
            token.clear();
        } else if !in_string && (c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            token.push(c);
        } else {
            flush(&mut token, &mut out);
        }
    }
    flush(&mut token, &mut out);
    out
}

/// Whether `name` (maybe a histogram's `_bucket`/`_sum`/`_count`) is one of `exported`.
pub fn is_exported(name: &str, exported: &BTreeSet<String>) -> bool {
    name == "up"
        || exported.contains(name)
        || ["_bucket", "_sum", "_count"].iter().any(|suffix| {
            name.strip_suffix(suffix)
                .is_some_and(|base| exported.contains(base))
        })
}

/// Every PromQL expression of the dashboard, with Grafana's variables given concrete values
/// (a 5-minute rate window, every function).
pub fn dashboard_queries() -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v) {
                        ("expr", Value::String(e)) => out.push(e.clone()),
                        // A template variable's query: `label_values(<selector>, <label>)`.
                        ("query", Value::String(q)) if q.starts_with("label_values(") => {
                            let inner = &q["label_values(".len()..q.len() - 1];
                            let selector = inner.rsplit_once(',').map_or(inner, |(s, _)| s);
                            out.push(selector.trim().to_owned());
                        }
                        _ => walk(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let text = std::fs::read_to_string(monitoring_dir().join("dashboard.json"))
        .expect("minikube/monitoring/dashboard.json");
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut out = Vec::new();
    walk(&dashboard, &mut out);
    out.iter()
        .map(|e| {
            e.replace("${__rate_interval}", "5m")
                .replace("$__rate_interval", "5m")
                .replace("$__interval", "1m")
                .replace("${function}", ".*")
                .replace("$function", ".*")
        })
        .collect()
}

/// Checks that every expression parses, with promtool: each becomes a recording rule of a
/// scratch rules file. Returns promtool's output on failure.
pub fn check_promql(exprs: &[String]) -> Result<(), String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let rules: Vec<Value> = exprs
        .iter()
        .enumerate()
        .map(|(i, e)| json!({ "record": format!("check:expr_{i}"), "expr": e }))
        .collect();
    let file = dir.path().join("check.yml");
    let doc = json!({ "groups": [{ "name": "check", "rules": rules }] });
    std::fs::write(&file, doc.to_string()).expect("write rules");
    let out = promtool(&["check", "rules", "check.yml"], dir.path());
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A Prometheus server on a loopback port, with its own storage, killed when dropped.
pub struct Prometheus {
    pub url: String,
    _proc: Proc,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus with the repository's local config (`prometheus.yml`), its scrape
    /// target moved to `target` and its intervals to `interval` so a test need not wait long.
    pub async fn start(target: &str, interval: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let text = std::fs::read_to_string(monitoring_dir().join("prometheus.yml"))
            .expect("minikube/monitoring/prometheus.yml");
        let mut config: Value = serde_yaml::from_str(&text).expect("the config is YAML");
        config["global"]["scrape_interval"] = json!(interval);
        config["global"]["evaluation_interval"] = json!(interval);
        config["scrape_configs"][0]["static_configs"][0]["targets"] = json!([target]);
        let rules = monitoring_dir().join("rules.yml");
        config["rule_files"] = json!([rules.display().to_string()]);
        let file = dir.path().join("prometheus.yml");
        std::fs::write(&file, config.to_string()).expect("write config");

        let port = free_port();
        let child = Command::new(tool("prometheus"))
            .arg(format!("--config.file={}", file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn prometheus");
        let prometheus = Self {
            url: format!("http://127.0.0.1:{port}"),
            _proc: Proc { child },
            _dir: dir,
        };
        let ready = format!("{}/-/ready", prometheus.url);
        crate::eventually(Duration::from_secs(30), "Prometheus ready", || {
            let ready = ready.clone();
            async move {
                let r = reqwest::get(&ready).await.ok()?;
                r.status().is_success().then_some(())
            }
        })
        .await;
        prometheus
    }

    /// An instant query; the whole `data` of a successful answer, or the error Prometheus gave.
    pub async fn query(&self, promql: &str) -> Result<Value, String> {
        let response = reqwest::Client::new()
            .get(format!("{}/api/v1/query", self.url))
            .query(&[("query", promql)])
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let body: Value = response.json().await.map_err(|e| e.to_string())?;
        if body["status"] == "success" {
            Ok(body["data"].clone())
        } else {
            Err(format!("{promql}: {}", body["error"]))
        }
    }

    /// The value of a query that yields one number (the first sample), if any.
    pub async fn scalar(&self, promql: &str) -> Option<f64> {
        let data = self.query(promql).await.ok()?;
        data["result"][0]["value"][1].as_str()?.parse().ok()
    }

    pub async fn get(&self, path: &str) -> Value {
        reqwest::get(format!("{}{path}", self.url))
            .await
            .expect("ask Prometheus")
            .json()
            .await
            .expect("JSON answer")
    }
}
