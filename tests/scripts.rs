//! The deployment scripts: shellcheck-clean; a dry run that shows the whole plan without a cluster
//! (and without printing a secret); the README's steps run as written on a copy of the folder;
//! `up.sh` against a fake `kubectl`/`minikube` that records every command line, so that what it
//! would send to a cluster (Secrets, rendered manifests, images) is checked byte for byte.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tickermesh_tests::manifests::{parse, repo, validate};

/// Every function with an image (one list, in the harness).
use tickermesh_tests::containers::FUNCTIONS;

#[test]
fn scripts_are_shellcheck_clean() {
    let scripts = [
        "minikube/up.sh",
        "minikube/lib.sh",
        "minikube/down.sh",
        "tests/run.sh",
        "tests/tools.sh",
        "tests/bench.sh",
        "tests/containers/rootfs.sh",
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

/// A copy of what `up.sh` reads (minikube/ without .env, knative/, keda/) in a temporary folder:
/// the tests run it there, so the repository's own minikube/.env is never read or written.
fn deploy_tree() -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap().filter_map(Result::ok) {
            let (src, dst) = (entry.path(), to.join(entry.file_name()));
            if src.is_dir() {
                copy(&src, &dst);
            } else if entry.file_name() != ".env" {
                std::fs::copy(&src, &dst).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    for sub in ["minikube", "knative", "keda"] {
        copy(&repo().join(sub), &dir.path().join(sub));
    }
    dir
}

/// Runs `minikube/up.sh` of `tree` with only the given environment (plus PATH and HOME).
fn up(tree: &Path, args: &[&str], env: &[(&str, &str)], path_prefix: Option<&Path>) -> Output {
    let path = match path_prefix {
        Some(p) => format!("{}:/usr/bin:/bin", p.display()),
        None => "/usr/bin:/bin".to_owned(),
    };
    Command::new("bash")
        .arg(tree.join("minikube/up.sh"))
        .args(args)
        .current_dir(tree)
        .env_clear()
        .env("PATH", path)
        .env("HOME", tree)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "up.sh failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The tag of every image the plan builds; all ten functions, one tag.
fn built_tag(plan: &str) -> String {
    let mut tags = BTreeSet::new();
    for f in FUNCTIONS {
        let prefix = format!("minikube image build -t dev.local/tickermesh/{f}:");
        let line = plan
            .lines()
            .find(|l| l.contains(&prefix))
            .unwrap_or_else(|| panic!("no image build of {f}:\n{plan}"));
        let tag = line
            .split(&prefix)
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap();
        assert!(
            line.contains("-f minikube/Dockerfile")
                && line.contains(&format!("--build-opt=build-arg=FUNCTION={f}")),
            "{line}"
        );
        tags.insert(tag.to_owned());
    }
    assert_eq!(tags.len(), 1, "one tag for every image: {tags:?}");
    tags.pop_first().unwrap()
}

#[test]
fn up_dry_run_prints_the_plan() {
    let env = [("MYSQL_ROOT_PASSWORD", "pw-not-to-print")];
    let tree = deploy_tree();
    let plan = ok(up(tree.path(), &["--dry-run"], &env, None));
    let tag = built_tag(&plan);
    for line in [
        "minikube start --cpus=5 --memory=8192 --kubernetes-version=v1.34.0 --cni=calico",
        "check: the calico-node DaemonSet runs in kube-system",
        "minikube/network-policies.yaml",
        "knative/serving/releases/download/knative-v1.23.0/serving-core.yaml",
        "knative/eventing/releases/download/knative-v1.23.0/eventing-core.yaml",
        "eventing-kafka-broker/releases/download/knative-v1.23.0/eventing-kafka-source.yaml",
        "kedacore/keda/releases/download/v2.20.2/keda-2.20.2.yaml",
        "patch statefulset kafka-source-dispatcher",
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
        "url = mysql://root:<MYSQL_ROOT_PASSWORD percent-encoded>@",
        "check: if the MySQL volume data-tickermesh-mysql-0 exists",
        "kubectl apply -f - <<< knative/*.yaml with the images:",
        "kubectl apply -f - <<< keda/*.yaml with the images:",
    ] {
        assert!(plan.contains(line), "{line} missing from the plan:\n{plan}");
    }
    // The rendered manifests name the images just built, with their tag: five Knative Services,
    // and evaluate and notify from keda/.
    let rendered: Vec<&str> = plan
        .lines()
        .filter_map(|l| l.strip_prefix("+     "))
        .collect();
    for f in FUNCTIONS {
        assert!(
            rendered.contains(&format!("dev.local/tickermesh/{f}:{tag}").as_str()),
            "{f} is not applied with the image built: {rendered:?}"
        );
    }
    assert!(
        rendered.iter().all(|i| i.ends_with(&format!(":{tag}"))),
        "{rendered:?}"
    );
    assert!(
        !plan.contains("pw-not-to-print"),
        "a secret value was printed"
    );
    // The policies are in place before anything listens in the namespace; the topic Job is made
    // anew (its pod template cannot change).
    let at = |needle: &str| {
        plan.find(needle)
            .unwrap_or_else(|| panic!("{needle} missing from the plan"))
    };
    assert!(at("minikube/namespace.yaml") < at("minikube/network-policies.yaml"));
    assert!(at("minikube/network-policies.yaml") < at("minikube/kafka.yaml"));
    assert!(
        at("delete job tickermesh-kafka-topics --ignore-not-found") < at("minikube/kafka.yaml")
    );

    let alternative = ok(up(tree.path(), &["--dry-run", "--kafkasource"], &env, None));
    assert!(alternative.contains("kubectl apply -f - <<< knative/kafkasource/*.yaml"));
    assert!(alternative.contains(&format!("+     dev.local/tickermesh/notify:{tag}")));
    assert!(alternative.contains("/keda/ --ignore-not-found"));

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

/// The README's Minikube steps, exactly as written there, on a copy of minikube/: with the
/// example .env as it is (`MAIL_FROM=tickermesh <alerts@example.com>` once broke `. .env`).
#[test]
fn readme_steps_run_as_written_on_a_copy() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let section = readme
        .split("\n## Deploy on Minikube")
        .nth(1)
        .expect("README has the section Deploy on Minikube");
    let section = section.split("\n## ").next().unwrap();
    let steps: Vec<&str> = section
        .lines()
        .map(|l| l.split('#').next().unwrap().trim())
        .filter(|l| l.starts_with("cp minikube/") || *l == "minikube/up.sh --dry-run")
        .collect();
    assert_eq!(
        steps,
        [
            "cp minikube/env.example minikube/.env",
            "minikube/up.sh --dry-run"
        ],
        "the README's first two Minikube steps"
    );

    let real_env = repo().join("minikube/.env");
    let before = std::fs::read(&real_env).ok();
    let tree = deploy_tree();
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &steps.join("\n")])
        .current_dir(tree.path())
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", tree.path())
        .output()
        .unwrap();
    let plan = ok(out);
    assert!(
        plan.contains("+ read minikube/.env as KEY=VALUE data"),
        "{plan}"
    );
    built_tag(&plan);
    assert!(
        !plan.contains("change-me"),
        "the example password was printed"
    );
    assert_eq!(
        std::fs::read(&real_env).ok(),
        before,
        "the repository's minikube/.env was touched"
    );
}

/// Runs a bash snippet with minikube/lib.sh sourced; returns its stdout.
fn lib(script: &str, dir: &Path) -> Output {
    Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -euo pipefail; . '{}'; {script}",
            repo().join("minikube/lib.sh").display()
        ))
        .current_dir(dir)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        // A UTF-8 locale, as on a user's machine: urlencode must still work byte by byte.
        .env("LANG", "C.UTF-8")
        .output()
        .unwrap()
}

