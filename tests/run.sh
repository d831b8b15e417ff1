#!/usr/bin/env bash
# The full test suite, as CI runs it: makes sure what the tests talk to is up, then runs every
# test of the workspace. Tests that need MariaDB fail (never skip) when it cannot be reached.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${TICKERMESH_TEST_MYSQL_URL:=mysql://root@127.0.0.1:3306}"
export TICKERMESH_TEST_MYSQL_URL

mysql_ok() { mysqladmin --host=127.0.0.1 --user=root ping --silent >/dev/null 2>&1; }

# MariaDB: start the local server when it is installed but not running (this needs root).
if ! mysql_ok && [ "$(id -u)" = 0 ] && [ -x /usr/sbin/mariadbd ]; then
  echo "tests/run.sh: starting MariaDB"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  for _ in $(seq 1 60); do mysql_ok && break; sleep 0.5; done
fi
if mysql_ok; then
  # Each test creates its own database named tickermesh_t_*; drop those an earlier run left.
  mysql --host=127.0.0.1 --user=root -N -e \
    "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'tickermesh\\_t\\_%'" |
    while read -r db; do mysql --host=127.0.0.1 --user=root -e "DROP DATABASE \`$db\`"; done
else
  echo "tests/run.sh: MariaDB is not reachable at 127.0.0.1:3306; the MariaDB tests will fail" >&2
fi

cargo test --workspace --all-targets "$@"
