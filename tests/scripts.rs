//! The deployment scripts: shellcheck-clean, and a dry run that shows the whole plan without a
//! cluster (and without printing a secret).

use std::process::Command;

use tickermesh_tests::manifests::repo;

#[test]
fn scripts_are_shellcheck_clean() {
    let scripts = [
        "minikube/up.sh",
        "minikube/down.sh",
        "tests/run.sh",
        "tests/tools.sh",
        "tests/bench.sh",
        ".ci/run",
    ];
    let out = Command::new("shellcheck")
        .args(scripts)
        .current_dir(repo())
        .output()
        .expect("shellcheck is installed by tests/tools.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn up_dry_run_prints_the_plan() {
    let run = |args: &[&str]| {
        let out = Command::new("bash")
            .arg("minikube/up.sh")
            .args(args)
            .current_dir(repo())
            .env("MYSQL_ROOT_PASSWORD", "pw-not-to-print")
            .env("PATH", "/usr/bin:/bin")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let plan = run(&["--dry-run"]);
    for f in [
        "register", "update", "delete", "query", "collect", "evaluate", "notify",
    ] {
        assert!(
            plan.contains(&format!("minikube image build -t tickermesh/{f}:dev")),
            "{f}: {plan}"
        );
    }
    for line in [
        "knative/serving/releases/download/knative-v1.23.0/serving-core.yaml",
        "kedacore/keda/releases/download/v2.20.2/keda-2.20.2.yaml",
        "eventing-kafka-source.yaml",
        "minikube/kafka.yaml",
        "minikube/mysql.yaml",
        "minikube/prometheus.yaml",
        "minikube/grafana.yaml",
        "configmap tickermesh-prometheus-rules from",
        "minikube/monitoring/rules.yml",
        "configmap tickermesh-grafana-dashboards from",
        "minikube/monitoring/dashboard.json",
        "minikube/grpc-router.yaml",
        "apply secret tickermesh-db with keys: url",
    ] {
        assert!(plan.contains(line), "{line} missing from the plan:\n{plan}");
    }
    assert!(plan.contains("kubectl apply -f") && plan.contains("/keda/"));
    assert!(
        !plan.contains("pw-not-to-print"),
        "a secret value was printed"
    );
    let alternative = run(&["--dry-run", "--kafkasource"]);
    assert!(alternative.contains("/knative/kafkasource/"));

    let out = Command::new("bash")
        .args(["minikube/down.sh", "--dry-run", "--all"])
        .current_dir(repo())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("kubectl delete namespace tickermesh") && text.contains("minikube delete")
    );
}
