//! MySQL takes every connection the functions may open at their largest scale: each function
//! with a database keeps a pool (`TICKERMESH_DB_MAX_CONNECTIONS`, 16 when unset) per replica,
//! and register keeps as many again for its one-trip registrations. Connections are opened
//! lazily, so this is the worst case — a burst that scales everything out at once — which MySQL
//! refuses past its `max_connections` ("Too many connections": UNAVAILABLE to users).

use serde_json::Value;
use tickermesh_tests::manifests::{all, repo, Doc};

use super::{containers, env};

/// The pool's size when a manifest does not set it (`StoreOptions::default`).
const DEFAULT_POOL: u64 = 16;
/// MySQL's own `max_connections` when nothing sets it.
const MYSQL_DEFAULT_MAX: u64 = 151;
/// Left for people and probes: the readiness probe's logins, an operator's client, migrations.
const RESERVE: u64 = 10;
/// Functions whose commands run as one-trip batches, each on connections of its own as many
/// as its pool (`store::batch::BatchConnections`).
const ONE_TRIP: [&str; 1] = ["tickermesh-register"];

fn uses_the_database(container: &Value) -> bool {
    container["env"]
        .as_array()
        .is_some_and(|env| env.iter().any(|e| e["name"] == "TICKERMESH_DATABASE_URL"))
}

/// The most replicas of a workload: a Knative Service's `max-scale`, a Deployment's KEDA
/// `maxReplicaCount`.
fn max_replicas(docs: &[Doc], doc: &Doc) -> u64 {
    match doc.kind() {
        "Service" => doc.value["spec"]["template"]["metadata"]["annotations"]
            ["autoscaling.knative.dev/max-scale"]
            .as_str()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{}: no max-scale", doc.name())),
        _ => docs
            .iter()
            .find(|so| {
                so.kind() == "ScaledObject"
                    && so.value["spec"]["scaleTargetRef"]["name"] == doc.name()
            })
            .and_then(|so| so.value["spec"]["maxReplicaCount"].as_u64())
            .unwrap_or_else(|| panic!("{}: no ScaledObject", doc.name())),
    }
}

/// The connections the workloads of `dir` may hold at once.
fn connections_under(docs: &[Doc], dir: &str) -> u64 {
    let dir = repo().join(dir);
    docs.iter()
        .filter(|d| d.file.parent() == Some(dir.as_path()))
        .filter(|d| matches!(d.kind(), "Service" | "Deployment"))
        .filter_map(|d| {
            let container = *containers(d).first()?;
            uses_the_database(container).then_some((d, container))
        })
        .map(|(d, container)| {
            let pool = env(container, "TICKERMESH_DB_MAX_CONNECTIONS")
                .map_or(DEFAULT_POOL, |n| n.parse().expect("a pool size"));
            let per_replica = if ONE_TRIP.contains(&d.name()) {
                2 * pool
            } else {
                pool
            };
            max_replicas(docs, d) * per_replica
        })
        .sum()
}

#[test]
fn mysql_takes_every_connection_the_functions_may_open() {
    let docs = all();
    let mysql = docs
        .iter()
        .find(|d| d.kind() == "StatefulSet" && d.name().contains("mysql"))
        .expect("the MySQL StatefulSet");
    let max = containers(mysql)[0]["args"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .find_map(|a| a.strip_prefix("--max-connections="))
        .map_or(MYSQL_DEFAULT_MAX, |n| n.parse().expect("a number"));
    let common = connections_under(&docs, "knative");
    assert!(common > 0, "the Knative Services use the database");
    for variant in ["keda", "knative/kafkasource"] {
        let consumers = connections_under(&docs, variant);
        assert!(
            consumers > 0,
            "{variant}: evaluate and notify use the database"
        );
        let total = common + consumers;
        assert!(
            total + RESERVE <= max,
            "{variant}: the functions may open {total} connections ({common} of the Knative \
             Services, {consumers} of evaluate and notify) + {RESERVE} kept free > MySQL's \
             max_connections {max}"
        );
    }
}
