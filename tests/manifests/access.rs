//! What the functions of consent and one-click unsubscribe are given: the signing key from its
//! one Secret (to the functions that read it, and no other), the Kafka settings register and access publish confirmation mails with, notify's
//! public URL, and the client address the gRPC router writes for the per-client limits; every
//! Secret and ConfigMap a workload reads is one that exists.

use std::collections::BTreeSet;

use serde_json::Value;
use tickermesh_tests::manifests::{all, repo, Doc};

use super::{containers, env, up_sh};

/// The header the router writes the caller's address into.
const CLIENT_ADDRESS_HEADER: &str = "tickermesh-client-address";

/// The function containers (images up.sh builds), with the file and name of their workload.
fn function_containers(docs: &[Doc]) -> Vec<(String, &Value)> {
    docs.iter()
        .flat_map(|d| {
            containers(d).into_iter().filter_map(move |c| {
                let image = c["image"].as_str().unwrap_or_default();
                image.starts_with("dev.local/tickermesh/").then(|| {
                    let what = format!("{} {}", d.file.display(), d.name());
                    (what, c)
                })
            })
        })
        .collect()
}

/// Every Rust source file of `functions/<f>/src`, concatenated.
fn function_source(f: &str) -> String {
    let mut text = String::new();
    let mut stack = vec![repo().join("functions").join(f).join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(Result::ok)
        {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                text.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    text
}

/// The entry of `name` in a container's environment.
fn env_entry<'a>(container: &'a Value, name: &str) -> Option<&'a Value> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
}

/// The functions whose code reads `TICKERMESH_SIGNING_KEY`: access checks codes, notify derives
/// the codes it mails and signs unsubscribe links, unsubscribe checks them. register stores a
/// code's nonce and never derives one, so it gets no key.
const READ_THE_SIGNING_KEY: [&str; 3] = ["access", "notify", "unsubscribe"];

#[test]
fn the_signing_key_reaches_exactly_the_functions_that_read_it_from_its_secret() {
    let docs = all();
    let mut users = BTreeSet::new();
    for (what, c) in function_containers(&docs) {
        let Some(entry) = env_entry(c, "TICKERMESH_SIGNING_KEY") else {
            continue;
        };
        assert!(entry.get("value").is_none(), "{what}: a key in a manifest");
        let secret = &entry["valueFrom"]["secretKeyRef"];
        assert_eq!(secret["name"], "tickermesh-signing", "{what}");
        assert_eq!(secret["key"], "key", "{what}");
        users.insert(c["name"].as_str().unwrap().to_owned());
    }
    let expected: BTreeSet<String> = READ_THE_SIGNING_KEY.map(String::from).into();
    assert_eq!(users, expected);
    // Each of them reads it (a function that stopped reading it would keep a secret it does
    // not use), and a function left out, register, does not.
    for f in READ_THE_SIGNING_KEY.iter().chain(&["register"]) {
        let source = function_source(f);
        assert_eq!(
            source.contains("SigningKey::from_env()"),
            *f != "register",
            "{f}: SigningKey::from_env() in functions/{f}/src"
        );
    }
    // Made once by up.sh from random bytes in a private file, and kept on later runs.
    let up = up_sh();
    assert!(
        up.contains("\nsigning_secret\n"),
        "up.sh makes no signing key"
    );
    assert!(up.contains("head -c 32 /dev/urandom"), "32 random bytes");
    assert!(
        up.contains("kubectl -n tickermesh get secret \"$name\""),
        "an existing key is kept"
    );
}

#[test]
fn register_and_access_publish_where_notify_consumes() {
    let docs = all();
    let functions = function_containers(&docs);
    let notify = functions
        .iter()
        .find(|(what, c)| c["name"] == "notify" && what.contains("keda/"))
        .map(|(_, c)| *c)
        .expect("the KEDA notify");
    let mut checked = 0;
    for (what, c) in functions.iter().filter(|(_, c)| {
        let name = c["name"].as_str().unwrap_or_default();
        name == "register" || name == "access"
    }) {
        for var in ["TICKERMESH_KAFKA_BROKERS", "TICKERMESH_ALERTS_TOPIC"] {
            assert!(env(c, var).is_some(), "{what}: no {var}");
            assert_eq!(env(c, var), env(notify, var), "{what}: {var}");
        }
        assert_eq!(
            env(c, "TICKERMESH_CLIENT_ADDRESS_HEADER"),
            Some(CLIENT_ADDRESS_HEADER),
            "{what}"
        );
        checked += 1;
    }
    assert_eq!(checked, 2, "register and access");
}