#[test]
fn env_file_is_data_not_shell() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    std::fs::write(
        dir.path().join(".env"),
        format!(
            "# a comment\n\n  # an indented comment\nMAIL_FROM=tickermesh <alerts@example.com>\n\
             SMTP_PASSWORD=$(touch {m}) `touch {m}` ; touch {m}\nSMTP_URL=\"smtp://h:587?tls=required\"\n\
             KAFKA_SASL='none'\nSMTP_USERNAME=a#b = c \r\nMYSQL_ROOT_PASSWORD=from-file\n",
            m = marker.display()
        ),
    )
    .unwrap();
    let out = lib(
        "MYSQL_ROOT_PASSWORD=from-env; load_env .env; \
         printf '%s|' \"$MAIL_FROM\" \"$SMTP_PASSWORD\" \"$SMTP_URL\" \"$KAFKA_SASL\" \
         \"$SMTP_USERNAME\" \"$MYSQL_ROOT_PASSWORD\"; bash -c 'printf %s \"${MAIL_FROM-unset}\"'",
        dir.path(),
    );
    let text = ok(out);
    let m = marker.display();
    assert_eq!(
        text,
        format!(
            "tickermesh <alerts@example.com>|$(touch {m}) `touch {m}` ; touch {m}|\
             smtp://h:587?tls=required|none|a#b = c |from-env|unset"
        ),
        "values literal, quotes taken off, environment first, not exported to child processes"
    );
    assert!(!marker.exists(), "a value of .env was run as a command");

    // A misspelt key and a line that is no assignment are errors that name the line, not its text.
    for (content, needle) in [
        (
            "SMTP_PASWORD=secret-value\n",
            ".env:1: unknown variable SMTP_PASWORD",
        ),
        ("# c\nsecret-value\n", ".env:2: not a KEY=VALUE line"),
    ] {
        std::fs::write(dir.path().join(".env"), content).unwrap();
        let out = lib("load_env .env", dir.path());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(needle), "{err}");
        assert!(!err.contains("secret-value"), "{err}");
    }
}

