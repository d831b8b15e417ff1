//! Nothing internal reachable from outside: which Services are public, that every internal
//! Knative Service is cluster-local, what each NetworkPolicy admits (evaluated against the
//! manifests' pods and the platform's, as the API defines it), the CNI that enforces them, and
//! that the gRPC router reaches its functions at their cluster-local addresses.

use std::collections::BTreeSet;

use serde_json::Value;
use tickermesh_tests::manifests::{
    admitted, all, is_ingress, pod_labels, selector_matches, validate, Doc, Peer,
};

use super::{containers, envoy_routes, services, up_sh, up_var, FUNCTIONS, GRPC_FUNCTIONS};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Exposure {
    /// Any client may connect (through Kourier's external gateway, a port-forward or any pod).
    Public,
    /// Only the clients the NetworkPolicies name; a Knative Service only cluster-local.
    Internal,
}
use Exposure::{Internal, Public};

/// Every Service and Knative Service of the manifests, by apiVersion and name. A Service missing
/// here fails `every_service_is_classified_and_only_public_ones_are_reachable`: classify it
/// before it ships.
const EXPOSURE: &[(&str, &str, Exposure)] = &[
    ("v1", "tickermesh-grpc", Public),
    ("v1", "tickermesh-mysql", Internal),
    ("v1", "tickermesh-kafka", Internal),
    ("v1", "tickermesh-kafka-headless", Internal),
    ("v1", "tickermesh-prometheus", Internal),
    ("v1", "tickermesh-grafana", Internal),
    ("v1", "tickermesh-dead-letters", Internal),
    ("serving.knative.dev/v1", "tickermesh-register", Internal),
    ("serving.knative.dev/v1", "tickermesh-access", Internal),
    ("serving.knative.dev/v1", "tickermesh-update", Internal),
    ("serving.knative.dev/v1", "tickermesh-delete", Internal),
    ("serving.knative.dev/v1", "tickermesh-watch", Internal),
    ("serving.knative.dev/v1", "tickermesh-query", Internal),
    ("serving.knative.dev/v1", "tickermesh-collect", Internal),
    ("serving.knative.dev/v1", "tickermesh-evaluate", Internal),
    ("serving.knative.dev/v1", "tickermesh-notify", Internal),
    ("serving.knative.dev/v1", "tickermesh-digest", Internal),
    ("serving.knative.dev/v1", "tickermesh-retention", Internal),
    // The one-click unsubscribe link of every alert e-mail: mail clients POST to it from
    // anywhere (RFC 8058). Its pods, like every function's, take requests only from Kourier.
    ("serving.knative.dev/v1", "tickermesh-unsubscribe", Public),
];

/// The label Knative 1.23 reads for a cluster-local route (knative.dev/networking
/// pkg/apis/networking/register.go `VisibilityLabelKey`), on the Service's own metadata: Knative
/// copies the Service's labels to its Route (knative/serving pkg/reconciler/service/resources/
/// route.go), whose labels choose the domain (pkg/reconciler/route/config/domain.go:
/// `svc.cluster.local`) and the ingress visibility (pkg/reconciler/route/visibility).
const VISIBILITY: &str = "networking.knative.dev/visibility";

/// Ports of a Knative Service's pod besides the function's own (knative/serving
/// pkg/networking/constants.go): queue-proxy's HTTP/1 and h2c (the targetPort of the revision's
/// Services), its admin port, autoscaler metrics and user metrics.
const QUEUE_PROXY_HTTP: u64 = 8012;
const QUEUE_PROXY_H2C: u64 = 8013;
const QUEUE_PROXY_ADMIN: u64 = 8022;
const QUEUE_PROXY_METRICS: u64 = 9090;
const QUEUE_PROXY_USER_METRICS: u64 = 9091;

