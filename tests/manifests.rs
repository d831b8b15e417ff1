//! The deployment manifests, checked offline: each document against its JSON Schema (a kind
//! with no schema fails), the rules no schema holds (Knative's webhook, KEDA's string
//! metadata), and consistency with the code.

use std::collections::BTreeSet;

use serde_json::Value;
use tickermesh_tests::manifests::{all, parse, repo, validate, Doc};

fn services(docs: &[Doc]) -> impl Iterator<Item = &Doc> {
    docs.iter()
        .filter(|d| d.kind() == "Service" && d.api_version() == "serving.knative.dev/v1")
}

fn containers(doc: &Doc) -> Vec<&Value> {
    let spec = match doc.kind() {
        "Service" | "Deployment" | "StatefulSet" | "Job" => &doc.value["spec"]["template"]["spec"],
        _ => return Vec::new(),
    };
    spec["containers"]
        .as_array()
        .map(|c| c.iter().collect())
        .unwrap_or_default()
}

fn env<'a>(container: &'a Value, name: &str) -> Option<&'a str> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
        .and_then(|e| e["value"].as_str())
}

#[test]
fn every_document_matches_its_schema() {
    let docs = all();
    assert!(docs.len() >= 10, "manifests found: {}", docs.len());
    let mut failures = Vec::new();
    for doc in &docs {
        if let Err(errors) = validate(&doc.value) {
            failures.push(format!(
                "{} {} {}: {}",
                doc.file.display(),
                doc.kind(),
                doc.name(),
                errors.join("; ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn broken_copies_fail() {
    let file = repo().join("knative/register.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let good = parse(&file, &text).remove(0).value;
    assert!(validate(&good).is_ok());

    let mut unknown_field = good.clone();
    unknown_field["spec"]["template"]["spec"]["containers"][0]["portz"] = Value::from(8080);
    assert!(validate(&unknown_field).is_err(), "an unknown field");

    let mut wrong_type = good.clone();
    wrong_type["spec"]["template"]["spec"]["containerConcurrency"] = Value::from("many");
    assert!(
        validate(&wrong_type).is_err(),
        "a string where a number goes"
    );

    let mut no_schema = good;
    no_schema["kind"] = Value::from("Servise");
    let err = validate(&no_schema).unwrap_err();
    assert!(err[0].contains("no schema"), "{err:?}");

    let keda = repo().join("keda/evaluate.yaml");
    let mut scaled = parse(&keda, &std::fs::read_to_string(&keda).unwrap())
        .into_iter()
        .find(|d| d.kind() == "ScaledObject")
        .unwrap()
        .value;
    scaled["spec"]["triggers"][0]["metadata"]["lagThreshold"] = Value::from(50);
    assert!(
        validate(&scaled).is_err(),
        "KEDA metadata values are strings"
    );
}

/// What Knative's admission webhook enforces and the schema cannot.
#[test]
fn knative_services_follow_the_webhook_rules() {
    let docs = all();
    const RESERVED_PORTS: [u64; 6] = [8012, 8013, 8022, 9090, 9091, 8008];
    const RESERVED_ENV: [&str; 4] = ["PORT", "K_SERVICE", "K_CONFIGURATION", "K_REVISION"];
    let mut checked = 0;
    for svc in services(&docs) {
        let cs = containers(svc);
        assert_eq!(cs.len(), 1, "{}: one container", svc.name());
        let ports = cs[0]["ports"].as_array().cloned().unwrap_or_default();
        assert_eq!(ports.len(), 1, "{}: exactly one container port", svc.name());
        let name = ports[0]["name"].as_str().unwrap_or_default();
        assert!(
            matches!(name, "h2c" | "http1"),
            "{}: port name {name:?}",
            svc.name()
        );
        let port = ports[0]["containerPort"].as_u64().unwrap_or_default();
        assert!(
            !RESERVED_PORTS.contains(&port),
            "{}: reserved port {port}",
            svc.name()
        );
        for e in cs[0]["env"].as_array().cloned().unwrap_or_default() {
            let n = e["name"].as_str().unwrap_or_default();
            assert!(
                !RESERVED_ENV.contains(&n),
                "{}: reserved env {n}",
                svc.name()
            );
        }
        // gRPC functions speak h2c; the HTTP functions http1.
        let grpc = ["register", "update", "delete", "query"]
            .iter()
            .any(|f| svc.name() == format!("tickermesh-{f}"));
        assert_eq!(name == "h2c", grpc, "{}: port name {name}", svc.name());
        checked += 1;
    }
    assert!(checked >= 5);
}

#[test]
fn scaled_objects_match_what_the_functions_consume() {
    let docs = all();
    let mut checked = 0;
    for so in docs.iter().filter(|d| d.kind() == "ScaledObject") {
        let target = &so.value["spec"]["scaleTargetRef"];
        assert_eq!(
            target["kind"],
            "Deployment",
            "{}: never a Knative Service",
            so.name()
        );
        let deployment = docs
            .iter()
            .find(|d| d.kind() == "Deployment" && d.name() == target["name"])
            .unwrap_or_else(|| panic!("{}: no Deployment {}", so.name(), target["name"]));
        let container = containers(deployment)[0];
        let topic_var = if so.name().ends_with("evaluate") {
            "TICKERMESH_QUOTES_TOPIC"
        } else {
            "TICKERMESH_ALERTS_TOPIC"
        };
        for trigger in so.value["spec"]["triggers"].as_array().unwrap() {
            assert_eq!(trigger["type"], "kafka");
            let meta = trigger["metadata"].as_object().unwrap();
            for (k, v) in meta {
                assert!(
                    v.is_string(),
                    "{}: metadata {k} must be a string",
                    so.name()
                );
            }
            assert_eq!(
                meta["consumerGroup"].as_str(),
                env(container, "TICKERMESH_CONSUMER_GROUP")
            );
            assert_eq!(meta["topic"].as_str(), env(container, topic_var));
            assert_eq!(
                meta["bootstrapServers"].as_str(),
                env(container, "TICKERMESH_KAFKA_BROKERS")
            );
            assert!(
                meta.contains_key("lagThreshold") && meta.contains_key("activationLagThreshold")
            );
        }
        let max = so.value["spec"]["maxReplicaCount"].as_u64().unwrap();
        let partitions = topic_partitions();
        assert!(
            max <= partitions,
            "{}: more consumers ({max}) than partitions ({partitions})",
            so.name()
        );
        assert_eq!(so.value["spec"]["minReplicaCount"], 0);
        checked += 1;
    }
    assert_eq!(checked, 2, "evaluate and notify");
}

/// The partition count minikube/kafka.yaml creates its topics with.
fn topic_partitions() -> u64 {
    let text = std::fs::read_to_string(repo().join("minikube/kafka.yaml")).unwrap();
    let after = text
        .split("--partitions ")
        .nth(1)
        .expect("kafka.yaml creates topics");
    after.split_whitespace().next().unwrap().parse().unwrap()
}

/// Every TICKERMESH_* variable a manifest sets is read by the code.
#[test]
fn manifest_variables_exist_in_the_code() {
    let mut source = String::new();
    let mut stack = vec![repo().join("functions")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                source.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let docs = all();
    let mut vars = BTreeSet::new();
    for doc in &docs {
        for c in containers(doc) {
            for e in c["env"].as_array().cloned().unwrap_or_default() {
                let name = e["name"].as_str().unwrap_or_default().to_owned();
                if name.starts_with("TICKERMESH_") {
                    vars.insert(name);
                }
            }
        }
    }
    assert!(vars.len() > 5);
    for var in vars {
        assert!(
            source.contains(&format!("\"{var}\"")),
            "{var} is set in a manifest but no code reads it"
        );
    }
}

#[test]
fn every_function_has_a_manifest_and_the_tick_reaches_collect() {
    let docs = all();
    let images: BTreeSet<String> = docs
        .iter()
        .flat_map(|d| {
            containers(d)
                .into_iter()
                .map(|c| c["image"].as_str().unwrap_or_default().to_owned())
        })
        .collect();
    for f in [
        "register", "update", "delete", "query", "collect", "evaluate", "notify",
    ] {
        assert!(
            images
                .iter()
                .any(|i| i.starts_with(&format!("tickermesh/{f}:"))),
            "no manifest runs the {f} function: {images:?}"
        );
        assert!(repo()
            .join("functions")
            .join(f)
            .join("src/main.rs")
            .exists());
    }
    let ping = docs
        .iter()
        .find(|d| d.kind() == "PingSource")
        .expect("a PingSource");
    let sink = &ping.value["spec"]["sink"]["ref"];
    assert_eq!(sink["kind"], "Service");
    assert_eq!(sink["name"], "tickermesh-collect");
    assert!(services(&docs).any(|s| s.name() == "tickermesh-collect"));
}

fn to_snake(method: &str) -> String {
    let mut out = String::new();
    for (i, c) in method.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// Every RPC of `proto/` as (full path, the function crate that implements it).
fn rpcs_and_implementers() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for file in ["users.proto", "queries.proto"] {
        let text = std::fs::read_to_string(repo().join("proto/tickermesh/v1").join(file)).unwrap();
        let mut service = String::new();
        for line in text.lines().map(str::trim) {
            if let Some(rest) = line.strip_prefix("service ") {
                service = rest.trim_end_matches('{').trim().to_owned();
            } else if let Some(rest) = line.strip_prefix("rpc ") {
                let method = rest.split('(').next().unwrap().trim();
                let needle = format!("async fn {}(", to_snake(method));
                let implementer = ["register", "update", "delete", "query"]
                    .into_iter()
                    .find(|f| {
                        std::fs::read_to_string(repo().join("functions").join(f).join("src/lib.rs"))
                            .unwrap()
                            .contains(&needle)
                    })
                    .unwrap_or_else(|| panic!("no function implements {method}"));
                out.push((
                    format!("/tickermesh.v1.{service}/{method}"),
                    implementer.to_owned(),
                ));
            }
        }
    }
    out
}

/// The routes of the gRPC router (Envoy), in order.
fn envoy_routes(docs: &[Doc]) -> Vec<Value> {
    let config = docs
        .iter()
        .find(|d| d.kind() == "ConfigMap" && d.name() == "tickermesh-grpc")
        .expect("the gRPC router's ConfigMap");
    let envoy: Value =
        serde_yaml::from_str(config.value["data"]["envoy.yaml"].as_str().unwrap()).unwrap();
    envoy["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
        ["route_config"]["virtual_hosts"][0]["routes"]
        .as_array()
        .expect("routes")
        .clone()
}

#[test]
fn grpc_routes_cover_every_rpc_and_reach_its_function() {
    let docs = all();
    let routes = envoy_routes(&docs);
    let rpcs = rpcs_and_implementers();
    assert_eq!(rpcs.len(), 6);
    for (path, implementer) in rpcs {
        // Envoy takes the first route that matches.
        let route = routes
            .iter()
            .find(|r| {
                let m = &r["match"];
                m["path"].as_str() == Some(path.as_str())
                    || m["prefix"].as_str().is_some_and(|p| path.starts_with(p))
            })
            .unwrap_or_else(|| panic!("no route for {path}"));
        let host = route["route"]["host_rewrite_literal"].as_str().unwrap();
        let service = host.split('.').next().unwrap();
        assert_eq!(
            service,
            format!("tickermesh-{implementer}"),
            "{path} goes to {host}"
        );
        assert!(
            services(&docs).any(|s| s.name() == service),
            "{path}: no Knative Service {service}"
        );
    }
}

#[test]
fn health_checks_reach_the_function_the_status_header_names() {
    let docs = all();
    let routes = envoy_routes(&docs);
    let check = "/grpc.health.v1.Health/Check";
    for function in ["register", "update", "delete", "query"] {
        // Envoy takes the first route whose path and headers match (tickerctl status sends
        // `tickermesh-function: <name>`).
        let route = routes
            .iter()
            .find(|r| {
                let m = &r["match"];
                let path = m["path"].as_str() == Some(check)
                    || m["prefix"].as_str().is_some_and(|p| check.starts_with(p));
                let headers = m["headers"].as_array().is_none_or(|hs| {
                    hs.iter().all(|h| {
                        h["name"] == "tickermesh-function"
                            && h["string_match"]["exact"].as_str() == Some(function)
                    })
                });
                path && headers
            })
            .unwrap_or_else(|| panic!("no health route for {function}"));
        let host = route["route"]["host_rewrite_literal"].as_str().unwrap();
        assert!(
            host.starts_with(&format!("tickermesh-{function}.")),
            "the health check of {function} goes to {host}"
        );
    }
}