/// RFC 3986 percent-encoding of everything but the unreserved characters, written here
/// independently of lib.sh.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

const NASTY_PASSWORD: &str = "p@ss:w/rd#1?x%41 é'\"";

#[test]
fn passwords_are_percent_encoded() {
    let dir = tempfile::tempdir().unwrap();
    let out = lib(
        &format!("urlencode '{}'", NASTY_PASSWORD.replace('\'', "'\\''")),
        dir.path(),
    );
    let encoded = ok(out);
    assert_eq!(encoded, "p%40ss%3Aw%2Frd%231%3Fx%2541%20%C3%A9%27%22");
    assert_eq!(encoded, percent_encode(NASTY_PASSWORD));
}

/// A fake `kubectl` and `minikube`: each call's command line goes to calls.log; Secrets made
/// `--from-file` are copied (with the files' modes) so the test can read what a cluster would
/// get; what goes to `kubectl apply -f -` is kept in applied.yaml. FAKE_PVC and
/// FAKE_STORED_PASSWORD play an existing MySQL volume and its Secret; FAKE_NO_SIGNING a cluster
/// without the Secret tickermesh-signing (by default it exists).
const FAKE_KUBECTL: &str = r#"#!/bin/bash
set -euo pipefail
printf 'kubectl %s\n' "$*" >>"$FAKE/calls.log"
if [ "$*" = "apply -f -" ]; then cat >>"$FAKE/applied.yaml"; printf '\n---\n' >>"$FAKE/applied.yaml"; exit 0; fi
case "$*" in
  *"create secret generic "*)
    name=""; prev=""
    for a in "$@"; do
      if [ "$prev" = generic ]; then name=$a; fi
      case "$a" in
        --from-file=*)
          spec=${a#--from-file=}; key=${spec%%=*}; path=${spec#*=}
          cp "$path" "$FAKE/secret.$name.$key"
          printf '%s %s %s\n' "$path" "$(stat -c %a "$path")" "$(stat -c %a "$(dirname "$path")")" >>"$FAKE/secret-files"
          ;;
      esac
      prev=$a
    done
    printf 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n' "$name" ;;
  *"create configmap "*) printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fake\n' ;;
  *"get pvc "*) [ -n "${FAKE_PVC:-}" ] ;;
  *"get secret tickermesh-mysql "*) printf '%s' "${FAKE_STORED_PASSWORD:-}" ;;
  *"get secret tickermesh-signing") [ -z "${FAKE_NO_SIGNING:-}" ] ;;
esac
"#;
const FAKE_MINIKUBE: &str = r#"#!/bin/bash
printf 'minikube %s\n' "$*" >>"$FAKE/calls.log"
"#;

struct FakeCluster {
    dir: tempfile::TempDir,
}

impl FakeCluster {
    fn new() -> Self {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("bin")).unwrap();
        for (name, text) in [("kubectl", FAKE_KUBECTL), ("minikube", FAKE_MINIKUBE)] {
            let path = dir.path().join("bin").join(name);
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        FakeCluster { dir }
    }

