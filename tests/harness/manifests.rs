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