/// Pods outside the tickermesh namespace that the deployment talks to, with the labels of their
/// pod templates in the pinned releases.
fn kourier_gateway() -> Peer {
    // knative-extensions/net-kourier knative-v1.23.0 config/300-gateway.yaml
    Peer::new("kourier-system", &[("app", "3scale-kourier-gateway")])
}
fn activator() -> Peer {
    // knative/serving knative-v1.23.0 config/core/deployments/activator.yaml
    Peer::new("knative-serving", &[("app", "activator")])
}
fn autoscaler() -> Peer {
    // knative/serving knative-v1.23.0 config/core/deployments/autoscaler.yaml
    Peer::new("knative-serving", &[("app", "autoscaler")])
}
fn keda_operator() -> Peer {
    // kedacore/keda v2.20.2 config/manager/manager.yaml
    Peer::new("keda", &[("app", "keda-operator")])
}
fn kafka_source_dispatcher() -> Peer {
    // eventing-kafka-broker knative-v1.23.0 data-plane/config/source/500-dispatcher.yaml
    Peer::new("knative-eventing", &[("app", "kafka-source-dispatcher")])
}
fn kafka_controller() -> Peer {
    // eventing-kafka-broker knative-v1.23.0 control-plane/config/eventing-kafka-broker/
    // 200-controller/500-controller.yaml; it sets a KafkaSource's consumer group offsets
    // (control-plane/pkg/reconciler/consumergroup/consumergroup.go reconcileInitialOffset).
    Peer::new("knative-eventing", &[("app", "kafka-controller")])
}

/// Every pod that might try to connect: each workload of the manifests, the platform's pods, a
/// stranger in another namespace and one in tickermesh.
fn candidates(docs: &[Doc]) -> Vec<Peer> {
    let mut peers: Vec<Peer> = vec![
        kourier_gateway(),
        activator(),
        autoscaler(),
        keda_operator(),
        Peer::new("keda", &[("app", "keda-metrics-apiserver")]),
        kafka_source_dispatcher(),
        kafka_controller(),
        // knative/eventing config/core/deployments/pingsource-mt-adapter.yaml
        Peer::new(
            "knative-eventing",
            &[("app.kubernetes.io/component", "pingsource-mt-adapter")],
        ),
        stranger(),
        // Any other pod of the namespace (a debugging shell, say) is no client either.
        Peer::new("tickermesh", &[("app", "anything")]),
    ];
    for w in workloads(docs) {
        let peer = workload_peer(w);
        if !peers.contains(&peer) {
            peers.push(peer);
        }
    }
    peers
}

fn stranger() -> Peer {
    Peer::new("elsewhere", &[("app", "anything")])
}

fn workloads(docs: &[Doc]) -> impl Iterator<Item = &Doc> {
    docs.iter().filter(|d| pod_labels(d).is_some())
}

fn workload_peer(w: &Doc) -> Peer {
    Peer {
        namespace: w.value["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        labels: pod_labels(w).unwrap().clone(),
    }
}

fn component(w: &Doc) -> &str {
    pod_labels(w).unwrap()["app.kubernetes.io/component"]
        .as_str()
        .unwrap_or_else(|| panic!("{}: pods without a component label", w.name()))
}

fn policies(docs: &[Doc]) -> Vec<&Value> {
    docs.iter()
        .filter(|d| d.kind() == "NetworkPolicy")
        .map(|d| &d.value)
        .collect()
}

/// Whether the peer may connect to that port of the workload's pods.
fn reaches(docs: &[Doc], peer: &Peer, w: &Doc, port: u64) -> bool {
    let ns = w.value["metadata"]["namespace"].as_str().unwrap();
    admitted(&policies(docs), ns, pod_labels(w).unwrap(), peer, port)
}

/// The ports a workload's pods listen on: its containers' and, for a Knative Service, the
/// queue-proxy's.
fn listening_ports(w: &Doc) -> Vec<u64> {
    let mut ports: Vec<u64> = containers(w)
        .iter()
        .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
        .filter_map(|p| p["containerPort"].as_u64())
        .collect();
    if w.api_version() == "serving.knative.dev/v1" {
        ports.extend([
            QUEUE_PROXY_HTTP,
            QUEUE_PROXY_H2C,
            QUEUE_PROXY_ADMIN,
            QUEUE_PROXY_METRICS,
            QUEUE_PROXY_USER_METRICS,
        ]);
    }
    ports
}

/// The workloads a Service (Kubernetes: by selector; Knative: itself) sends its traffic to.
fn backends<'a>(docs: &'a [Doc], svc: &Doc) -> Vec<&'a Doc> {
    if svc.api_version() == "serving.knative.dev/v1" {
        return workloads(docs)
            .filter(|w| w.api_version() == svc.api_version() && w.name() == svc.name())
            .collect();
    }
    let selector = serde_json::json!({ "matchLabels": svc.value["spec"]["selector"] });
    workloads(docs)
        .filter(|w| selector_matches(&selector, pod_labels(w).unwrap()))
        .collect()
}

