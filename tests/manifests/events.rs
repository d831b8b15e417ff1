//! Where the events of the cron functions and of the collect requests come from and go: every
//! PingSource ticks a Knative Service of this repository on its function's schedule (collect and
//! digest every minute, retention hourly); the collect requests access, watch and update publish
//! reach collect through a KafkaSource on the topic and at the broker they name, applied in both
//! deployment variants, best effort (a few retries, no dead letters); the topic Job creates that
//! topic; digest publishes where notify consumes.

use std::collections::BTreeSet;

use serde_json::Value;
use tickermesh_tests::manifests::{all, repo, Doc};

use super::{containers, env, services};

/// The KafkaSource of collect requests.
pub const COLLECT_REQUESTS_SOURCE: &str = "tickermesh-collect-requests";

/// Each cron function's Knative Service and the schedule its PingSource ticks it on.
const SCHEDULES: [(&str, &str); 3] = [
    ("tickermesh-collect", "* * * * *"),
    // A digest goes out within a minute of its user's quiet hours ending.
    ("tickermesh-digest", "* * * * *"),
    ("tickermesh-retention", "0 * * * *"),
];

/// The one container of the Knative Service `name`.
fn service_container<'a>(docs: &'a [Doc], name: &str) -> &'a Value {
    let svc = services(docs)
        .find(|s| s.name() == name)
        .unwrap_or_else(|| panic!("no Knative Service {name}"));
    containers(svc)[0]
}

fn sink_is_service(source: &Doc, name: &str) {
    let sink = &source.value["spec"]["sink"]["ref"];
    assert_eq!(
        sink["apiVersion"],
        "serving.knative.dev/v1",
        "{}",
        source.name()
    );
    assert_eq!(sink["kind"], "Service", "{}", source.name());
    assert_eq!(sink["name"], name, "{}", source.name());
}

#[test]
fn every_cron_function_is_ticked_on_its_schedule() {
    let docs = all();
    let pings: Vec<&Doc> = docs.iter().filter(|d| d.kind() == "PingSource").collect();
    assert_eq!(
        pings.len(),
        SCHEDULES.len(),
        "one PingSource per cron function"
    );
    for (service, schedule) in SCHEDULES {
        let ping = pings
            .iter()
            .find(|p| p.value["spec"]["sink"]["ref"]["name"] == service)
            .unwrap_or_else(|| panic!("no PingSource ticks {service}"));
        sink_is_service(ping, service);
        assert_eq!(ping.value["spec"]["schedule"], schedule, "{service}");
        // Deployed together, in both variants (knative/, not a variant's folder).
        let svc = services(&docs).find(|s| s.name() == service).unwrap();
        assert_eq!(svc.file, ping.file, "{service}");
        assert_eq!(svc.file.parent(), Some(repo().join("knative").as_path()));
        // A tick is a plain HTTP/1 POST; the Service is ready when /healthz answers.
        let c = service_container(&docs, service);
        assert_eq!(c["ports"][0]["name"], "http1", "{service}");
        assert_eq!(
            c["readinessProbe"]["httpGet"]["path"], "/healthz",
            "{service}"
        );
    }
}

#[test]
fn collect_requests_reach_collect_from_access_watch_and_update() {
    let docs = all();
    let sources: Vec<&Doc> = docs.iter().filter(|d| d.kind() == "KafkaSource").collect();
    let source = sources
        .iter()
        .find(|d| d.name() == COLLECT_REQUESTS_SOURCE)
        .expect("the collect requests' KafkaSource");
    // With collect, in both variants: collect is a Knative Service in each.
    assert_eq!(source.file, repo().join("knative/collect.yaml"));
    sink_is_service(source, "tickermesh-collect");
    let spec = &source.value["spec"];
    let topics: Vec<&str> = spec["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(topics.len(), 1, "{topics:?}");
    let brokers: Vec<&str> = spec["bootstrapServers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_str().unwrap())
        .collect();
    for function in ["tickermesh-access", "tickermesh-watch", "tickermesh-update"] {
        let c = service_container(&docs, function);
        assert_eq!(
            env(c, "TICKERMESH_COLLECT_REQUESTS_TOPIC"),
            Some(topics[0]),
            "{function} publishes elsewhere"
        );
        assert_eq!(
            env(c, "TICKERMESH_KAFKA_BROKERS").map(|b| vec![b]),
            Some(brokers.clone()),
            "{function}"
        );
    }
    // The topic Job creates the topic, with the others.
    let kafka = std::fs::read_to_string(repo().join("minikube/kafka.yaml")).unwrap();
    let created = kafka
        .lines()
        .find_map(|l| l.trim().strip_prefix("for t in "))
        .and_then(|l| l.strip_suffix("; do"))
        .expect("the topic Job's loop");
    assert!(
        created.split_whitespace().any(|t| t == topics[0]),
        "kafka.yaml does not create {}: {created}",
        topics[0]
    );
    // Best effort: a few retries, then dropped (the next tick collects the ticker), never a
    // dead letter.
    let delivery = &spec["delivery"];
    let retry = delivery["retry"].as_u64().unwrap();
    assert!((1..=5).contains(&retry), "{delivery}");
    assert!(delivery.get("deadLetterSink").is_none(), "{delivery}");
    // Requests are independent: delivered concurrently. A consumer group of its own.
    assert_eq!(spec["ordering"], "unordered");
    let groups: BTreeSet<&str> = sources
        .iter()
        .map(|s| s.value["spec"]["consumerGroup"].as_str().unwrap())
        .collect();
    assert_eq!(groups.len(), sources.len(), "{groups:?}");
}

#[test]
fn digest_publishes_where_notify_consumes() {
    let docs = all();
    let digest = service_container(&docs, "tickermesh-digest");
    let notify = docs
        .iter()
        .filter(|d| d.kind() == "Deployment" && d.name() == "tickermesh-notify")
        .flat_map(|d| containers(d))
        .next()
        .expect("the KEDA notify");
    for var in ["TICKERMESH_KAFKA_BROKERS", "TICKERMESH_ALERTS_TOPIC"] {
        assert!(env(digest, var).is_some(), "digest: no {var}");
        assert_eq!(env(digest, var), env(notify, var), "{var}");
    }
}
