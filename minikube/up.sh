#!/usr/bin/env bash
# Deploys tickermesh on a local Minikube with Calico (which enforces NetworkPolicy): Knative
# Serving (+ Kourier), Knative Eventing (+ PingSource, + KafkaSource), KEDA, then the network
# policies, Kafka, MySQL, Prometheus, the function images (built in the cluster) and the
# manifests of knative/ and keda/. Safe to run again. Secrets: the environment or minikube/.env.
#
#   minikube/up.sh               deploy (evaluate and notify as KEDA-scaled Deployments)
#   minikube/up.sh --kafkasource deploy evaluate and notify as Knative Services + KafkaSource
#   minikube/up.sh --dry-run     print what it would do, change nothing
set -euo pipefail

# Pinned versions of everything installed: one Knative release for Serving, Kourier, Eventing
# and the Kafka extension; a Kubernetes inside what both Knative 1.23 (>= 1.34) and KEDA 2.20
# (1.33-1.35) support. tests/manifests.rs checks both.
KNATIVE_SERVING_VERSION=knative-v1.23.0
KNATIVE_KOURIER_VERSION=knative-v1.23.0
KNATIVE_EVENTING_VERSION=knative-v1.23.0
KNATIVE_KAFKA_VERSION=knative-v1.23.0
KEDA_VERSION=v2.20.2
KUBERNETES_VERSION=v1.34.0
# Five CPUs: what everything below requests (Calico's 250m included) plus room to scale out;
# tests/manifests.rs adds it up.
MINIKUBE_CPUS=5
# The CNI: Minikube's default (bridge or kindnet) ignores NetworkPolicy, so the policies of
# minikube/network-policies.yaml would be accepted and never enforced; Calico enforces them.
MINIKUBE_CNI=calico
# The KafkaSource dispatcher (a JVM) requests a whole core by default, which would leave the
# functions too little; it gets this request instead (its limit stays).
KAFKA_DISPATCHER_CPU_REQUEST=250m
FUNCTIONS=(register access update delete watch query collect evaluate notify unsubscribe digest retention)
# Images are built into the cluster under dev.local, a registry Knative Serving does not resolve
# tags at (its default registries-skipping-tag-resolving: kind.local,ko.local,dev.local): any
# other name would be looked up at a registry that does not have it (revision ContainerMissing).
IMAGE_REPO=dev.local/tickermesh

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
root="$(cd "$here/.." && pwd -P)"
# shellcheck source=minikube/lib.sh
. "$here/lib.sh"
dry_run=0
kafkasource=0
for arg in "$@"; do
  case "$arg" in
    --dry-run) dry_run=1 ;;
    --kafkasource) kafkasource=1 ;;
    -h | --help)
      sed -n '2,9p' "$0"
      exit 0
      ;;
    *)
      echo "up.sh: unknown argument $arg" >&2
      exit 2
      ;;
  esac
done

# minikube/.env is data (KEY=VALUE lines), never run as shell: see load_env in lib.sh.
if [ -f "$here/.env" ]; then
  load_env "$here/.env"
  if [ "$dry_run" = 1 ]; then
    printf '+ read minikube/.env as KEY=VALUE data (values not shown)\n'
  fi
fi

# Files holding secret values for kubectl, in a private folder removed on exit.
secrets_dir=""
cleanup() { if [ -n "$secrets_dir" ]; then rm -rf "$secrets_dir"; fi; }
trap cleanup EXIT

# A ConfigMap made from files of the repository (re-applied on every run).
configmap() {
  local name=$1
  shift
  local args=()
  for f in "$@"; do args+=("--from-file=$f"); done
  if [ "$dry_run" = 1 ]; then
    printf '+ kubectl -n tickermesh apply configmap %s from %s\n' "$name" "$*"
    return
  fi
  kubectl -n tickermesh create configmap "$name" "${args[@]}" --dry-run=client -o yaml |
    kubectl apply -f -
}

run() {
  if [ "$dry_run" = 1 ]; then
    printf '+ %s\n' "$*"
  else
    "$@"
  fi
}

