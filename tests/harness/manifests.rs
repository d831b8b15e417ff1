//! The deployment manifests under `knative/`, `keda/` and `minikube/`, and the offline JSON
//! Schemas they are checked against: the copies in `tests/schemas` (provenance in its README),
//! so that a clone of the repository tests on its own.

use std::path::{Path, PathBuf};

use serde_json::Value;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn schemas_dir() -> PathBuf {
    repo().join("tests/schemas")
}

/// One YAML document of a manifest file.
#[derive(Debug, Clone)]
pub struct Doc {
    pub file: PathBuf,
    pub value: Value,
}

impl Doc {
    pub fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or_default()
    }

    pub fn api_version(&self) -> &str {
        self.value["apiVersion"].as_str().unwrap_or_default()
    }

    pub fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or_default()
    }
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        // minikube/monitoring holds Prometheus rules and configs, not Kubernetes objects; up.sh
        // turns them into ConfigMaps.
        if path.is_dir() {
            if !path.ends_with("minikube/monitoring") {
                yaml_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

/// Parses every YAML document of a text (`---`-separated); empty documents are skipped.
pub fn parse(file: &Path, text: &str) -> Vec<Doc> {
    serde_yaml::Deserializer::from_str(text)
        .filter_map(|d| {
            let value: Value = serde::Deserialize::deserialize(d)
                .unwrap_or_else(|e| panic!("{}: not YAML: {e}", file.display()));
            (!value.is_null()).then(|| Doc {
                file: file.to_owned(),
                value,
            })
        })
        .collect()
}

/// Every manifest document of the repository.
pub fn all() -> Vec<Doc> {
    let mut files = Vec::new();
    for dir in ["knative", "keda", "minikube"] {
        yaml_files(&repo().join(dir), &mut files);
    }
    files.sort();
    files
        .iter()
        .flat_map(|f| parse(f, &std::fs::read_to_string(f).expect("read manifest")))
        .collect()
}

/// The schema file for a document, by the kubeconform rule: `kind-group-version.json`
/// (`kind-version.json` for the core group), in `k8s/` or `crds/`.
pub fn schema_path(api_version: &str, kind: &str) -> Option<PathBuf> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let name = match group.split('.').next() {
        Some(first) if !first.is_empty() => {
            format!("{}-{first}-{version}.json", kind.to_lowercase())
        }
        _ => format!("{}-{version}.json", kind.to_lowercase()),
    };
    ["k8s", "crds"]
        .iter()
        .map(|d| schemas_dir().join(d).join(&name))
        .find(|p| p.exists())
}

/// Validates one document: `Err` lists what is wrong (including "no schema").
pub fn validate(doc: &Value) -> Result<(), Vec<String>> {
    let api = doc["apiVersion"].as_str().unwrap_or_default();
    let kind = doc["kind"].as_str().unwrap_or_default();
    let Some(path) = schema_path(api, kind) else {
        return Err(vec![format!(
            "no schema for {api} {kind} in {}",
            schemas_dir().display()
        )]);
    };
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("schema"))
        .expect("schema JSON");
    let validator = jsonschema::validator_for(&schema).expect("a valid schema");
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// The labels of the pods a workload document makes (its pod template's), or `None` for a kind
/// that makes no pods. A Knative Service's pods carry its template's labels (Knative adds its own).
pub fn pod_labels(doc: &Doc) -> Option<&Value> {
    match doc.kind() {
        "Deployment" | "StatefulSet" | "Job" => {
            Some(&doc.value["spec"]["template"]["metadata"]["labels"])
        }
        "Service" if doc.api_version() == "serving.knative.dev/v1" => {
            Some(&doc.value["spec"]["template"]["metadata"]["labels"])
        }
        _ => None,
    }
}

/// Whether a Kubernetes LabelSelector (`matchLabels`, `matchExpressions` with In, NotIn, Exists,
/// DoesNotExist) selects an object with these labels. An empty selector selects everything.
pub fn selector_matches(selector: &Value, labels: &Value) -> bool {
    let label = |k: &str| labels.get(k).and_then(Value::as_str);
    let by_labels = selector["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(k, v)| label(k) == v.as_str());
    let by_expressions = selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|e| {
            let key = e["key"].as_str().unwrap_or_default();
            let values: Vec<&str> = e["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            match e["operator"].as_str() {
                Some("In") => label(key).is_some_and(|v| values.contains(&v)),
                Some("NotIn") => label(key).is_none_or(|v| !values.contains(&v)),
                Some("Exists") => label(key).is_some(),
                Some("DoesNotExist") => label(key).is_none(),
                other => panic!("unknown selector operator {other:?}"),
            }
        });
    by_labels && by_expressions
}

/// A pod that may open a connection: its namespace and its labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Peer {
    pub namespace: String,
    pub labels: Value,
}

