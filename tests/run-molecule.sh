#!/usr/bin/env bash
# Runs `molecule test` for every scenario under molecule/ (or those named as
# arguments) and prints each one's wall time. Fails if any scenario fails.
set -uo pipefail
cd "$(dirname "$0")/.."
source lab/env.sh
export PY_COLORS=0 ANSIBLE_FORCE_COLOR=0 NO_COLOR=1

scenarios=("$@")
if ((${#scenarios[@]} == 0)); then
  for dir in molecule/*/; do
    [[ -f "$dir/molecule.yml" ]] && scenarios+=("$(basename "$dir")")
  done
fi
if ((${#scenarios[@]} == 0)); then
  echo "no Molecule scenarios found" >&2
  exit 1
fi

failed=()
for scenario in "${scenarios[@]}"; do
  start=$SECONDS
  if molecule test -s "$scenario"; then
    echo "molecule scenario $scenario passed in $((SECONDS - start)) s"
  else
    echo "molecule scenario $scenario FAILED after $((SECONDS - start)) s"
    failed+=("$scenario")
  fi
  # Named volumes outlive `molecule destroy`; scenarios name theirs mol-<scenario>-*.
  docker volume ls -q --filter "name=^mol-$scenario-" | xargs -r docker volume rm >/dev/null
done
passed=$((${#scenarios[@]} - ${#failed[@]}))
echo "molecule: $passed passed, ${#failed[@]} failed"
((${#failed[@]} == 0))
