#!/usr/bin/env bash
# Fails with a clear message when a port the lab publishes on 127.0.0.1 is
# taken by something other than the lab's own containers.
set -euo pipefail
cd "$(dirname "$0")"

ours=$(docker ps --filter label=selfhost.langgraph.lab=1 --format '{{.Ports}}' | grep -o '127.0.0.1:[0-9]*' | cut -d: -f2 || true)
ports=$(sed -n 's/.*ssh_port: \([0-9]*\).*/\1/p' vms.yml)
ports+=" ${LAB_REGISTRY_PORT:-5000}"
for port in $ports; do
  grep -qx "$port" <<<"$ours" && continue
  if ss -Hltn "sport = :$port" | grep -q .; then
    echo "error: port $port on 127.0.0.1 is taken by another program; the lab needs it." >&2
    echo "       Stop that program (ss -ltnp 'sport = :$port' shows it) or change the port in lab/vms.yml." >&2
    exit 1
  fi
done
