//! The monitoring files under `minikube/monitoring`, checked offline with promtool: the alert
//! rules and their unit tests, the dashboard's PromQL, and that both name only metrics the
//! code exports — which the README documents.

use std::collections::BTreeSet;

use serde_json::Value;
use tickermesh_tests::manifests::repo;
use tickermesh_tests::prometheus::{
    check_promql, dashboard_queries, exported_metrics, is_exported, metrics_in, monitoring_dir,
    promtool,
};

fn rules() -> Value {
    let text = std::fs::read_to_string(monitoring_dir().join("rules.yml")).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

fn rule_exprs() -> Vec<(String, String)> {
    let rules = rules();
    let mut out = Vec::new();
    for group in rules["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            let name = rule["alert"].as_str().or(rule["record"].as_str()).unwrap();
            out.push((name.to_owned(), rule["expr"].as_str().unwrap().to_owned()));
        }
    }
    out
}

fn assert_ok(out: &std::process::Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn alert_rules_pass_promtool_check_and_their_unit_tests() {
    let dir = monitoring_dir();
    assert_ok(
        &promtool(&["check", "rules", "rules.yml"], &dir),
        "promtool check rules",
    );
    assert_ok(
        &promtool(&["test", "rules", "rules_test.yml"], &dir),
        "promtool test rules",
    );
}

#[test]
fn the_rule_unit_tests_fail_when_an_alert_is_broken() {
    // The same tests against a copy whose collector alert waits far too long must fail: the
    // tests pin the alerts' behaviour, not only their syntax.
    let scratch = tempfile::tempdir().unwrap();
    let dir = monitoring_dir();
    let text = std::fs::read_to_string(dir.join("rules.yml")).unwrap();
    let mut rules: Value = serde_yaml::from_str(&text).unwrap();
    let mut broken = 0;
    for group in rules["groups"].as_array_mut().unwrap() {
        for rule in group["rules"].as_array_mut().unwrap() {
            if rule["alert"] == "TickermeshCollectorStalled" {
                rule["for"] = Value::from("1h");
                broken += 1;
            }
        }
    }
    assert_eq!(broken, 1, "rules.yml has TickermeshCollectorStalled");
    std::fs::write(scratch.path().join("rules.yml"), rules.to_string()).unwrap();
    std::fs::copy(
        dir.join("rules_test.yml"),
        scratch.path().join("rules_test.yml"),
    )
    .unwrap();
    let out = promtool(&["test", "rules", "rules_test.yml"], scratch.path());
    assert!(
        !out.status.success(),
        "the unit tests still pass with a broken alert"
    );
}

#[test]
fn every_alert_has_a_firing_and_a_quiet_unit_test() {
    let text = std::fs::read_to_string(monitoring_dir().join("rules_test.yml")).unwrap();
    let tests: Value = serde_yaml::from_str(&text).unwrap();
    let (mut fires, mut quiet) = (BTreeSet::new(), BTreeSet::new());
    for test in tests["tests"].as_array().unwrap() {
        for case in test["alert_rule_test"].as_array().into_iter().flatten() {
            let name = case["alertname"].as_str().unwrap().to_owned();
            let expected = case["exp_alerts"].as_array().map_or(0, Vec::len);
            if expected > 0 {
                fires.insert(name);
            } else {
                quiet.insert(name);
            }
        }
    }
    let alerts: Vec<String> = rule_exprs().into_iter().map(|(n, _)| n).collect();
    for required in [
        "TickermeshFunctionDown",
        "TickermeshCollectorStalled",
        "TickermeshYahooCircuitOpen",
        "TickermeshEmailFailures",
        "TickermeshConsumerLagHigh",
        "TickermeshGrpcErrorRatioHigh",
    ] {
        assert!(alerts.iter().any(|a| a == required), "no alert {required}");
    }
    for alert in &alerts {
        assert!(fires.contains(alert), "no unit test where {alert} fires");
        assert!(
            quiet.contains(alert),
            "no unit test where {alert} stays quiet"
        );
    }
}

#[test]
fn dashboard_queries_parse() {
    let queries = dashboard_queries();
    assert!(queries.len() >= 15, "only {} queries", queries.len());
    if let Err(e) = check_promql(&queries) {
        panic!("a dashboard query does not parse:\n{e}");
    }
    // The checker itself rejects a broken expression.
    let broken = vec!["sum(rate(tickermesh_quotes_stored_total[5m])".to_owned()];
    assert!(check_promql(&broken).is_err());
}

#[test]
fn dashboard_and_rules_use_only_exported_metrics() {
    let exported = exported_metrics();
    assert!(
        exported.contains("tickermesh_consumer_lag_messages")
            && exported.contains("tickermesh_grpc_requests_total"),
        "{exported:?}"
    );
    let mut used = BTreeSet::new();
    let exprs = dashboard_queries()
        .into_iter()
        .map(|e| ("dashboard".to_owned(), e))
        .chain(rule_exprs());
    for (origin, expr) in exprs {
        for name in metrics_in(&expr) {
            assert!(
                is_exported(&name, &exported),
                "{origin}: {expr} uses {name}, which no function exports"
            );
            used.insert(name);
        }
    }
    assert!(!is_exported("tickermesh_made_up_total", &exported));
    // The dashboard shows every seed metric.
    for seed in [
        "tickermesh_register_user_total",
        "tickermesh_get_latest_value_duration_seconds_bucket",
        "tickermesh_collector_iterations_total",
        "tickermesh_yahoo_request_duration_seconds_bucket",
    ] {
        assert!(used.contains(seed), "the dashboard does not show {seed}");
    }
}

#[test]
fn the_readme_documents_every_metric() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    for name in exported_metrics() {
        assert!(
            readme.contains(&format!("`{name}`")),
            "README.md does not document {name}"
        );
    }
}

