#!/usr/bin/env bash
# The full test suite, as CI runs it: installs and starts what the tests talk to (tests/tools.sh),
# then runs every test of the workspace. Tests that need MariaDB or the Kafka broker fail (never
# skip) when they cannot be reached.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${TICKERMESH_TEST_MYSQL_URL:=mysql://root@127.0.0.1:3306}"
export TICKERMESH_TEST_MYSQL_URL

# cmake and libcurl headers for librdkafka, MariaDB running, the tansu Kafka broker running.
bash tests/tools.sh

: "${TICKERMESH_TEST_KAFKA_BROKERS:=127.0.0.1:9092}"
export TICKERMESH_TEST_KAFKA_BROKERS

mysql_ok() { mysqladmin --host=127.0.0.1 --user=root ping --silent >/dev/null 2>&1; }
if mysql_ok; then
  # Each test creates its own database named tickermesh_t_*; drop those an earlier run left.
  mysql --host=127.0.0.1 --user=root -N -e \
    "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'tickermesh\\_t\\_%'" |
    while read -r db; do mysql --host=127.0.0.1 --user=root -e "DROP DATABASE \`$db\`"; done
else
  echo "tests/run.sh: MariaDB is not reachable at 127.0.0.1:3306; the MariaDB tests will fail" >&2
fi

cargo test --workspace --all-targets "$@"
