"""Fixtures for tests that run against the lab fleet (`make lab`)."""

import json
import os
import pathlib
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
INVENTORY = REPO / "lab" / "inventory"
REGISTRY_FROM_HOST = "127.0.0.1:" + os.environ.get("LAB_REGISTRY_PORT", "5000")
REGISTRY_FROM_VMS = "172.30.213.5:5000"
VMS = {"pg1": "172.30.213.11", "redis1": "172.30.213.12", "app1": "172.30.213.21",
       "app2": "172.30.213.22", "lb1": "172.30.213.31", "lb2": "172.30.213.32"}


def run(*args, check=True, **kwargs):
    """Runs a command, returning the completed process; shows its output when it fails."""
    result = subprocess.run(args, capture_output=True, text=True, check=False, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, args))} exited {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")
    return result


def ansible(pattern, module, module_args="", become=False, check=True):
    """Runs an ad hoc Ansible module on lab hosts; returns {host: result} from the JSON callback."""
    env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json")
    cmd = ["ansible", "-i", str(INVENTORY), pattern, "-m", module]
    if module_args:
        cmd += ["-a", module_args]
    if become:
        cmd.append("--become")
    result = run(*cmd, check=check, env=env, cwd=REPO)
    plays = json.loads(result.stdout)["plays"]
    return plays[0]["tasks"][0]["hosts"]


@pytest.fixture(scope="session")
def lab():
    """The lab must be up: `make test-lab` brings it up before running these tests."""
    if not (INVENTORY / "hosts.yml").exists():
        pytest.fail("the lab is not up: run `make lab` first")
    return INVENTORY


def playbook(name, *args, check=True, extra_vars=None, timeout=900):
    """Runs playbooks/NAME against the lab; extra_vars (a dict) go in as JSON."""
    cmd = ["ansible-playbook", "-i", str(INVENTORY), str(REPO / "playbooks" / name), *args]
    if extra_vars is not None:
        cmd += ["-e", json.dumps(extra_vars)]
    return run(*cmd, check=check, cwd=REPO, timeout=timeout)


def vm_sql(query, database="postgres"):
    """Runs SQL as the postgres superuser on pg1; returns the output rows, one per line."""
    result = run("docker", "exec", "selfhost-lab-pg1", "runuser", "-u", "postgres", "--",
                 "psql", "-XAtq", "-d", database, "-c", query)
    return [line for line in result.stdout.splitlines() if line.strip()]
