#!/bin/sh
# The root filesystem of each function image: the binary as /function, exactly the shared
# libraries it links (as ldd lists them, at the same paths), and the few /etc files a
# glibc program reads. Used by minikube/Dockerfile's build stage on the release binaries and
# by the container tests (tests/containers.rs) on the binaries cargo built on this machine, so
# both feed the same runtime stage the same layout.
#
# usage: rootfs.sh BIN_DIR OUT_DIR FUNCTION...   →   OUT_DIR/tickermesh-FUNCTION/…
set -eu

[ $# -ge 3 ] || { echo "usage: $0 BIN_DIR OUT_DIR FUNCTION..." >&2; exit 2; }
bin_dir=$1
out=$2
shift 2

for f in "$@"; do
  root="$out/tickermesh-$f"
  rm -rf "$root"
  mkdir -p "$root/etc"
  # Stripped: release builds already are (Cargo.toml), debug builds halve in size.
  strip -o "$root/function" "$bin_dir/tickermesh-$f"
  # ldd prints "name => /path (addr)", "/path (addr)" for the loader, and the vDSO (no path).
  # A static binary has no libraries; a library ldd cannot find is an error, not an omission.
  if ! listed=$(ldd "$root/function" 2>&1); then
    case "$listed" in
      *"not a dynamic executable"*) listed= ;;
      *) echo "$listed" >&2; exit 1 ;;
    esac
  fi
  case "$listed" in
    *"not found"*) echo "tickermesh-$f: a library is missing: $listed" >&2; exit 1 ;;
  esac
  libs=$(printf '%s\n' "$listed" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
  for lib in $libs; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
  # The user the image runs as (USER 65532:65532), and name lookups: /etc/hosts, then DNS.
  printf 'root:x:0:0:root:/:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/:/sbin/nologin\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$root/etc/group"
  printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
done
