#!/usr/bin/env bash
# Builds the lab's LangGraph API server images and pushes them to a registry:
#   REGISTRY/langgraph-demo:v1      answers with version "v1"
#   REGISTRY/langgraph-demo:v2      answers with version "v2"
#   REGISTRY/langgraph-demo:broken  never becomes healthy (its graph fails to load)
#   REGISTRY/langgraph-open-base:3.11  the same server without a graph: the base
#                                   `langgraph build --base-image` builds apps on
# usage: lab/build-app-images.sh REGISTRY        e.g. 127.0.0.1:5000
# The three tags share every layer but the last (the version). A second run
# with nothing changed rebuilds from the cache, pushes nothing and says "ok".
# langgraph-api is under the Elastic License 2.0: these images are for the
# lab's tests and demo only (see lab/images/README.md).
set -euo pipefail

registry="${1:-}"
if [[ -z "$registry" || "$registry" == -* ]]; then
  echo "usage: $0 REGISTRY   (host:port of the registry to push to, e.g. 127.0.0.1:5000)" >&2
  exit 2
fi
registry="${registry%/}"
images="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/images"
context="$images/langgraph-demo"
base="${LAB_BASE_IMAGE:-local/debian12-systemd:1}"
repo="$registry/langgraph-demo"

docker image inspect "$base" >/dev/null 2>&1 || {
  echo "error: base image $base is missing; build it first with lab/build-base-image.sh" >&2
  exit 1
}

# Debian's docker.io 20.10 has no buildx: the classic builder does the job
# (and its layer cache is what makes a second run quick).
export DOCKER_BUILDKIT=0

log=$(mktemp)
trap 'rm -f "$log"' EXIT

build() { # tag, build args...
  local tag=$1 before after
  shift
  before=$(docker image inspect --format '{{.Id}}' "$repo:$tag" 2>/dev/null || true)
  if ! docker build --build-arg "BASE_IMAGE=$base" "$@" -t "$repo:$tag" "${build_context:-$context}" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "error: building $repo:$tag failed" >&2
    exit 1
  fi
  after=$(docker image inspect --format '{{.Id}}' "$repo:$tag")
  [[ "$before" == "$after" ]] || { echo "changed: built $repo:$tag"; changed=1; }
}

# The digest the registry serves for a tag, if any.
remote_digest() {
  curl -fsS -o /dev/null -D - --max-time 10 \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://$registry/v2/${repo#"$registry/"}/manifests/$1" 2>/dev/null |
    tr -d '\r' | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p' || true
}

push() { # tag
  local tag=$1 local_digest remote
  local_digest=$(docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$repo:$tag" |
    sed -n "s|^$repo@||p" | head -n 1)
  remote=$(remote_digest "$tag")
  if [[ -n "$remote" && "$remote" == "$local_digest" ]]; then
    return 0
  fi
  if ! docker push "$repo:$tag" >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    echo "error: pushing $repo:$tag failed (is the registry at $registry running?)" >&2
    exit 1
  fi
  echo "changed: pushed $repo:$tag"
  changed=1
}

changed=0
start=$SECONDS
build v1 --build-arg DEMO_VERSION=v1
build v2 --build-arg DEMO_VERSION=v2
build broken --build-arg DEMO_VERSION=broken --build-arg DEMO_BROKEN=crash
for tag in v1 v2 broken; do
  push "$tag"
done
# The open base shares the demo's venv layer (same first steps, so the
# classic builder's cache builds it once); its context is images/, as it
# takes the demo's entry point and pins.
repo="$registry/langgraph-open-base"
build_context=$images build 3.11 -f "$images/langgraph-open-base/Dockerfile"
push 3.11
if ((changed)); then
  echo "changed: $registry/langgraph-demo:{v1,v2,broken} and langgraph-open-base:3.11 ready in $((SECONDS - start)) s"
else
  echo "ok: $registry/langgraph-demo:{v1,v2,broken} and langgraph-open-base:3.11 up to date"
fi
