# Source this to run ansible, molecule or pytest by hand as `make` does:
#   source lab/env.sh
_repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
_site=$("$_repo/.venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
export PATH="$_repo/.venv/bin:$PATH"
export ANSIBLE_CONFIG="$_repo/ansible.cfg"
export ANSIBLE_COLLECTIONS_PATH="$_repo/.build/collections:$_site"
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false
export ANSIBLE_HOME="$_repo/.build/ansible-home"
unset _repo _site