/// Envoy writes the address of the TCP peer into the header on every request, replacing what a
/// caller sent: a client cannot choose the address it is limited by.
#[test]
fn the_router_writes_the_client_address_over_what_the_caller_sent() {
    let docs = all();
    let config = docs
        .iter()
        .find(|d| d.kind() == "ConfigMap" && d.name() == "tickermesh-grpc")
        .unwrap();
    let envoy: Value =
        serde_yaml::from_str(config.value["data"]["envoy.yaml"].as_str().unwrap()).unwrap();
    let route_config = &envoy["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
        ["typed_config"]["route_config"];
    let added: Vec<&Value> = route_config["request_headers_to_add"]
        .as_array()
        .expect("request_headers_to_add on the route configuration")
        .iter()
        .filter(|h| h["header"]["key"] == CLIENT_ADDRESS_HEADER)
        .collect();
    assert_eq!(added.len(), 1, "{route_config}");
    assert_eq!(
        added[0]["header"]["value"],
        "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"
    );
    assert_eq!(added[0]["append_action"], "OVERWRITE_IF_EXISTS_OR_ADD");
    // Nothing closer to the request (a virtual host, a route) sets or removes it again.
    let text = route_config["virtual_hosts"].to_string();
    assert!(!text.contains(CLIENT_ADDRESS_HEADER), "{text}");
}

#[test]
fn notify_makes_its_links_under_the_public_url_up_sh_sets() {
    let docs = all();
    let mut checked = 0;
    for (what, c) in function_containers(&docs)
        .into_iter()
        .filter(|(_, c)| c["name"] == "notify")
    {
        for (var, key) in [
            ("TICKERMESH_PUBLIC_URL", "url"),
            ("TICKERMESH_UNSUBSCRIBE_MAILTO", "mailto"),
        ] {
            let entry = env_entry(c, var).unwrap_or_else(|| panic!("{what}: no {var}"));
            let from = &entry["valueFrom"]["configMapKeyRef"];
            assert_eq!(from["name"], "tickermesh-public", "{what}: {var}");
            assert_eq!(from["key"], key, "{what}: {var}");
        }
        checked += 1;
    }
    assert_eq!(checked, 2, "the KEDA and the KafkaSource notify");
    let up = up_sh();
    assert!(
        up.contains("settings tickermesh-public \"url=$public_url\" \"mailto="),
        "up.sh makes no tickermesh-public"
    );
}

/// The names of the Secrets and ConfigMaps a document's pods read.
fn referenced(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                let named = matches!(
                    key.as_str(),
                    "secretKeyRef" | "configMapKeyRef" | "configMap" | "secretRef" | "configMapRef"
                );
                if named {
                    if let Some(name) = inner["name"].as_str() {
                        out.insert(name.to_owned());
                    }
                }
                if key == "secret" {
                    if let Some(name) = inner["secretName"].as_str() {
                        out.insert(name.to_owned());
                    }
                }
                referenced(inner, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| referenced(i, out)),
        _ => {}
    }
}

#[test]
fn every_secret_and_config_map_a_pod_reads_is_made() {
    let docs = all();
    let up = up_sh();
    let mut names = BTreeSet::new();
    for doc in &docs {
        referenced(&doc.value["spec"], &mut names);
    }
    assert!(names.contains("tickermesh-signing") && names.contains("tickermesh-public"));
    for name in names {
        let in_manifests = docs
            .iter()
            .any(|d| matches!(d.kind(), "Secret" | "ConfigMap") && d.name() == name);
        assert!(
            in_manifests || up.contains(&name),
            "{name} is read by a pod but neither a manifest nor up.sh makes it"
        );
    }
}
