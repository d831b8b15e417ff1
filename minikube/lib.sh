#!/usr/bin/env bash
# Functions of minikube/up.sh that work without a cluster, in their own file so that the test
# suite (tests/scripts.rs) can call each one on its own. Sourced; runs nothing by itself.

# The variables minikube/.env may set (see env.example). Any other name there is an error: a
# misspelt key would otherwise be silently ignored.
ENV_KEYS=(MYSQL_ROOT_PASSWORD SMTP_URL SMTP_USERNAME SMTP_PASSWORD MAIL_FROM KAFKA_SASL
  KAFKA_SASL_USERNAME KAFKA_SASL_PASSWORD PUBLIC_URL UNSUBSCRIBE_MAILTO)

# load_env FILE: reads KEY=VALUE lines as data, never as shell (a value such as
# `tickermesh <alerts@example.com>` or `$(cmd)` is taken literally). Blank lines and lines starting
# with `#` are skipped; `#` later in a line is part of the value (passwords may hold it). One pair
# of matching quotes around a whole value is removed. A variable already set in the environment
# wins over the file. The values become shell variables, not exported: no program up.sh starts
# sees them in its environment. Errors name the line number only: the line may hold a secret.
load_env() {
  local file=$1 line key value n=0
  while IFS= read -r line || [ -n "$line" ]; do
    n=$((n + 1))
    line=${line%$'\r'}
    [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
    if ! [[ $line =~ ^[[:space:]]*([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]]; then
      echo "$file:$n: not a KEY=VALUE line" >&2
      return 1
    fi
    key=${BASH_REMATCH[1]}
    value=${BASH_REMATCH[2]}
    case " ${ENV_KEYS[*]} " in
      *" $key "*) ;;
      *)
        echo "$file:$n: unknown variable $key (known: ${ENV_KEYS[*]})" >&2
        return 1
        ;;
    esac
    if [[ $value =~ ^\"(.*)\"$ || $value =~ ^\'(.*)\'$ ]]; then
      value=${BASH_REMATCH[1]}
    fi
    if [ -z "${!key+set}" ]; then
      printf -v "$key" '%s' "$value"
    fi
  done <"$file"
}

# urlencode TEXT: percent-encodes every byte but the unreserved ones (RFC 3986), for a password
# inside a URL; sqlx decodes it again.
urlencode() {
  local LC_ALL=C text=$1 out="" c i
  for ((i = 0; i < ${#text}; i++)); do
    c=${text:i:1}
    case $c in
      [A-Za-z0-9._~-]) out+=$c ;;
      *)
        printf -v c '%%%02X' "'$c"
        out+=$c
        ;;
    esac
  done
  printf '%s' "$out"
}

# content_tag ROOT: the image tag for the source under ROOT, so that changed code gets new image
# names (Knative makes a revision, and a Deployment rolls out, only when the pod template
# changes; a fixed tag would keep old code running). Computed before building, so the dry run can
# show it. In a git checkout: `git-<commit>`, plus `-dirty-<hash>` of the uncommitted changes
# (diff against HEAD and untracked, not ignored files) when the tree is not clean. Outside git (a
# copied tree): `src-<hash>` of every file but target/, .git/, .tickermesh/ and minikube/.env.
content_tag() {
  local root=$1 commit hash
  if [ "$(git -C "$root" rev-parse --show-toplevel 2>/dev/null)" = "$(cd "$root" && pwd -P)" ]; then
    commit=$(git -C "$root" rev-parse --short=12 HEAD)
    if [ -z "$(git -C "$root" --no-optional-locks status --porcelain)" ]; then
      printf 'git-%s' "$commit"
      return
    fi
    hash=$(
      {
        git -C "$root" --no-optional-locks diff --no-ext-diff --no-color --binary HEAD
        cd "$root" && git ls-files -z --others --exclude-standard | LC_ALL=C sort -z |
          xargs -0 -r sha256sum --
      } | sha256sum
    )
    printf 'git-%s-dirty-%s' "$commit" "${hash:0:12}"
    return
  fi
  hash=$(
    cd "$root" &&
      find . \( -path ./target -o -path ./.git -o -path ./.tickermesh -o -path ./minikube/.env \) \
        -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum -- | sha256sum
  )
  printf 'src-%s' "${hash:0:12}"
}

# render TAG FILE...: the manifests with every image up.sh builds (dev.local/tickermesh/<f>) given
# TAG; the files keep a placeholder tag so that they stay valid manifests on their own.
render() {
  local tag=$1 f
  shift
  for f in "$@"; do
    printf -- '---\n'
    sed -E "s#(image: *dev\.local/tickermesh/[a-z]+):[A-Za-z0-9_.-]+#\1:$tag#" "$f"
  done
}