#[test]
fn every_service_is_classified_and_only_public_ones_are_reachable() {
    let docs = all();
    let svcs: Vec<&Doc> = docs.iter().filter(|d| d.kind() == "Service").collect();
    for (api, name, _) in EXPOSURE {
        assert!(
            svcs.iter()
                .any(|s| s.api_version() == *api && s.name() == *name),
            "{api} {name} is classified but no manifest has it"
        );
    }
    let mut public = Vec::new();
    for svc in &svcs {
        let what = format!(
            "{} {} {}",
            svc.file.display(),
            svc.api_version(),
            svc.name()
        );
        let exposure = EXPOSURE
            .iter()
            .find(|(api, name, _)| *api == svc.api_version() && *name == svc.name())
            .map(|(_, _, e)| *e)
            .unwrap_or_else(|| panic!("{what}: not classified public or internal in EXPOSURE"));
        if svc.api_version() == "serving.knative.dev/v1" {
            // On the Service's metadata, where Knative reads it; not on the pods' template.
            let visibility = svc.value["metadata"]["labels"][VISIBILITY].as_str();
            assert_eq!(
                visibility == Some("cluster-local"),
                exposure == Internal,
                "{what}: {VISIBILITY} = {visibility:?}"
            );
            assert!(
                svc.value["spec"]["template"]["metadata"]["labels"]
                    .get(VISIBILITY)
                    .is_none(),
                "{what}: the visibility label belongs on the Service, not its template"
            );
        } else if exposure == Internal {
            let t = svc.value["spec"]["type"].as_str().unwrap_or("ClusterIP");
            assert_eq!(
                t, "ClusterIP",
                "{what}: an internal Service gets no node or LB port"
            );
            assert!(svc.value["spec"].get("externalIPs").is_none(), "{what}");
        }
        // A public Kubernetes Service takes any client at its pods; a Knative Service's pods,
        // public or not, take requests only from Kourier's gateway and the activator (checked
        // for the functions in function_pods_admit_only_knatives_data_path_and_prometheus).
        let knative = svc.api_version() == "serving.knative.dev/v1";
        let pods = backends(&docs, svc);
        assert!(!pods.is_empty(), "{what}: no workload behind it");
        for w in pods {
            let open: Vec<u64> = listening_ports(w)
                .into_iter()
                .filter(|port| reaches(&docs, &stranger(), w, *port))
                .collect();
            if exposure == Public && !knative {
                assert!(!open.is_empty(), "{what}: public, yet no client gets in");
            } else {
                assert!(
                    open.is_empty(),
                    "{what}: pod {} takes any client on {open:?}",
                    w.name()
                );
            }
            if knative {
                assert!(
                    reaches(&docs, &kourier_gateway(), w, QUEUE_PROXY_HTTP)
                        && reaches(&docs, &kourier_gateway(), w, QUEUE_PROXY_H2C),
                    "{what}: Kourier cannot deliver to it"
                );
            }
        }
        if exposure == Public {
            public.push(svc.name().to_owned());
        }
    }
    public.sort();
    assert_eq!(
        public,
        ["tickermesh-grpc", "tickermesh-unsubscribe"],
        "the router and the unsubscribe link are the only ways in"
    );
    // Knative 1.23 honours only the networking.knative.dev key (the older serving.knative.dev one
    // appears nowhere in its source): a manifest with the old key would stay public.
    for doc in &docs {
        assert!(
            !doc.value
                .to_string()
                .contains("serving.knative.dev/visibility"),
            "{}: the old visibility key",
            doc.file.display()
        );
    }
}

/// Components whose pods take no connection at all: the topic Job, and Grafana (read through
/// `kubectl port-forward`, which NetworkPolicy does not govern).
const RECEIVE_NOTHING: [&str; 2] = ["kafka-topics", "grafana"];

