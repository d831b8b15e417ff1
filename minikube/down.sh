#!/usr/bin/env bash
# Removes tickermesh from the Minikube cluster; --all deletes the whole Minikube cluster too.
#   minikube/down.sh [--all] [--dry-run]
set -euo pipefail

dry_run=0
all=0
for arg in "$@"; do
  case "$arg" in
    --dry-run) dry_run=1 ;;
    --all) all=1 ;;
    *)
      echo "down.sh: unknown argument $arg" >&2
      exit 2
      ;;
  esac
done
run() {
  if [ "$dry_run" = 1 ]; then
    printf '+ %s\n' "$*"
  else
    "$@"
  fi
}
run kubectl delete namespace tickermesh --ignore-not-found
if [ "$all" = 1 ]; then
  run minikube delete
fi