impl Peer {
    pub fn new(namespace: &str, labels: &[(&str, &str)]) -> Self {
        let labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
            .collect::<serde_json::Map<_, _>>();
        Peer {
            namespace: namespace.to_owned(),
            labels: Value::Object(labels),
        }
    }

    /// The labels Kubernetes puts on every namespace (`kubernetes.io/metadata.name`).
    fn namespace_labels(&self) -> Value {
        serde_json::json!({ "kubernetes.io/metadata.name": self.namespace })
    }
}

/// Whether one `from` entry of a NetworkPolicy (in `policy_ns`) matches the peer, by the API's
/// rules: podSelector alone means pods of the policy's namespace; namespaceSelector alone, every
/// pod of the matching namespaces; both, the matching pods of the matching namespaces. ipBlock
/// (addresses, not pods) is refused here: the policies name pods.
fn from_matches(from: &Value, policy_ns: &str, peer: &Peer) -> bool {
    assert!(from.get("ipBlock").is_none(), "ipBlock in a policy: {from}");
    let namespace_ok = match from.get("namespaceSelector") {
        Some(sel) => selector_matches(sel, &peer.namespace_labels()),
        None => peer.namespace == policy_ns,
    };
    let pod_ok = from
        .get("podSelector")
        .is_none_or(|sel| selector_matches(sel, &peer.labels));
    namespace_ok && pod_ok
}

/// Whether a NetworkPolicy's ingress rules let the peer connect to a selected pod's TCP port.
/// (Whether the policy selects the pod is `selector_matches` on its podSelector.) Only numbered
/// ports are understood; a named port fails, so that no rule is misread.
pub fn policy_admits(policy: &Value, peer: &Peer, port: u64) -> bool {
    let ns = policy["metadata"]["namespace"].as_str().unwrap_or_default();
    policy["spec"]["ingress"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|rule| {
            // An absent or empty list allows every source, or every port.
            let list = |key: &str| rule[key].as_array().filter(|a| !a.is_empty());
            let from_ok =
                list("from").is_none_or(|from| from.iter().any(|f| from_matches(f, ns, peer)));
            let port_ok = list("ports").is_none_or(|ports| {
                ports.iter().any(|p| {
                    let number = p["port"]
                        .as_u64()
                        .unwrap_or_else(|| panic!("only numbered ports: {p}"));
                    let end = p["endPort"].as_u64().unwrap_or(number);
                    p["protocol"].as_str().unwrap_or("TCP") == "TCP"
                        && (number..=end).contains(&port)
                })
            });
            from_ok && port_ok
        })
}

/// Whether the peer may connect to that TCP port of a pod (namespace, labels), given every
/// NetworkPolicy: a pod no Ingress policy selects takes any connection; a selected one, those
/// that at least one selecting policy admits (policies add up).
pub fn admitted(
    policies: &[&Value],
    pod_ns: &str,
    pod_labels: &Value,
    peer: &Peer,
    port: u64,
) -> bool {
    let selecting: Vec<&&Value> = policies
        .iter()
        .filter(|p| {
            p["metadata"]["namespace"].as_str() == Some(pod_ns)
                && selector_matches(&p["spec"]["podSelector"], pod_labels)
                && is_ingress(p)
        })
        .collect();
    selecting.is_empty() || selecting.iter().any(|p| policy_admits(p, peer, port))
}

/// Whether a NetworkPolicy governs ingress (`policyTypes`, which defaults to Ingress).
pub fn is_ingress(policy: &Value) -> bool {
    policy["spec"]["policyTypes"]
        .as_array()
        .is_none_or(|types| types.iter().any(|t| t == "Ingress"))
}
