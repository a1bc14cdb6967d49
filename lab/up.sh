#!/usr/bin/env bash
# `make lab`: brings up the lab fleet and runs playbooks/site.yml on it.
# Idempotent: a second run changes nothing and says so.
set -euo pipefail
cd "$(dirname "$0")/.."
source lab/env.sh

changes=0
started=$SECONDS
note() { echo "$1"; [[ "$1" == changed:* ]] && changes=$((changes + 1)) || true; }

while read -r line; do note "$line"; done < <(lab/prerequisites.sh)
while read -r line; do note "$line"; done < <(lab/build-base-image.sh)
lab/check-ports.sh

# Runs a playbook, shows its output and counts the tasks it changed.
run_playbook() {
  local log
  log=$(mktemp)
  ansible-playbook "$@" | tee "$log"
  local changed
  changed=$(sed -n 's/.*changed=\([0-9]*\).*/\1/p' "$log" | awk '{s += $1} END {print s + 0}')
  rm -f "$log"
  changes=$((changes + changed))
}
run_playbook lab/up.yml
while read -r line; do note "$line"; done < <(lab/build-app-images.sh "127.0.0.1:${LAB_REGISTRY_PORT:-5000}")
run_playbook -i lab/inventory lab/tls.yml
run_playbook -i lab/inventory playbooks/site.yml
run_playbook -i lab/inventory playbooks/deploy.yml

echo
if ((changes == 0)); then
  echo "lab is up: nothing changed ($((SECONDS - started)) s)"
else
  echo "lab is up: $changes change(s) made ($((SECONDS - started)) s)"
fi
echo "inventory: lab/inventory (try: source lab/env.sh; ansible all -m ping)"
echo "demo deployment (a LangGraph API server, 2 replicas behind HAProxy on lb1): http://172.30.213.31:8123"
echo "the same through the address keepalived floats over lb1 and lb2: http://172.30.213.100:8123"
echo "try it: .venv/bin/python -c \"from langgraph_sdk import get_sync_client as c; print(c(url='http://172.30.213.31:8123').runs.wait(None, 'agent', input={'message': 'hi'}))\""
