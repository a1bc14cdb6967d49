#!/usr/bin/env bash
# `make lab-down`: removes every container, network, volume and key the lab
# made (all carry the label selfhost.langgraph.lab=1) and nothing else.
# With --images it also removes the images the lab built.
set -euo pipefail
cd "$(dirname "$0")"

if ! docker info >/dev/null 2>&1; then
  echo "no Docker engine answers: nothing of the lab is running"
else
  label=selfhost.langgraph.lab=1
  containers=$(docker ps -aq --filter "label=$label")
  [[ -n "$containers" ]] && docker rm -f -v $containers >/dev/null && echo "removed containers: $(wc -w <<<"$containers")"
  networks=$(docker network ls -q --filter "label=$label")
  [[ -n "$networks" ]] && docker network rm $networks >/dev/null && echo "removed networks: $(wc -w <<<"$networks")"
  volumes=$(docker volume ls -q --filter "label=$label")
  [[ -n "$volumes" ]] && docker volume rm $volumes >/dev/null && echo "removed volumes: $(wc -w <<<"$volumes")"
  if [[ "${1:-}" == "--images" ]]; then
    images=$(docker images -q --filter "label=$label" | sort -u)
    base="${LAB_BASE_IMAGE:-local/debian12-systemd:1}"
    docker image inspect "$base" >/dev/null 2>&1 && images+=" $base"
    [[ -n "${images// }" ]] && docker rmi -f $images >/dev/null && echo "removed lab images"
  fi
fi
rm -rf "${LAB_STATE_DIR:-/var/lib/selfhost-langgraph-lab}" inventory/hosts.yml
echo "lab is down"