    fn bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }
}

fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, b| n << 8 | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A whole run against the fake cluster: no secret on any command line, the database URL with
/// the password percent-encoded, secret files private and gone afterwards, and the manifests
/// applied with the images built.
#[test]
fn up_keeps_secrets_off_command_lines_and_applies_what_it_builds() {
    let tree = deploy_tree();
    let fake = FakeCluster::new();
    let fake_dir = fake.dir.path().display().to_string();
    let smtp_password = "smtp-secret-value";
    let out = up(
        tree.path(),
        &["--kafkasource"],
        &[
            ("FAKE", &fake_dir),
            ("MYSQL_ROOT_PASSWORD", NASTY_PASSWORD),
            ("SMTP_PASSWORD", smtp_password),
        ],
        Some(&fake.bin()),
    );
    let printed = ok(out);
    let calls = fake.read("calls.log");
    for secret in [
        NASTY_PASSWORD,
        &percent_encode(NASTY_PASSWORD),
        smtp_password,
    ] {
        assert!(
            !calls.contains(secret),
            "a secret on a command line:\n{calls}"
        );
        assert!(!printed.contains(secret), "a secret printed");
    }
    assert!(!calls.contains("--from-literal"), "{calls}");

    assert_eq!(
        fake.read("secret.tickermesh-db.url"),
        format!(
            "mysql://root:{}@tickermesh-mysql.tickermesh.svc.cluster.local:3306/tickermesh",
            percent_encode(NASTY_PASSWORD)
        )
    );
    assert_eq!(
        fake.read("secret.tickermesh-mysql.root-password"),
        NASTY_PASSWORD
    );
    assert_eq!(fake.read("secret.tickermesh-smtp.password"), smtp_password);
    assert_eq!(
        fake.read("secret.tickermesh-smtp.from"),
        "tickermesh <alerts@tickermesh.localhost>"
    );
    let files = fake.read("secret-files");
    assert_eq!(files.lines().count(), 2 + 4 + 3, "{files}");
    for line in files.lines() {
        let mut parts = line.split(' ');
        let (path, mode, dir_mode) = (parts.next().unwrap(), parts.next(), parts.next());
        assert_eq!((mode, dir_mode), (Some("600"), Some("700")), "{line}");
        assert!(!Path::new(path).exists(), "{path} left behind");
    }

    // The images built, and the manifests applied with exactly those images.
    let tag = built_tag(&calls);
    assert!(calls.contains("kubectl -n knative-eventing patch statefulset kafka-source-dispatcher"));
    let applied = fake.read("applied.yaml");
    let docs = parse(Path::new("applied.yaml"), &applied);
    let mut images = BTreeSet::new();
    for doc in &docs {
        if doc.kind() != "Secret" {
            if let Err(e) = validate(&doc.value) {
                panic!("{} {} as applied: {e:?}", doc.kind(), doc.name());
            }
        }
        let spec = &doc.value["spec"]["template"]["spec"]["containers"];
        for c in spec.as_array().into_iter().flatten() {
            images.insert(c["image"].as_str().unwrap().to_owned());
        }
    }
    for f in FUNCTIONS {
        assert!(
            images.contains(&format!("dev.local/tickermesh/{f}:{tag}")),
            "{f} not applied with its build: {images:?}"
        );
    }
    assert!(
        !images.iter().any(|i| i.ends_with(":built-by-up-sh")),
        "a placeholder tag was applied: {images:?}"
    );

    // Every manifest of minikube/ is applied (by path), and with --kafkasource the dead-letter
    // sink's policy with its folder (rendered).
    for entry in std::fs::read_dir(repo().join("minikube")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".yaml") {
            assert!(
                calls.contains(&format!(
                    "-f {}/minikube/{name}",
                    tree.path().canonicalize().unwrap().display()
                )),
                "up.sh does not apply minikube/{name}:\n{calls}"
            );
        }
    }
    assert!(
        docs.iter()
            .any(|d| d.kind() == "NetworkPolicy" && d.name() == "tickermesh-dead-letters"),
        "the dead-letter sink's policy is not applied"
    );
}