#[test]
fn the_local_prometheus_config_is_valid_and_loads_the_rules() {
    let out = promtool(&["check", "config", "prometheus.yml"], &monitoring_dir());
    assert_ok(&out, "promtool check config");
    let found = format!("{} rules found", rule_exprs().len());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&found),
        "the config does not load rules.yml"
    );
}

/// The ConfigMaps `up.sh` makes from `minikube/monitoring` are the ones the cluster's
/// Prometheus and Grafana mount, where their configs look for them.
#[test]
fn the_cluster_loads_the_same_rules_and_dashboard() {
    let up = std::fs::read_to_string(repo().join("minikube/up.sh")).unwrap();
    let docs = tickermesh_tests::manifests::all();
    let deployment = |name: &str| {
        docs.iter()
            .find(|d| d.kind() == "Deployment" && d.name() == name)
            .unwrap_or_else(|| panic!("no Deployment {name}"))
            .value["spec"]["template"]["spec"]
            .clone()
    };
    // Where a pod mounts a ConfigMap.
    let mount_of = |spec: &Value, configmap: &str| -> String {
        let volume = spec["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["configMap"]["name"] == configmap)
            .unwrap_or_else(|| panic!("no volume of ConfigMap {configmap}"))["name"]
            .clone();
        spec["containers"][0]["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == volume)
            .unwrap_or_else(|| panic!("{configmap} is not mounted"))["mountPath"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    for (configmap, file) in [
        ("tickermesh-prometheus-rules", "rules.yml"),
        ("tickermesh-grafana-dashboards", "dashboard.json"),
    ] {
        assert!(
            up.contains(&format!(
                "configmap {configmap} \"$here/monitoring/{file}\""
            )),
            "up.sh does not make {configmap} from {file}"
        );
    }
    let prometheus = deployment("tickermesh-prometheus");
    let rules_dir = mount_of(&prometheus, "tickermesh-prometheus-rules");
    let config = docs
        .iter()
        .find(|d| d.kind() == "ConfigMap" && d.name() == "tickermesh-prometheus")
        .unwrap();
    let config: Value =
        serde_yaml::from_str(config.value["data"]["prometheus.yml"].as_str().unwrap()).unwrap();
    let rule_files: Vec<&str> = config["rule_files"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        rule_files
            .iter()
            .any(|f| f.starts_with(&format!("{rules_dir}/")) && f.ends_with(".yml")),
        "{rule_files:?} do not read {rules_dir}"
    );
    let grafana = deployment("tickermesh-grafana");
    let dashboards_dir = mount_of(&grafana, "tickermesh-grafana-dashboards");
    let provisioning = docs
        .iter()
        .find(|d| d.kind() == "ConfigMap" && d.name() == "tickermesh-grafana-provisioning")
        .unwrap();
    let providers: Value = serde_yaml::from_str(
        provisioning.value["data"]["dashboards.yaml"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        providers["providers"][0]["options"]["path"],
        dashboards_dir.as_str()
    );
}
