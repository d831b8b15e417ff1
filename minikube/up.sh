#!/usr/bin/env bash
# Deploys tickermesh on a local Minikube: Knative Serving (+ Kourier), Knative Eventing
# (+ PingSource, + the KafkaSource controller), KEDA, then Kafka, MySQL, Prometheus, the
# function images (built straight into the cluster) and the manifests of knative/ and keda/.
# Safe to run again. Secrets come from the environment or minikube/.env (see env.example).
#
#   minikube/up.sh               deploy (evaluate and notify as KEDA-scaled Deployments)
#   minikube/up.sh --kafkasource deploy evaluate and notify as Knative Services + KafkaSource
#   minikube/up.sh --dry-run     print what it would do, change nothing
set -euo pipefail

# Pinned versions of everything installed.
KNATIVE_SERVING_VERSION=knative-v1.23.0
KNATIVE_KOURIER_VERSION=knative-v1.23.0
KNATIVE_EVENTING_VERSION=knative-v1.22.2
KNATIVE_KAFKA_VERSION=knative-v1.23.0
KEDA_VERSION=v2.20.2
KUBERNETES_VERSION=v1.34.0
FUNCTIONS=(register update delete query collect evaluate notify)

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
dry_run=0
kafkasource=0
for arg in "$@"; do
  case "$arg" in
    --dry-run) dry_run=1 ;;
    --kafkasource) kafkasource=1 ;;
    -h | --help)
      sed -n '2,12p' "$0"
      exit 0
      ;;
    *)
      echo "up.sh: unknown argument $arg" >&2
      exit 2
      ;;
  esac
done

if [ -f "$here/.env" ]; then
  set -a
  # shellcheck disable=SC1091
  . "$here/.env"
  set +a
fi

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

# A Secret from literals, applied so that a re-run updates it. Values are never printed.
secret() {
  local name=$1
  shift
  if [ "$dry_run" = 1 ]; then
    local keys=()
    for kv in "$@"; do keys+=("${kv%%=*}"); done
    printf '+ kubectl -n tickermesh apply secret %s with keys: %s\n' "$name" "${keys[*]}"
    return
  fi
  local args=()
  for kv in "$@"; do args+=("--from-literal=$kv"); done
  kubectl -n tickermesh create secret generic "$name" "${args[@]}" --dry-run=client -o yaml |
    kubectl apply -f -
}

release() { echo "https://github.com/$1/releases/download/$2/$3"; }

# 1. The cluster.
if [ "$dry_run" = 1 ] || ! minikube status >/dev/null 2>&1; then
  run minikube start --cpus=4 --memory=8192 --kubernetes-version="$KUBERNETES_VERSION"
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
run kubectl apply --server-side -f "$(release kedacore/keda "$KEDA_VERSION" "keda-${KEDA_VERSION#v}.yaml")"
for ns in knative-serving knative-eventing keda; do
  run kubectl wait deployment --all -n "$ns" --for=condition=Available --timeout=300s
done

# 3. Namespace, Secrets (from the environment), Kafka, MySQL, Prometheus.
run kubectl apply -f "$here/namespace.yaml"
if [ "$dry_run" = 1 ]; then
  mysql_password="${MYSQL_ROOT_PASSWORD:-<MYSQL_ROOT_PASSWORD>}"
else
  mysql_password="${MYSQL_ROOT_PASSWORD:?set MYSQL_ROOT_PASSWORD (see minikube/env.example)}"
fi
secret tickermesh-mysql "root-password=$mysql_password"
secret tickermesh-db "url=mysql://root:$mysql_password@tickermesh-mysql.tickermesh.svc.cluster.local:3306/tickermesh"
secret tickermesh-smtp "url=${SMTP_URL:-smtp://localhost:25}" "username=${SMTP_USERNAME:-}" \
  "password=${SMTP_PASSWORD:-}" "from=${MAIL_FROM:-tickermesh <alerts@tickermesh.localhost>}"
secret tickermesh-kafka-sasl "sasl=${KAFKA_SASL:-none}" "username=${KAFKA_SASL_USERNAME:-}" \
  "password=${KAFKA_SASL_PASSWORD:-}"
# The alert rules and the dashboard are the files the test suite checks (minikube/monitoring).
configmap tickermesh-prometheus-rules "$here/monitoring/rules.yml"
configmap tickermesh-grafana-dashboards "$here/monitoring/dashboard.json"
run kubectl apply -f "$here/kafka.yaml" -f "$here/mysql.yaml" -f "$here/prometheus.yaml" \
  -f "$here/grafana.yaml"
# Prometheus reads its rules at start: a re-run restarts it so changed rules take effect.
run kubectl -n tickermesh rollout restart deployment/tickermesh-prometheus
run kubectl -n tickermesh rollout status statefulset/tickermesh-kafka --timeout=300s
run kubectl -n tickermesh rollout status statefulset/tickermesh-mysql --timeout=300s
run kubectl -n tickermesh wait job/tickermesh-kafka-topics --for=condition=Complete --timeout=300s

# 4. Function images, built inside the cluster (no registry).
for f in "${FUNCTIONS[@]}"; do
  run minikube image build -t "tickermesh/$f:dev" -f minikube/Dockerfile \
    --build-opt="build-arg=FUNCTION=$f" "$root"
done

# 5. The functions.
run kubectl apply -f "$root/knative/"
if [ "$kafkasource" = 1 ]; then
  run kubectl -n tickermesh delete -f "$root/keda/" --ignore-not-found
  run kubectl apply -f "$root/knative/kafkasource/"
else
  run kubectl -n tickermesh delete -f "$root/knative/kafkasource/" --ignore-not-found
  run kubectl apply -f "$root/keda/"
fi
run kubectl apply -f "$here/grpc-router.yaml"
run kubectl -n tickermesh wait ksvc --all --for=condition=Ready --timeout=300s
run kubectl -n tickermesh rollout status deployment/tickermesh-grpc --timeout=120s

cat <<MSG
tickermesh is deployed in namespace tickermesh.
  gRPC (every method, routed to its function):
    kubectl -n tickermesh port-forward svc/tickermesh-grpc 50051:8080
    tickerctl --endpoint http://127.0.0.1:50051 register you@example.com AAPL --max 250
  Prometheus (alerts at /alerts), and the status of every function:
    kubectl -n tickermesh port-forward svc/tickermesh-prometheus 9090:9090
    tickerctl --endpoint http://127.0.0.1:50051 status --prometheus http://127.0.0.1:9090
  Grafana (dashboard "tickermesh", anonymous viewer):
    kubectl -n tickermesh port-forward svc/tickermesh-grafana 3000:3000
MSG