/// The signing key of access codes and unsubscribe links: a cluster without the Secret
/// tickermesh-signing gets a random key (64 hex digits) from a private file that is gone
/// afterwards, on no command line and never printed, each new cluster its own; a cluster that has
/// the Secret keeps it (a new key would void every link already mailed).
#[test]
fn up_makes_a_random_signing_key_once_and_keeps_it() {
    let tree = deploy_tree();
    let new_cluster = || {
        let fake = FakeCluster::new();
        let fake_dir = fake.dir.path().display().to_string();
        let out = up(
            tree.path(),
            &[],
            &[
                ("FAKE", &fake_dir),
                ("FAKE_NO_SIGNING", "1"),
                ("MYSQL_ROOT_PASSWORD", "pw"),
            ],
            Some(&fake.bin()),
        );
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let printed = ok(out);
        let key = fake.read("secret.tickermesh-signing.key");
        assert_eq!(key.len(), 64, "not 64 hex digits: {key:?}");
        assert!(
            key.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
            "not lower-case hex digits: {key:?}"
        );
        let calls = fake.read("calls.log");
        assert!(
            calls.contains("kubectl -n tickermesh get secret tickermesh-signing"),
            "up.sh did not ask whether the key exists:\n{calls}"
        );
        assert!(
            calls.contains("create secret generic tickermesh-signing --from-file=key="),
            "{calls}"
        );
        assert!(!calls.contains(&key), "the key on a command line:\n{calls}");
        assert!(
            !printed.contains(&key) && !stderr.contains(&key),
            "the key was printed"
        );
        let files = fake.read("secret-files");
        let signing: Vec<&str> = files
            .lines()
            .filter(|l| l.contains("tickermesh-signing"))
            .collect();
        assert_eq!(signing.len(), 1, "{files}");
        let mut parts = signing[0].split(' ');
        let (path, mode, dir_mode) = (parts.next().unwrap(), parts.next(), parts.next());
        assert_eq!((mode, dir_mode), (Some("600"), Some("700")), "{files}");
        assert!(!Path::new(path).exists(), "{path} left behind");
        assert!(
            !Path::new(path).parent().unwrap().exists(),
            "the key's folder left behind: {path}"
        );
        key
    };
    let first = new_cluster();
    let second = new_cluster();
    assert_ne!(first, second, "two clusters got the same signing key");

    // A cluster that has the Secret keeps it: no new key is made or applied.
    let fake = FakeCluster::new();
    let fake_dir = fake.dir.path().display().to_string();
    ok(up(
        tree.path(),
        &[],
        &[("FAKE", &fake_dir), ("MYSQL_ROOT_PASSWORD", "pw")],
        Some(&fake.bin()),
    ));
    let calls = fake.read("calls.log");
    assert!(
        calls.contains("kubectl -n tickermesh get secret tickermesh-signing"),
        "{calls}"
    );
    assert!(
        !calls.contains("create secret generic tickermesh-signing"),
        "an existing signing key was replaced:\n{calls}"
    );
    assert_eq!(fake.read("secret.tickermesh-signing.key"), "");
    assert!(!fake.read("secret-files").contains("tickermesh-signing"));
}