#[test]
fn every_workload_is_isolated_and_selected_by_its_own_policy() {
    let docs = all();
    let pols = policies(&docs);
    let deny: Vec<&&Value> = pols
        .iter()
        .filter(|p| p["spec"]["podSelector"] == serde_json::json!({}))
        .collect();
    assert_eq!(deny.len(), 1, "one default deny: {deny:?}");
    let deny = deny[0];
    assert_eq!(deny["metadata"]["namespace"], "tickermesh");
    assert_eq!(deny["spec"]["policyTypes"], serde_json::json!(["Ingress"]));
    assert!(
        deny["spec"]["ingress"]
            .as_array()
            .is_none_or(|rules| rules.is_empty()),
        "the default deny admits nothing"
    );
    let mut checked = 0;
    for w in workloads(&docs) {
        let what = format!("{} {} {}", w.file.display(), w.kind(), w.name());
        assert_eq!(w.value["metadata"]["namespace"], "tickermesh", "{what}");
        let labels = pod_labels(w).unwrap();
        assert_eq!(labels["app.kubernetes.io/part-of"], "tickermesh", "{what}");
        let own: Vec<&str> = pols
            .iter()
            .filter(|p| p["spec"]["podSelector"] != serde_json::json!({}))
            .filter(|p| selector_matches(&p["spec"]["podSelector"], labels))
            .map(|p| p["metadata"]["name"].as_str().unwrap())
            .collect();
        if RECEIVE_NOTHING.contains(&component(w)) {
            assert!(
                own.is_empty(),
                "{what}: should take no connection, {own:?} admit some"
            );
        } else {
            assert!(
                !own.is_empty(),
                "{what}: no NetworkPolicy of its own selects its pods"
            );
        }
        checked += 1;
    }
    assert!(checked >= 14, "{checked} workloads");
    // Every policy is about pods that exist, validates, and governs ingress in the namespace.
    for p in &pols {
        let name = p["metadata"]["name"].as_str().unwrap();
        assert_eq!(p["metadata"]["namespace"], "tickermesh", "{name}");
        assert!(is_ingress(p), "{name}");
        assert!(validate(p).is_ok(), "{name}");
        assert!(
            workloads(&docs)
                .any(|w| selector_matches(&p["spec"]["podSelector"], pod_labels(w).unwrap())),
            "{name} selects no pod of the manifests"
        );
    }
    // The schema holds NetworkPolicies to the API (so the check above means something).
    let mut broken = (**deny).clone();
    broken["spec"]["policyTypes"] = Value::from("Ingress");
    assert!(validate(&broken).is_err(), "policyTypes is a list");
    let mut broken = (**deny).clone();
    broken["spec"]["ingres"] = serde_json::json!([]);
    assert!(validate(&broken).is_err(), "an unknown field");
}

/// The workloads of the manifests whose containers mention `needle` (a variable they read, or
/// an address they connect to), by component.
fn components_using(docs: &[Doc], needle: &str, except: &str) -> BTreeSet<String> {
    workloads(docs)
        .filter(|w| component(w) != except)
        .filter(|w| containers(w).iter().any(|c| c.to_string().contains(needle)))
        .map(|w| component(w).to_owned())
        .collect()
}

/// Checks that the server's port admits exactly `clients` among every candidate, and that its
/// other ports admit no one.
fn admits_exactly(docs: &[Doc], server: &str, port: u64, clients: &[Peer]) {
    let w = workloads(docs)
        .find(|w| component(w) == server)
        .unwrap_or_else(|| panic!("no {server} workload"));
    assert!(
        listening_ports(w).contains(&port),
        "{server} listens on {port}"
    );
    for peer in candidates(docs) {
        let expected = clients.iter().any(|c| c == &peer);
        assert_eq!(
            reaches(docs, &peer, w, port),
            expected,
            "{server}:{port} from {peer:?}"
        );
        for other in listening_ports(w).into_iter().filter(|p| *p != port) {
            assert!(
                !reaches(docs, &peer, w, other),
                "{server}:{other} from {peer:?}"
            );
        }
    }
}

fn tickermesh_peers(docs: &[Doc], components: &BTreeSet<String>) -> Vec<Peer> {
    workloads(docs)
        .filter(|w| components.contains(component(w)))
        .map(workload_peer)
        .collect()
}