# secret NAME KEY=VALUE...: a Secret applied so that a re-run updates it. Each value goes to a
# file (mode 0600, in a private folder removed right after) that kubectl reads: no value is on a
# command line, where any user could read it in the process list, and none is printed.
secret() {
  local name=$1
  shift
  if [ "$dry_run" = 1 ]; then
    local keys=()
    for kv in "$@"; do keys+=("${kv%%=*}"); done
    printf '+ kubectl -n tickermesh apply secret %s with keys: %s (values from files, mode 0600)\n' \
      "$name" "${keys[*]}"
    return
  fi
  if [ -z "$secrets_dir" ]; then secrets_dir="$(mktemp -d)"; fi
  local dir="$secrets_dir/$name" args=() kv
  mkdir -m 700 "$dir"
  for kv in "$@"; do
    (umask 077 && printf '%s' "${kv#*=}" >"$dir/${kv%%=*}")
    args+=("--from-file=${kv%%=*}=$dir/${kv%%=*}")
  done
  kubectl -n tickermesh create secret generic "$name" "${args[@]}" --dry-run=client -o yaml |
    kubectl apply -f -
  rm -rf "$dir"
}

# The signing key of unsubscribe links and access codes (TICKERMESH_SIGNING_KEY of access, notify
# and unsubscribe, the functions that read it): made once, 32 random bytes written as 64 hex
# digits, and then kept, since a new key voids every link already mailed (delete the Secret to
# rotate it). The bytes go from /dev/urandom straight into a file (mode 0600, in the private
# folder) that kubectl reads: never in a shell variable, on a command line or printed.
signing_secret() {
  local name=tickermesh-signing
  if [ "$dry_run" = 1 ]; then
    printf '+ kubectl -n tickermesh apply secret %s with keys: key (32 random bytes from a file, mode 0600; made once, kept when it exists)\n' \
      "$name"
    return
  fi
  if kubectl -n tickermesh get secret "$name" >/dev/null 2>&1; then
    return 0
  fi
  if [ -z "$secrets_dir" ]; then secrets_dir="$(mktemp -d)"; fi
  local dir="$secrets_dir/$name"
  mkdir -m 700 "$dir"
  (umask 077 && head -c 32 /dev/urandom | od -An -v -tx1 | tr -d ' \n' >"$dir/key")
  kubectl -n tickermesh create secret generic "$name" "--from-file=key=$dir/key" --dry-run=client -o yaml |
    kubectl apply -f -
  rm -rf "$dir"
}

# settings NAME KEY=VALUE...: a ConfigMap of values that are not secret, applied so that a re-run
# updates it; the values reach kubectl as files, like the Secrets' (no value on a command line).
settings() {
  local name=$1
  shift
  if [ "$dry_run" = 1 ]; then
    printf '+ kubectl -n tickermesh apply configmap %s:' "$name"
    printf ' %s' "$@"
    printf '\n'
    return
  fi
  if [ -z "$secrets_dir" ]; then secrets_dir="$(mktemp -d)"; fi
  local dir="$secrets_dir/$name" args=() kv
  mkdir -m 700 "$dir"
  for kv in "$@"; do
    printf '%s' "${kv#*=}" >"$dir/${kv%%=*}"
    args+=("--from-file=${kv%%=*}=$dir/${kv%%=*}")
  done
  kubectl -n tickermesh create configmap "$name" "${args[@]}" --dry-run=client -o yaml |
    kubectl apply -f -
  rm -rf "$dir"
}

# MySQL sets the root password only when it creates its data directory (the first start on an
# empty volume); later values of MYSQL_ROOT_PASSWORD do not change it, and the functions would
# get a database URL the server refuses. So a changed password stops the run before anything is
# applied, saying how to go on. The comparison is of base64 text inside this shell (builtins).
check_mysql_password() {
  if [ "$dry_run" = 1 ]; then
    printf '+ check: if the MySQL volume %s exists, MYSQL_ROOT_PASSWORD must be the one it was created with\n' \
      "$MYSQL_PVC"
    return
  fi
  kubectl -n tickermesh get pvc "$MYSQL_PVC" >/dev/null 2>&1 || return 0
  local stored
  stored="$(kubectl -n tickermesh get secret tickermesh-mysql -o 'jsonpath={.data.root-password}' 2>/dev/null || true)"
  [ -n "$stored" ] || return 0
  if [ "$stored" != "$(printf '%s' "$mysql_password" | base64 | tr -d '\n')" ]; then
    cat >&2 <<MSG
up.sh: MYSQL_ROOT_PASSWORD differs from the password the MySQL data in volume $MYSQL_PVC was
created with. MySQL keeps the password of its data directory, so nothing was changed. Either
put the old password back into minikube/.env, or delete the MySQL data (all of it) and run again:
  kubectl -n tickermesh delete statefulset tickermesh-mysql
  kubectl -n tickermesh delete pvc $MYSQL_PVC
  minikube/up.sh
MSG
    exit 1
  fi
}
# The volume of the MySQL StatefulSet's pod 0: <claim template>-<statefulset>-0 (minikube/mysql.yaml).
MYSQL_PVC=data-tickermesh-mysql-0