/// MySQL keeps the password its volume was created with: a changed MYSQL_ROOT_PASSWORD stops the
/// run before any Secret changes, saying how to go on; the same password passes.
#[test]
fn a_changed_mysql_password_is_refused() {
    let tree = deploy_tree();
    for (stored, refused) in [("old-password", true), ("new-password", false)] {
        let fake = FakeCluster::new();
        let fake_dir = fake.dir.path().display().to_string();
        let stored = base64(stored.as_bytes());
        let out = up(
            tree.path(),
            &[],
            &[
                ("FAKE", &fake_dir),
                ("FAKE_PVC", "1"),
                ("FAKE_STORED_PASSWORD", &stored),
                ("MYSQL_ROOT_PASSWORD", "new-password"),
            ],
            Some(&fake.bin()),
        );
        let err = String::from_utf8_lossy(&out.stderr);
        let calls = fake.read("calls.log");
        if refused {
            assert!(!out.status.success());
            assert!(
                err.contains("MYSQL_ROOT_PASSWORD differs")
                    && err.contains("kubectl -n tickermesh delete pvc data-tickermesh-mysql-0"),
                "{err}"
            );
            assert!(!calls.contains("create secret"), "{calls}");
            assert!(!calls.contains("minikube image build"), "{calls}");
        } else {
            assert!(out.status.success(), "{err}");
            assert!(calls.contains("create secret generic tickermesh-mysql"));
        }
    }
    assert_eq!(base64(b"new-password"), "bmV3LXBhc3N3b3Jk");
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=test", "-c", "user.email=test@example.com"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Images are tagged by content, so a re-run after a code change names new images (a new Knative
/// revision, a Deployment rollout), and a re-run without one names the same.
#[test]
fn image_tags_follow_the_content() {
    let env = [("MYSQL_ROOT_PASSWORD", "x")];
    let tag = |tree: &Path| built_tag(&ok(up(tree, &["--dry-run"], &env, None)));

    // A copy outside git: a hash of the files.
    let tree = deploy_tree();
    let src = tree.path().join("functions/register/src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("lib.rs"), "pub fn a() {}\n").unwrap();
    let first = tag(tree.path());
    assert!(first.starts_with("src-"), "{first}");
    assert_eq!(tag(tree.path()), first, "same files, same tag");
    std::fs::write(src.join("lib.rs"), "pub fn b() {}\n").unwrap();
    assert_ne!(tag(tree.path()), first, "a code change, a new tag");
    std::fs::write(src.join("lib.rs"), "pub fn a() {}\n").unwrap();
    assert_eq!(tag(tree.path()), first);

    // A git checkout: the commit, and a hash of what is not committed.
    git(tree.path(), &["init", "-q"]);
    git(tree.path(), &["add", "-A"]);
    git(tree.path(), &["commit", "-q", "-m", "one"]);
    let commit = git(tree.path(), &["rev-parse", "--short=12", "HEAD"]);
    assert_eq!(tag(tree.path()), format!("git-{commit}"));
    std::fs::write(src.join("lib.rs"), "pub fn b() {}\n").unwrap();
    let dirty_b = tag(tree.path());
    std::fs::write(src.join("lib.rs"), "pub fn c() {}\n").unwrap();
    let dirty_c = tag(tree.path());
    assert!(
        dirty_b.starts_with(&format!("git-{commit}-dirty-")),
        "{dirty_b}"
    );
    assert!(
        dirty_c.starts_with(&format!("git-{commit}-dirty-")),
        "{dirty_c}"
    );
    assert_ne!(dirty_b, dirty_c, "each uncommitted change, its own tag");
    std::fs::write(src.join("lib.rs"), "pub fn a() {}\n").unwrap();
    assert_eq!(tag(tree.path()), format!("git-{commit}"));
    std::fs::write(src.join("new.rs"), "pub fn d() {}\n").unwrap();
    assert!(
        tag(tree.path()).contains("-dirty-"),
        "an untracked file counts"
    );
    // Ignored files (build output, the local .env) do not.
    std::fs::remove_file(src.join("new.rs")).unwrap();
    std::fs::write(tree.path().join(".gitignore"), "/target\n/minikube/.env\n").unwrap();
    git(tree.path(), &["add", ".gitignore"]);
    git(tree.path(), &["commit", "-q", "-m", "two"]);
    let commit = git(tree.path(), &["rev-parse", "--short=12", "HEAD"]);
    std::fs::create_dir(tree.path().join("target")).unwrap();
    std::fs::write(tree.path().join("target/x"), "build output").unwrap();
    std::fs::write(tree.path().join("minikube/.env"), "MYSQL_ROOT_PASSWORD=y\n").unwrap();
    assert_eq!(tag(tree.path()), format!("git-{commit}"));
}

/// The README's local demo ("Watch an alert happen, offline"), its steps as written there, in
/// a temporary folder: `cargo run --release -p <crate> --` is the binary cargo built, the port
/// is a free one (`TICKERMESH_PORT`, `TICKERMESH_ENDPOINT`), and the config folder where
/// tickerctl keeps tokens is in the temporary folder. A step that waits for something (the
/// confirmation e-mail, the first quote, the alert) is repeated as a newcomer would, within a
/// generous bound.
#[test]
fn readme_local_demo_reaches_an_alert_email() {
    use std::time::{Duration, Instant};
    use tickermesh_tests::proc::{free_port, workspace_bin};

    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let section = readme
        .split("\n### Watch an alert happen, offline")
        .nth(1)
        .expect("README has the section Watch an alert happen, offline");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .expect("a sh block");
    let steps: Vec<&str> = block
        .lines()
        .map(|l| l.split(" #").next().unwrap().trim())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(
        steps,
        [
            "TICKERMESH_MARKET=sim TICKERMESH_COLLECT_INTERVAL_SECS=5 cargo run --release -p tickermesh -- up",
            "cargo run --release -p tickerctl -- register ada@example.com AAPL",
            "cargo run --release -p tickerctl -- confirm ada@example.com --from-outbox .tickermesh/outbox",
            "cargo run --release -p tickerctl -- latest ada@example.com",
            "cargo run --release -p tickerctl -- update ada@example.com --max 140",
            "ls .tickermesh/outbox/",
        ],
        "the README's local demo"
    );
    let tickermesh = workspace_bin("tickermesh");
    let tickerctl = workspace_bin("tickerctl");
    let as_built = |step: &str| {
        step.replace(
            "cargo run --release -p tickermesh --",
            &tickermesh.display().to_string(),
        )
        .replace(
            "cargo run --release -p tickerctl --",
            &tickerctl.display().to_string(),
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let bash = |script: &str| {
        let mut cmd = Command::new("bash");
        cmd.args(["-euo", "pipefail", "-c", script])
            .current_dir(dir.path())
            .env("HOME", dir.path())
            .env("XDG_CONFIG_HOME", dir.path().join("config"))
            .env("TICKERMESH_PORT", port.to_string())
            .env("TICKERMESH_ENDPOINT", format!("http://127.0.0.1:{port}"))
            .env("TICKERMESH_LOG", "warn");
        for var in [
            "TICKERMESH_DATABASE_URL",
            "TICKERMESH_DATA_DIR",
            "TICKERMESH_SMTP_URL",
            "TICKERMESH_KAFKA_BROKERS",
            "TICKERMESH_TOKEN",
            "TICKERMESH_SIGNING_KEY",
            "TICKERMESH_MAIL_OUTBOX",
        ] {
            cmd.env_remove(var);
        }
        cmd
    };
    // The first step runs in its own terminal: here, in the background, in a process group of
    // its own that is stopped at the end (bash and the mesh it runs).
    struct Group(std::process::Child);
    impl Drop for Group {
        fn drop(&mut self) {
            let _ = Command::new("kill")
                .args(["-TERM", "--", &format!("-{}", self.0.id())])
                .status();
            let _ = self.0.wait();
        }
    }
    let _mesh = {
        use std::os::unix::process::CommandExt;
        Group(
            bash(&as_built(steps[0]))
                .process_group(0)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        )
    };
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "tickermesh up never listened"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // A step that succeeds (and whose output `done` accepts) within a minute.
    let run_until = |step: &str, done: &dyn Fn(&str) -> bool| -> String {
        let started = Instant::now();
        loop {
            let out = bash(&as_built(step)).output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            if out.status.success() && done(&text) {
                return text;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{step}: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    };
    let registered = ok(bash(&as_built(steps[1])).output().unwrap());
    assert!(
        registered.contains("a confirmation code was e-mailed to ada@example.com"),
        "{registered}"
    );
    let confirmed = run_until(steps[2], &|_| true);
    assert!(
        confirmed.contains("confirmed ada@example.com"),
        "{confirmed}"
    );
    assert!(
        !confirmed.contains("tmk_"),
        "the token is not printed: {confirmed}"
    );
    assert!(dir.path().join("config/tickermesh/tokens.json").exists());
    let latest = run_until(steps[3], &|_| true);
    assert!(latest.starts_with("AAPL "), "{latest}");
    let updated = ok(bash(&as_built(steps[4])).output().unwrap());
    assert!(updated.contains("max 140"), "{updated}");
    let outbox = dir.path().join(".tickermesh/outbox");
    let alert = |_: &str| {
        std::fs::read_dir(&outbox)
            .unwrap()
            .filter_map(|e| std::fs::read_to_string(e.unwrap().path()).ok())
            .any(|m| m.contains("Subject: AAPL") && !m.contains("Your code:"))
    };
    let listed = run_until(steps[5], &alert);
    assert!(listed.contains(".eml"), "{listed}");
}