#[test]
fn mysql_and_kafka_admit_exactly_the_pods_that_use_them() {
    let docs = all();
    let set = |names: &[&str]| {
        names
            .iter()
            .map(|n| (*n).to_owned())
            .collect::<BTreeSet<_>>()
    };

    // MySQL: every workload with the database URL, which is all twelve functions.
    let db = components_using(&docs, "TICKERMESH_DATABASE_URL", "mysql");
    assert_eq!(db, FUNCTIONS.iter().map(|f| (*f).to_owned()).collect());
    admits_exactly(&docs, "mysql", 3306, &tickermesh_peers(&docs, &db));

    // Kafka: every workload that names the broker (the event functions, register and access,
    // which publish the confirmation-code events, access, watch and update, which publish collect
    // requests, digest, the topic Job), KEDA's operator (the lag that wakes evaluate and
    // notify), and Knative's KafkaSource dispatcher and controller (collect's requests; evaluate
    // and notify in the KafkaSource variant).
    let kafka = components_using(&docs, "tickermesh-kafka", "kafka");
    assert_eq!(
        kafka,
        set(&[
            "access",
            "collect",
            "digest",
            "evaluate",
            "kafka-topics",
            "notify",
            "register",
            "update",
            "watch"
        ])
    );
    let mut clients = tickermesh_peers(&docs, &kafka);
    clients.extend([
        keda_operator(),
        kafka_source_dispatcher(),
        kafka_controller(),
    ]);
    admits_exactly(&docs, "kafka", 9092, &clients);
}