# apply_functions DIR: applies the manifests of DIR (not its subfolders) with the images of this
# build; the dry run shows the images they name.
apply_functions() {
  local dir=$1
  local files=("$root/$dir"/*.yaml)
  if [ "$dry_run" = 1 ]; then
    printf '+ kubectl apply -f - <<< %s/*.yaml with the images:\n' "$dir"
    render "$tag" "${files[@]}" | sed -n -E 's#^ *image: *(.*)$#+     \1#p'
    return
  fi
  render "$tag" "${files[@]}" | kubectl apply -f -
}

release() { echo "https://github.com/$1/releases/download/$2/$3"; }

# The images' tag: the content they are built from (see content_tag in lib.sh).
tag="$(content_tag "$root")"

# 1. The cluster.
if [ "$dry_run" = 1 ] || ! minikube status >/dev/null 2>&1; then
  run minikube start --cpus="$MINIKUBE_CPUS" --memory=8192 --kubernetes-version="$KUBERNETES_VERSION" \
    --cni="$MINIKUBE_CNI"
fi
# A cluster started before (or without --cni) may have no CNI that enforces NetworkPolicy: say so.
if [ "$dry_run" = 1 ]; then
  printf '+ check: the %s DaemonSet runs in kube-system, or warn that NetworkPolicies are not enforced\n' \
    "$MINIKUBE_CNI-node"
elif ! kubectl -n kube-system get daemonset "$MINIKUBE_CNI-node" >/dev/null 2>&1; then
  echo "up.sh: warning: no $MINIKUBE_CNI-node DaemonSet: this cluster may not enforce the NetworkPolicies" \
    "(recreate it with: minikube delete && minikube/up.sh)" >&2
fi

# 2. Knative Serving with Kourier, Knative Eventing, the KafkaSource controller, KEDA.
run kubectl apply -f "$(release knative/serving "$KNATIVE_SERVING_VERSION" serving-crds.yaml)"
run kubectl apply -f "$(release knative/serving "$KNATIVE_SERVING_VERSION" serving-core.yaml)"
run kubectl apply -f "$(release knative-extensions/net-kourier "$KNATIVE_KOURIER_VERSION" kourier.yaml)"
run kubectl patch configmap/config-network -n knative-serving --type merge \
  -p '{"data":{"ingress-class":"kourier.ingress.networking.knative.dev"}}'
run kubectl apply -f "$(release knative/eventing "$KNATIVE_EVENTING_VERSION" eventing-crds.yaml)"
run kubectl apply -f "$(release knative/eventing "$KNATIVE_EVENTING_VERSION" eventing-core.yaml)"
run kubectl apply -f "$(release knative-extensions/eventing-kafka-broker "$KNATIVE_KAFKA_VERSION" eventing-kafka-controller.yaml)"
run kubectl apply -f "$(release knative-extensions/eventing-kafka-broker "$KNATIVE_KAFKA_VERSION" eventing-kafka-source.yaml)"
# The dispatcher's request, cut down (a re-run re-applies the release, then patches again).
run kubectl -n knative-eventing patch statefulset kafka-source-dispatcher --type strategic \
  -p "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"kafka-source-dispatcher\",\"resources\":{\"requests\":{\"cpu\":\"$KAFKA_DISPATCHER_CPU_REQUEST\"}}}]}}}}"
run kubectl apply --server-side -f "$(release kedacore/keda "$KEDA_VERSION" "keda-${KEDA_VERSION#v}.yaml")"
for ns in knative-serving knative-eventing keda; do
  run kubectl wait deployment --all -n "$ns" --for=condition=Available --timeout=300s
done

# 3. Namespace, Secrets (from the environment), Kafka, MySQL, Prometheus.
run kubectl apply -f "$here/namespace.yaml"
# Who may connect to what, in place before anything listens in the namespace.
run kubectl apply -f "$here/network-policies.yaml"
if [ "$dry_run" = 1 ]; then
  mysql_password="${MYSQL_ROOT_PASSWORD:-<MYSQL_ROOT_PASSWORD>}"
else
  mysql_password="${MYSQL_ROOT_PASSWORD:?set MYSQL_ROOT_PASSWORD (see minikube/env.example)}"
fi
check_mysql_password
secret tickermesh-mysql "root-password=$mysql_password"
# The password inside the URL is percent-encoded (@ : / # ? % and the like would break it).
db_host=tickermesh-mysql.tickermesh.svc.cluster.local:3306
secret tickermesh-db "url=mysql://root:$(urlencode "$mysql_password")@$db_host/tickermesh"
if [ "$dry_run" = 1 ]; then
  printf '+   url = mysql://root:<MYSQL_ROOT_PASSWORD percent-encoded>@%s/tickermesh\n' "$db_host"
fi
secret tickermesh-smtp "url=${SMTP_URL:-smtp://localhost:25}" "username=${SMTP_USERNAME:-}" \
  "password=${SMTP_PASSWORD:-}" "from=${MAIL_FROM:-tickermesh <alerts@tickermesh.localhost>}"
secret tickermesh-kafka-sasl "sasl=${KAFKA_SASL:-none}" "username=${KAFKA_SASL_USERNAME:-}" \
  "password=${KAFKA_SASL_PASSWORD:-}"
signing_secret
# The base of the links in e-mails (notify's TICKERMESH_PUBLIC_URL): where the unsubscribe
# Service is reached from outside. By default the host Knative gives it on Kourier's external
# gateway under its default domain; set PUBLIC_URL to the HTTPS name in front of it.
public_url="${PUBLIC_URL:-http://tickermesh-unsubscribe.tickermesh.example.com}"
case "$public_url" in
  http://* | https://*) ;;
  *)
    echo "up.sh: PUBLIC_URL must start with https:// (or http://)" >&2
    exit 2
    ;;
esac
settings tickermesh-public "url=$public_url" "mailto=${UNSUBSCRIBE_MAILTO:-}"
# The alert rules and the dashboard are the files the test suite checks (minikube/monitoring).
configmap tickermesh-prometheus-rules "$here/monitoring/rules.yml"
configmap tickermesh-grafana-dashboards "$here/monitoring/dashboard.json"
# The topic Job's pod template cannot change; the Job is safe to run again, so it is made anew.
run kubectl -n tickermesh delete job tickermesh-kafka-topics --ignore-not-found
run kubectl apply -f "$here/kafka.yaml" -f "$here/mysql.yaml" -f "$here/prometheus.yaml" \
  -f "$here/grafana.yaml"
# Prometheus reads its rules at start: a re-run restarts it so changed rules take effect.
run kubectl -n tickermesh rollout restart deployment/tickermesh-prometheus
run kubectl -n tickermesh rollout status statefulset/tickermesh-kafka --timeout=300s
run kubectl -n tickermesh rollout status statefulset/tickermesh-mysql --timeout=300s
run kubectl -n tickermesh wait job/tickermesh-kafka-topics --for=condition=Complete --timeout=300s

# 4. Function images, built inside the cluster (no registry), named by their content. From the
# repository root, so that minikube/Dockerfile means the same file whether read relative to the
# working directory or to the build context.
cd "$root"
for f in "${FUNCTIONS[@]}"; do
  run minikube image build -t "$IMAGE_REPO/$f:$tag" -f minikube/Dockerfile \
    --build-opt="build-arg=FUNCTION=$f" "$root"
done

# 5. The functions, their manifests given the images just built.
apply_functions knative
if [ "$kafkasource" = 1 ]; then
  run kubectl -n tickermesh delete -f "$root/keda/" --ignore-not-found
  apply_functions knative/kafkasource
else
  run kubectl -n tickermesh delete -f "$root/knative/kafkasource/" --ignore-not-found
  apply_functions keda
fi
run kubectl apply -f "$here/grpc-router.yaml"
run kubectl -n tickermesh wait ksvc --all --for=condition=Ready --timeout=300s
run kubectl -n tickermesh rollout status deployment/tickermesh-grpc --timeout=120s

if [ "$dry_run" = 1 ]; then
  echo "Dry run: nothing was changed. After a real run:"
fi
cat <<MSG
tickermesh is deployed in namespace tickermesh.
  gRPC (every method, routed to its function):
    kubectl -n tickermesh port-forward svc/tickermesh-grpc 50051:8080
    tickerctl --endpoint http://127.0.0.1:50051 register you@example.com AAPL --max 250
  Prometheus (alerts at /alerts), and the status of every function:
    kubectl -n tickermesh port-forward svc/tickermesh-prometheus 9090:9090
    tickerctl --endpoint http://127.0.0.1:50051 status --prometheus http://127.0.0.1:9090
  Unsubscribe links in e-mails (the one other public Service, on Kourier's external gateway):
    $public_url/unsubscribe
  Grafana (dashboard "tickermesh", anonymous viewer):
    kubectl -n tickermesh port-forward svc/tickermesh-grafana 3000:3000
MSG
