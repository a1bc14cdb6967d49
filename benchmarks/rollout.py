"""Roll-out benchmark in the lab: our roll-out against a naive stop-then-start
replacement, in one run under the same steady load. Figures are printed,
never asserted.

For the deployment `bench-roll` (2 containers, app1 and app2, behind lb1):
  1. deploy revision v1;
  2. under load, roll out v2 with playbooks/deploy.yml: wall time, time per
     phase (the role's tasks, grouped), failed requests;
  3. under the same load, replace each container the naive way, as
     community.docker.docker_container with recreate: true does (stop the old
     container, remove it, start the new image with the same name, port and
     environment), host after host: wall time, the server's cold start to the
     first 200 on /ok?check_db=1, failed requests;
  4. delete the deployment (purge).

Run it with the lab up: .venv/bin/python benchmarks/rollout.py
"""

import collections
import json
import os
import shlex
import subprocess
import sys
import time
import urllib.request

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "lab"))
from load import Load  # noqa: E402  pylint: disable=wrong-import-position

NAME = "bench-roll"
PORT = 8126
LB = "172.30.213.31"
APPS = {"app1": "172.30.213.21", "app2": "172.30.213.22"}
IMAGE = "172.30.213.5:5000/langgraph-demo:{}"
LOAD = dict(threads=4, max_requests=20000, max_seconds=900)


def extra_vars(tag, **more):
    entry = dict(name=NAME, image=IMAGE.format(tag), type="production", min_replicas=2, max_replicas=2,
                 lb_port=PORT, migrate_command=["migrate"])
    return json.dumps(dict({"langgraph_deployments": [entry], "deployment": NAME}, **more))


def playbook(name, tag, **more):
    """Runs a playbook with the JSON callback; returns (wall seconds, {task name: seconds})."""
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
    start = time.time()
    result = subprocess.run(["ansible-playbook", "-i", "lab/inventory", "playbooks/" + name,
                             "-e", extra_vars(tag, **more)], cwd=REPO, env=env, capture_output=True,
                            text=True, check=False)
    wall = time.time() - start
    if result.returncode:
        sys.exit("%s failed:\n%s" % (name, result.stdout[-3000:] + result.stderr[-2000:]))
    phases = collections.OrderedDict()
    for play in json.loads(result.stdout)["plays"]:
        for task in play["tasks"]:
            durations = [h.get("_ansible_duration") for h in task["hosts"].values()]
            spans = task["task"].get("duration", {})
            if spans.get("start") and spans.get("end"):
                seconds = _seconds(spans["end"]) - _seconds(spans["start"])
            else:
                seconds = sum(d for d in durations if d) if any(durations) else 0.0
            phases[task["task"]["name"]] = phases.get(task["task"]["name"], 0.0) + seconds
    return wall, phases


def _seconds(stamp):
    return time.mktime(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")) + float("0." + stamp[20:26] or 0)


def vm(host, command):
    return subprocess.run(["docker", "exec", "selfhost-lab-" + host, "sh", "-c", command],
                          capture_output=True, text=True, check=True).stdout.strip()


def first_healthy(address, port, limit=180):
    start = time.time()
    while time.time() - start < limit:
        try:
            if urllib.request.urlopen("http://%s:%d/ok?check_db=1" % (address, port), timeout=2).status == 200:
                return time.time() - start
        except OSError:
            pass
        time.sleep(0.05)
    return float("nan")


def naive_replace(tag):
    """Stop, remove, start again with the new image: each container in turn."""
    cold_starts = []
    for host, address in APPS.items():
        names = vm(host, "docker ps --filter label=selfhost.langgraph.deployment=%s --format '{{.Names}}'" % NAME)
        for name in names.split():
            port = int(vm(host, "docker inspect -f '{{index .Config.Labels \"selfhost.langgraph.port\"}}' " + name))
            vm(host, "docker inspect -f '{{range .Config.Env}}{{println .}}{{end}}' %s | grep -v '^PATH=' > /tmp/%s.env"
               % (name, name))
            labels = " ".join("--label " + shlex.quote("%s=%s" % item) for item in json.loads(
                vm(host, "docker inspect -f '{{json .Config.Labels}}' " + name)).items()
                if item[0].startswith("selfhost.langgraph."))
            vm(host, "docker stop -t 200 %s >/dev/null && docker rm %s >/dev/null" % (name, name))
            vm(host, "docker run -d --name %s -p %d:8000 --env-file /tmp/%s.env %s %s >/dev/null"
               % (name, port, name, labels, IMAGE.format(tag)))
            cold_starts.append(first_healthy(address, port))
    return cold_starts


def main():
    print("bench-roll: deploying v1 ...", flush=True)
    playbook("delete.yml", "v1", purge=True)
    playbook("deploy.yml", "v1")
    url = "http://%s:%d" % (LB, PORT)

    with Load(url, **LOAD) as load:
        time.sleep(5)
        ours_wall, phases = playbook("deploy.yml", "v2")
        time.sleep(5)
    ours_failed, ours_sent = len(load.failures), load.sent

    with Load(url, **LOAD) as load:
        time.sleep(5)
        start = time.time()
        cold = naive_replace("v1")
        naive_wall = time.time() - start
        time.sleep(5)
    naive_failed, naive_sent = len(load.failures), load.sent
    playbook("delete.yml", "v1", purge=True)

    print("\nroll-out of 2 containers (app1, app2) under a steady load of 4 concurrent clients")
    print("%-34s %10s %10s %14s" % ("", "wall (s)", "requests", "failed"))
    print("%-34s %10.1f %10d %14d" % ("selfhost.langgraph deploy.yml", ours_wall, ours_sent, ours_failed))
    print("%-34s %10.1f %10d %14d" % ("naive stop-then-start (recreate)", naive_wall, naive_sent, naive_failed))
    print("\nserver cold start to first 200 on /ok?check_db=1: %s s" % ", ".join("%.2f" % c for c in cold))
    print("\nour roll-out, seconds per phase (tasks over 0.5 s):")
    for name, seconds in phases.items():
        if seconds >= 0.5:
            print("  %6.1f  %s" % (seconds, name))


if __name__ == "__main__":
    main()
