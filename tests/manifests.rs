//! The deployment manifests, checked offline: each document against its JSON Schema (a kind
//! with no schema fails), the rules no schema holds (Knative's webhook, KEDA's string
//! metadata), and consistency with the code.

use std::collections::BTreeSet;

use serde_json::Value;
use tickermesh_tests::manifests::{all, parse, repo, schema_path, schemas_dir, validate, Doc};

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
        let grpc = GRPC_FUNCTIONS
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
    for f in FUNCTIONS {
        assert!(
            images
                .iter()
                .any(|i| i.starts_with(&format!("dev.local/tickermesh/{f}:"))),
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
        .find(|d| d.kind() == "PingSource" && d.name() == "tickermesh-tick")
        .expect("the collector's PingSource");
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
                // A tonic service method, or a command crate's `Command` for its request.
                let needles = [
                    format!("async fn {}(", to_snake(method)),
                    format!("type Request = {method}Request;"),
                ];
                let implementer = GRPC_FUNCTIONS
                    .into_iter()
                    .find(|f| {
                        let path = repo().join("functions").join(f).join("src/lib.rs");
                        let lib = std::fs::read_to_string(&path)
                            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                        needles.iter().any(|n| lib.contains(n))
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
    assert!(rpcs.len() >= 8, "{rpcs:?}");
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
    for function in GRPC_FUNCTIONS {
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

/// Every function with an image (one list, in the harness).
use tickermesh_tests::containers::FUNCTIONS;

/// The functions that serve gRPC, behind the router.
const GRPC_FUNCTIONS: [&str; 6] = ["register", "access", "update", "delete", "watch", "query"];

fn up_sh() -> String {
    std::fs::read_to_string(repo().join("minikube/up.sh")).unwrap()
}

/// The value of a `NAME=value` line of minikube/up.sh.
fn up_var(name: &str) -> String {
    up_sh()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("up.sh sets no {name}"))
        .to_owned()
}

/// Knative Serving's default `registries-skipping-tag-resolving` (knative/serving
/// knative-v1.23.0: config/core/configmaps/deployment.yaml, pkg/deployment/config.go). Images of
/// any other registry are resolved to a digest at that registry when a revision is made.
const KNATIVE_SKIPS_TAG_RESOLVING: [&str; 3] = ["kind.local", "ko.local", "dev.local"];

/// The registry of an image reference, read as go-containerregistry (which Knative uses) reads it:
/// the part before the first `/` if it holds a `.` or `:`, else Docker Hub.
fn registry(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') => first,
        _ => "index.docker.io",
    }
}

#[test]
fn images_built_in_the_cluster_skip_knative_tag_resolution() {
    // The old names were looked up at Docker Hub, where they do not exist.
    assert_eq!(registry("tickermesh/register:dev"), "index.docker.io");
    assert_eq!(registry("dev.local/tickermesh/register:x"), "dev.local");
    assert!(
        !up_sh().contains("config-deployment"),
        "up.sh relies on Knative's default list of registries it skips"
    );
    let ours = format!("{}/", up_var("IMAGE_REPO"));
    let built = up_var("FUNCTIONS");
    let mut checked = 0;
    for doc in all() {
        let knative = doc.api_version() == "serving.knative.dev/v1";
        for c in containers(&doc) {
            let image = c["image"].as_str().unwrap();
            let what = format!("{} {}: {image}", doc.file.display(), doc.name());
            if knative || image.starts_with(&ours) {
                assert!(
                    KNATIVE_SKIPS_TAG_RESOLVING.contains(&registry(image)),
                    "{what}: Knative would resolve this tag at {}",
                    registry(image)
                );
                let function = image
                    .strip_prefix(&ours)
                    .and_then(|rest| rest.split(':').next())
                    .unwrap_or_else(|| panic!("{what}: not an image up.sh builds"));
                assert!(
                    built
                        .split(' ')
                        .any(|f| f.trim_matches(['(', ')']) == function),
                    "{what}: up.sh builds no {function}"
                );
                assert_eq!(c["imagePullPolicy"], "IfNotPresent", "{what}");
                checked += 1;
            } else {
                // Public images come from their registries, pinned to a version.
                let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
                assert!(
                    !tag.is_empty() && tag != "latest" && !tag.contains('/'),
                    "{what}: pin a version"
                );
            }
        }
    }
    assert_eq!(
        checked, 14,
        "10 Knative Services, 2 KafkaSource Services, 2 KEDA Deployments"
    );
}

#[test]
fn keda_wakes_a_consumer_for_one_event_and_owns_its_replicas() {
    let docs = all();
    let mut checked = 0;
    for so in docs.iter().filter(|d| d.kind() == "ScaledObject") {
        for trigger in so.value["spec"]["triggers"].as_array().unwrap() {
            // KEDA activates at zero replicas when the lag is greater than this.
            assert_eq!(
                trigger["metadata"]["activationLagThreshold"],
                "0",
                "{}: one waiting event must wake the consumer",
                so.name()
            );
            let lag: u64 = trigger["metadata"]["lagThreshold"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(lag > 0);
        }
        let target = &so.value["spec"]["scaleTargetRef"]["name"];
        let deployment = docs
            .iter()
            .find(|d| d.kind() == "Deployment" && d.name() == target)
            .unwrap();
        assert!(
            deployment.value["spec"].get("replicas").is_none(),
            "{}: replicas would reset KEDA's count on every apply",
            deployment.name()
        );
        checked += 1;
    }
    assert_eq!(checked, 2);
}

/// `major.minor` of `v1.34.0`, `knative-v1.23.0`, `v2.20.2`.
fn minor(version: &str) -> (u32, u32) {
    let v = version
        .trim_start_matches("knative-")
        .trim_start_matches('v');
    let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap());
    (parts.next().unwrap(), parts.next().unwrap())
}

/// The minimum Kubernetes minor of each Knative 1.x: `DefaultKubernetesMinVersion` in
/// knative.dev/pkg `version/version.go` on the release branch (release-1.23: v1.34.0).
const KNATIVE_MIN_KUBERNETES: &[(u32, u32)] = &[(23, 34)];
/// The Kubernetes minors each KEDA 2.x is tested on (keda.sh/docs/2.20/operate/cluster: v1.33 - v1.35).
const KEDA_KUBERNETES: &[(u32, (u32, u32))] = &[(20, (33, 35))];

#[test]
fn one_knative_release_on_a_kubernetes_knative_and_keda_support() {
    let text = up_sh();
    let pins: Vec<(&str, &str)> = text
        .lines()
        .filter(|l| l.starts_with("KNATIVE_") && l.contains("_VERSION="))
        .map(|l| l.split_once('=').unwrap())
        .collect();
    let names: Vec<&str> = pins.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "KNATIVE_SERVING_VERSION",
            "KNATIVE_KOURIER_VERSION",
            "KNATIVE_EVENTING_VERSION",
            "KNATIVE_KAFKA_VERSION"
        ]
    );
    let minors: BTreeSet<(u32, u32)> = pins.iter().map(|(_, v)| minor(v)).collect();
    assert_eq!(minors.len(), 1, "one Knative release for all: {pins:?}");
    // No Knative version written anywhere else in the script.
    assert_eq!(text.matches("knative-v").count(), pins.len(), "{pins:?}");
    for (name, _) in &pins {
        assert!(text.contains(&format!("\"${name}\"")), "{name} is not used");
    }

    let (_, knative) = minors.into_iter().next().unwrap();
    let (_, keda) = minor(&up_var("KEDA_VERSION"));
    let (_, kubernetes) = minor(&up_var("KUBERNETES_VERSION"));
    let min = KNATIVE_MIN_KUBERNETES
        .iter()
        .find(|(k, _)| *k == knative)
        .unwrap_or_else(|| panic!("add Knative 1.{knative}'s documented minimum Kubernetes"))
        .1;
    let (low, high) = KEDA_KUBERNETES
        .iter()
        .find(|(k, _)| *k == keda)
        .unwrap_or_else(|| panic!("add KEDA 2.{keda}'s documented Kubernetes range"))
        .1;
    assert!(
        kubernetes >= min && kubernetes >= low && kubernetes <= high,
        "Kubernetes 1.{kubernetes}: Knative 1.{knative} needs >= 1.{min}, KEDA 2.{keda} supports 1.{low}-1.{high}"
    );
    assert!(text.contains("--kubernetes-version=\"$KUBERNETES_VERSION\""));
}

/// The Prometheus annotations, labels and resources every function workload carries.
#[test]
fn every_function_workload_is_labelled_scraped_and_sized() {
    let mut checked = 0;
    for doc in all() {
        let Some(c) = containers(&doc).into_iter().find(|c| {
            c["image"]
                .as_str()
                .unwrap_or_default()
                .starts_with("dev.local/tickermesh/")
        }) else {
            continue;
        };
        let what = format!("{} {}", doc.file.display(), doc.name());
        let function = c["name"].as_str().unwrap();
        assert!(FUNCTIONS.contains(&function), "{what}");
        let meta = &doc.value["spec"]["template"]["metadata"];
        assert_eq!(
            meta["labels"]["app.kubernetes.io/part-of"], "tickermesh",
            "{what}"
        );
        assert_eq!(
            meta["labels"]["app.kubernetes.io/component"], function,
            "{what}"
        );
        let port = c["ports"][0]["containerPort"].as_u64().unwrap().to_string();
        assert_eq!(
            meta["annotations"]["prometheus.io/scrape"], "true",
            "{what}"
        );
        assert_eq!(
            meta["annotations"]["prometheus.io/path"], "/metrics",
            "{what}"
        );
        assert_eq!(
            meta["annotations"]["prometheus.io/port"].as_str(),
            Some(port.as_str()),
            "{what}"
        );
        let res = &c["resources"];
        for field in [
            &res["requests"]["cpu"],
            &res["requests"]["memory"],
            &res["limits"]["memory"],
        ] {
            assert!(field.is_string(), "{what}: resources {res}");
        }
        checked += 1;
    }
    assert_eq!(checked, 14);
}

/// The KafkaSources of the pipeline (evaluate's and notify's, the KafkaSource variant) dead-letter
/// what their sink still refuses after the retries. Collect requests are the exception, checked
/// in `manifests/events.rs`: best effort, as the next tick collects the ticker anyway.
#[test]
fn kafka_sources_dead_letter_what_their_sink_refuses() {
    let docs = all();
    let mut checked = 0;
    for source in docs.iter().filter(|d| d.kind() == "KafkaSource") {
        let delivery = &source.value["spec"]["delivery"];
        assert!(delivery["retry"].as_u64().unwrap() > 0);
        if source.name() == events::COLLECT_REQUESTS_SOURCE {
            continue;
        }
        let dls = &delivery["deadLetterSink"]["ref"];
        assert_eq!(dls["apiVersion"], "v1", "{}: {delivery}", source.name());
        assert_eq!(dls["kind"], "Service");
        let service = docs
            .iter()
            .find(|d| d.kind() == "Service" && d.api_version() == "v1" && d.name() == dls["name"])
            .unwrap_or_else(|| panic!("{}: no Service {}", source.name(), dls["name"]));
        // A Service reference resolves to http://<name>.<namespace>.svc.cluster.local/: port 80.
        assert_eq!(service.value["spec"]["ports"][0]["port"], 80);
        assert_eq!(
            service.file.parent(),
            source.file.parent(),
            "deployed together"
        );
        let selector = service.value["spec"]["selector"]["app.kubernetes.io/component"].clone();
        assert!(
            docs.iter().any(|d| d.kind() == "Deployment"
                && d.value["spec"]["template"]["metadata"]["labels"]
                    ["app.kubernetes.io/component"]
                    == selector),
            "nothing serves {}",
            dls["name"]
        );
        checked += 1;
    }
    assert_eq!(checked, 2);
}

/// CPU requests, in millicores, of what up.sh installs besides tickermesh, one pod each, from
/// the manifests of the pinned releases.
const PLATFORM_CPU_REQUESTS: &[(&str, u64)] = &[
    ("Minikube kube-system: apiserver 250m, controller-manager 200m, scheduler, etcd, coredns 100m each", 750),
    ("Knative Serving knative-v1.23.0 config/core/deployments: activator 300m; autoscaler, controller, webhook 100m each", 600),
    ("net-kourier knative-v1.23.0 config/300-controller.yaml, 300-gateway.yaml: 200m each", 400),
    ("Knative Eventing config/core/deployments (release-1.22 and main of 2026-06 agree): controller, webhook 100m each; job-sink, pingsource-mt-adapter 125m each", 450),
    ("eventing-kafka-broker knative-v1.23.0 control plane: kafka-controller 100m, kafka-webhook-eventing 20m", 120),
    ("KEDA 2.20 (keda.sh/docs/2.20/operate/cluster): operator, metrics server, admission webhooks 100m each", 300),
    ("Calico as minikube installs it (kubernetes/minikube pkg/minikube/cni/calico.yaml): calico-node 250m; kube-controllers none", 250),
];
/// Knative's queue-proxy beside each Knative Service pod (`queue-sidecar-cpu-request` default).
const QUEUE_PROXY_CPU: u64 = 25;
/// Room that must stay free for scale-out: four more function pods.
const SCALE_OUT_ROOM: u64 = 4 * (50 + QUEUE_PROXY_CPU);

fn millicores(quantity: &str) -> u64 {
    match quantity.strip_suffix('m') {
        Some(m) => m.parse().unwrap(),
        None => (quantity.parse::<f64>().unwrap() * 1000.0) as u64,
    }
}

/// The CPU a document's pods request at one replica each (KEDA's and Knative's at their first).
fn cpu_requests(doc: &Doc) -> u64 {
    let per_pod: u64 = containers(doc)
        .iter()
        .filter_map(|c| c["resources"]["requests"]["cpu"].as_str())
        .map(millicores)
        .sum::<u64>()
        + if doc.api_version() == "serving.knative.dev/v1" {
            QUEUE_PROXY_CPU
        } else {
            0
        };
    per_pod * doc.value["spec"]["replicas"].as_u64().unwrap_or(1)
}

#[test]
fn minikube_has_the_cpu_for_all_that_up_sh_runs() {
    let text = up_sh();
    let cpus = up_var("MINIKUBE_CPUS").parse::<u64>().unwrap() * 1000;
    assert!(text.contains("minikube start --cpus=\"$MINIKUBE_CPUS\""));
    // The CNI is part of the platform: the table above counts Calico's request.
    assert_eq!(up_var("MINIKUBE_CNI"), "calico");
    // The KafkaSource dispatcher requests 1000m in eventing-kafka-broker knative-v1.23.0
    // (data-plane/config/source/500-dispatcher.yaml); up.sh patches it down.
    let dispatcher = millicores(&up_var("KAFKA_DISPATCHER_CPU_REQUEST"));
    assert!(dispatcher < 1000);
    assert!(
        text.contains("patch statefulset kafka-source-dispatcher")
            && text.contains("\\\"cpu\\\":\\\"$KAFKA_DISPATCHER_CPU_REQUEST\\\"")
    );
    let platform: u64 = PLATFORM_CPU_REQUESTS.iter().map(|(_, m)| m).sum::<u64>() + dispatcher;

    let docs = all();
    let under = |dir: &str| {
        let dir = repo().join(dir);
        docs.iter()
            .filter(move |d| d.file.parent() == Some(dir.as_path()))
            .map(cpu_requests)
            .sum::<u64>()
    };
    let common = under("minikube") + under("knative");
    for (variant, functions) in [
        ("keda", under("keda")),
        ("kafkasource", under("knative/kafkasource")),
    ] {
        let total = platform + common + functions;
        assert!(
            total + SCALE_OUT_ROOM <= cpus,
            "{variant}: {total}m requested ({platform}m platform, {common}m tickermesh, {functions}m \
             {variant}) + {SCALE_OUT_ROOM}m to scale out > {cpus}m"
        );
    }
}

#[test]
fn mysql_is_ready_only_when_a_login_over_tcp_works() {
    let docs = all();
    let mysql = docs
        .iter()
        .find(|d| d.kind() == "StatefulSet" && d.name() == "tickermesh-mysql")
        .unwrap();
    let c = containers(mysql)[0];
    let command: Vec<&str> = c["readinessProbe"]["exec"]["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let script = command.join(" ");
    assert!(
        !script.contains("mysqladmin"),
        "ping answers on access denied too: {script}"
    );
    for needle in [
        "--protocol=TCP",
        "--host=127.0.0.1",
        "--user=root",
        "--execute=",
    ] {
        assert!(script.contains(needle), "{needle}: {script}");
    }
    // The password from the container's environment, on no command line.
    assert!(
        script.contains("MYSQL_PWD=\"$MYSQL_ROOT_PASSWORD\""),
        "{script}"
    );
    assert!(
        !script.contains(" -p") && !script.contains("--password"),
        "{script}"
    );
    let password = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "MYSQL_ROOT_PASSWORD")
        .unwrap();
    assert!(password["value"].is_null() && password["valueFrom"]["secretKeyRef"].is_object());
    // The volume up.sh checks the password of is this StatefulSet's first claim.
    let claim = mysql.value["spec"]["volumeClaimTemplates"][0]["metadata"]["name"]
        .as_str()
        .unwrap();
    assert_eq!(up_var("MYSQL_PVC"), format!("{claim}-{}-0", mysql.name()));
}

#[test]
fn knative_readiness_probes_leave_the_period_to_knative() {
    let docs = all();
    let mut checked = 0;
    for svc in services(&docs) {
        for c in containers(svc) {
            let probe = &c["readinessProbe"];
            assert!(probe.is_object(), "{}: a readiness probe", svc.name());
            assert!(
                probe.get("periodSeconds").is_none(),
                "{}: periodSeconds turns off Knative's fast readiness polling",
                svc.name()
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 12, "10 Knative Services, 2 KafkaSource Services");
}

#[test]
fn schemas_are_in_the_repository_with_their_provenance() {
    // Inside the repository itself (compared as canonical paths, so a folder beside the
    // checkout does not count), so that a clone tests on its own.
    let dir = schemas_dir();
    let inside = dir
        .canonicalize()
        .unwrap()
        .starts_with(repo().canonicalize().unwrap());
    assert!(inside, "{}", dir.display());
    let used: BTreeSet<_> = all()
        .iter()
        .map(|d| schema_path(d.api_version(), d.kind()).expect("a schema for every kind"))
        .collect();
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    let mut files = 0;
    for sub in ["k8s", "crds"] {
        for entry in std::fs::read_dir(dir.join(sub))
            .unwrap()
            .filter_map(Result::ok)
        {
            let path = entry.path();
            let stem = path.file_stem().unwrap().to_str().unwrap().to_owned();
            assert!(
                used.contains(&path),
                "{stem}: copied but no manifest uses it"
            );
            assert!(
                readme.contains(&format!("`{stem}")),
                "{stem}: no provenance in the README"
            );
            files += 1;
        }
    }
    assert_eq!(files, used.len());
}

// What is public and who may connect to what.
#[path = "manifests/exposure.rs"]
mod exposure;

// What the functions of consent and one-click unsubscribe are given.
#[path = "manifests/access.rs"]
mod access;

// Where the events of the cron functions and the collect requests come from and go.
#[path = "manifests/events.rs"]
mod events;

// MySQL's connection limit against the functions' pools at their largest scale.
#[path = "manifests/database.rs"]
mod database;
