#!/usr/bin/env bash
# Load benchmark of the gRPC path: `tickermesh up` (release build) on SQLite and on MariaDB,
# driven by `tickerctl bench` at C=1 and C=64 for GetLatestValue and RegisterUser.
# Usage: tests/bench.sh [duration, default 10s]. Results go to stdout; see BENCHMARKS.md.
# BENCH_PIN=1 (default) pins the server to CPU 0 and the load generator to CPU 1, as if the
# client ran on another machine; BENCH_PIN=0 lets them share both cores.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10s}
cargo build --release --quiet -p tickermesh -p tickerctl
bin=target/release
work=$(mktemp -d)
port=50151
server=() client=()
if [ "${BENCH_PIN:-1}" = 1 ] && command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  server=(taskset -c 0) client=(taskset -c 1)
fi
trap 'kill "${up_pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

run_backend() {
  local name=$1 url=$2
  # The register bench registers thousands of addresses from one client: lift the per-client
  # limit (20 an hour by default) for it.
  TICKERMESH_DATABASE_URL=$url TICKERMESH_DATA_DIR=$work TICKERMESH_PORT=$port TICKERMESH_LOG=warn \
    TICKERMESH_CLIENT_CALLS_PER_HOUR=1000000000 \
    "${server[@]}" "$bin/tickermesh" up >"$work/up.log" 2>&1 &
  up_pid=$!
  for _ in $(seq 1 100); do
    "$bin/tickerctl" --endpoint "http://127.0.0.1:$port" --retries 0 latest probe@example.com 2>&1 |
      grep -q Unauthenticated && break
    sleep 0.1
  done
  # Quotes, and a confirmed user watching them whose access token the query bench sends.
  TICKERMESH_DATABASE_URL=$url TICKERMESH_DATA_DIR=$work "$bin/tickermesh" seed --ticker BENCH --count 500 \
    --user bench@example.com --token-file "$work/bench.token" >/dev/null
  for method in latest register; do
    for c in 1 64; do
      echo "== $name $method C=$c"
      TICKERMESH_TOKEN=$(cat "$work/bench.token") "${client[@]}" "$bin/tickerctl" \
        --endpoint "http://127.0.0.1:$port" bench --method "$method" --email bench@example.com \
        -c "$c" -d "$duration" --connections 1
    done
  done
  kill "$up_pid"; wait "$up_pid" 2>/dev/null || true
}

run_backend sqlite "sqlite://$work/bench.db?mode=rwc"
mysql --host=127.0.0.1 --user=root -e "DROP DATABASE IF EXISTS tickermesh_bench; CREATE DATABASE tickermesh_bench"
run_backend mariadb "mysql://root@127.0.0.1:3306/tickermesh_bench"
mysql --host=127.0.0.1 --user=root -e "DROP DATABASE IF EXISTS tickermesh_bench"