#[test]
fn function_pods_admit_only_knatives_data_path_and_prometheus() {
    let docs = all();
    let prometheus = workload_peer(
        workloads(&docs)
            .find(|w| component(w) == "prometheus")
            .unwrap(),
    );
    let mut checked = 0;
    for w in workloads(&docs).filter(|w| FUNCTIONS.contains(&component(w))) {
        let what = format!("{} {} {}", w.file.display(), w.kind(), w.name());
        let scrape: u64 = w.value["spec"]["template"]["metadata"]["annotations"]
            ["prometheus.io/port"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        // Kourier's gateway (serving) and the activator (scaled to zero, bursts) send requests
        // to queue-proxy; the activator probes it there too; the autoscaler scrapes queue-proxy's
        // metrics (knative/serving pkg/autoscaler/metrics/stats_scraper.go: http://<pod IP>:9090);
        // Prometheus the function's /metrics. The router and the event sources never connect to
        // a function pod: they call its cluster-local address, which Kourier serves.
        let expected = [
            (kourier_gateway(), QUEUE_PROXY_HTTP),
            (kourier_gateway(), QUEUE_PROXY_H2C),
            (activator(), QUEUE_PROXY_HTTP),
            (activator(), QUEUE_PROXY_H2C),
            (autoscaler(), QUEUE_PROXY_METRICS),
            (prometheus.clone(), scrape),
        ];
        let mut ports = listening_ports(w);
        ports.extend([QUEUE_PROXY_HTTP, QUEUE_PROXY_H2C, QUEUE_PROXY_METRICS]);
        for peer in candidates(&docs) {
            for &port in &ports {
                let allowed = expected.iter().any(|(p, n)| p == &peer && *n == port);
                assert_eq!(
                    reaches(&docs, &peer, w, port),
                    allowed,
                    "{what}: port {port} from {peer:?}"
                );
            }
        }
        checked += 1;
    }
    assert_eq!(
        checked, 14,
        "10 Knative Services, 2 KafkaSource Services, 2 KEDA Deployments"
    );
}

/// The other connections the deployment needs, each admitted: Grafana queries Prometheus, the
/// KafkaSource dispatcher posts to the dead-letter sink, Prometheus scrapes every annotated pod.
#[test]
fn the_other_connections_are_admitted() {
    let docs = all();
    let find = |c: &str| workloads(&docs).find(|w| component(w) == c).unwrap();
    let (grafana, prometheus) = (find("grafana"), find("prometheus"));
    let datasource = docs
        .iter()
        .find(|d| d.name() == "tickermesh-grafana-provisioning")
        .unwrap()
        .value["data"]["datasources.yaml"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(datasource.contains("tickermesh-prometheus.tickermesh.svc.cluster.local:9090"));
    assert!(reaches(&docs, &workload_peer(grafana), prometheus, 9090));

    let dead_letters = find("dead-letters");
    assert!(reaches(
        &docs,
        &kafka_source_dispatcher(),
        dead_letters,
        8080
    ));
    assert!(!reaches(&docs, &stranger(), dead_letters, 8080));

    for w in workloads(&docs) {
        let annotations = &w.value["spec"]["template"]["metadata"]["annotations"];
        if annotations["prometheus.io/scrape"] == "true" {
            let port = annotations["prometheus.io/port"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(
                reaches(&docs, &workload_peer(prometheus), w, port),
                "Prometheus cannot scrape {}",
                w.name()
            );
        }
    }
}

/// The address of an Envoy cluster of the router: (host, port) of its one endpoint.
fn envoy_cluster(docs: &[Doc], name: &str) -> (String, u64) {
    let config = docs
        .iter()
        .find(|d| d.kind() == "ConfigMap" && d.name() == "tickermesh-grpc")
        .unwrap();
    let envoy: Value =
        serde_yaml::from_str(config.value["data"]["envoy.yaml"].as_str().unwrap()).unwrap();
    let cluster = envoy["static_resources"]["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no Envoy cluster {name}"));
    let endpoints = &cluster["load_assignment"]["endpoints"];
    assert_eq!(endpoints.as_array().unwrap().len(), 1, "{name}");
    let lb = endpoints[0]["lb_endpoints"].as_array().unwrap();
    assert_eq!(lb.len(), 1, "{name}");
    let address = &lb[0]["endpoint"]["address"]["socket_address"];
    // h2c upstream: the functions speak gRPC over HTTP/2 cleartext, and Kourier passes it on.
    assert!(
        cluster["typed_extension_protocol_options"]
            .to_string()
            .contains("http2_protocol_options"),
        "{name}: h2c upstream"
    );
    (
        address["address"].as_str().unwrap().to_owned(),
        address["port_value"].as_u64().unwrap(),
    )
}

/// The router reaches each function at a host Knative serves for a cluster-local Service, on
/// Kourier's internal gateway: knative/serving pkg/reconciler/route/domains/domains.go makes the
/// cluster-local domain `<name>.<namespace>.svc.cluster.local`, expanded to `<name>.<namespace>`
/// and `<name>.<namespace>.svc` (knative.dev/networking pkg/ingress `ExpandedHosts`); net-kourier
/// pkg/generator/ingress_translator.go puts cluster-local hosts on the internal gateway only,
/// served by the Service kourier-internal, port 80 (config/300-gateway.yaml).
#[test]
fn router_upstreams_are_cluster_local_grpc_functions() {
    let docs = all();
    let routes = envoy_routes(&docs);
    assert!(routes.len() >= 9);
    for route in &routes {
        let cluster = route["route"]["cluster"].as_str().unwrap();
        assert_eq!(
            envoy_cluster(&docs, cluster),
            (
                "kourier-internal.kourier-system.svc.cluster.local".to_owned(),
                80
            ),
            "{route}: not Kourier's internal gateway"
        );
        let host = route["route"]["host_rewrite_literal"].as_str().unwrap();
        let (name, rest) = host.split_once('.').unwrap();
        let (namespace, suffix) = rest.split_once('.').unwrap_or((rest, ""));
        assert!(
            ["", "svc", "svc.cluster.local"].contains(&suffix),
            "{host}: not a cluster-local host"
        );
        let svc = services(&docs)
            .find(|s| s.name() == name && s.value["metadata"]["namespace"] == namespace)
            .unwrap_or_else(|| panic!("{host}: no Knative Service {name} in {namespace}"));
        assert_eq!(
            svc.value["metadata"]["labels"][VISIBILITY], "cluster-local",
            "{host}"
        );
        // Only the gRPC functions are behind the router; the event functions take their events
        // from their sources only, and the unsubscribe link is reached from outside directly.
        let function = name.strip_prefix("tickermesh-").unwrap();
        assert!(
            GRPC_FUNCTIONS.contains(&function),
            "{host}: the router must not reach {function}"
        );
    }
}

/// CNIs that enforce NetworkPolicy among those minikube installs (`--cni`): its default, bridge
/// or kindnet, does not, and the policies would be accepted and ignored (minikube
/// site/content/en/docs/handbook/network_policy.md).
const CNIS_ENFORCING_NETWORK_POLICY: [&str; 2] = ["calico", "cilium"];

#[test]
fn minikube_runs_a_cni_that_enforces_the_policies() {
    let text = up_sh();
    assert!(CNIS_ENFORCING_NETWORK_POLICY.contains(&up_var("MINIKUBE_CNI").as_str()));
    let start = text
        .split("minikube start ")
        .nth(1)
        .and_then(|rest| rest.split("\nfi").next())
        .expect("up.sh starts minikube");
    assert!(start.contains("--cni=\"$MINIKUBE_CNI\""), "{start}");
}
