"""Build-from-source benchmark in the lab (docs/build.md). Figures are
printed, never asserted.

For the deployment `srcbench` (lab/sample-app, 2 containers behind lb1,
built on app1 on the lab's open base image):
  1. deploy a source never built before (a marker makes its content new):
     the cold build (every layer above the base image built: the app copied,
     its dependencies installed from PyPI), the image's size, and the whole run;
  2. change the graph's code: the build after the change (the layer cache
     keeps the base; the generated Dockerfile copies the app before installing
     its dependencies, so they install again), and the time from the change to
     the new revision answering through HAProxy;
  3. deploy again unchanged: nothing built, the time of the build step;
  4. delete the deployment (purge).

Run it with the lab up: .venv/bin/python benchmarks/build.py
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
NAME = "srcbench"
PORT = 8351
URL = "http://172.30.213.31:%d" % PORT
REGISTRY = "172.30.213.5:5000"
BUILD_TASK = "Build the images of the deployments given as source"


def extra_vars(app):
    entry = dict(name=NAME, source={"path": app}, type="production", min_replicas=2, max_replicas=2,
                 lb_port=PORT, migrate_command=["migrate"])
    return dict(langgraph_deployments=[entry], deployment=NAME, langgraph_build_registry=REGISTRY,
                langgraph_build_base_image=REGISTRY + "/langgraph-open-base", deploy_health_timeout=150)


def playbook(name, variables):
    """Runs playbooks/NAME; returns (seconds, JSON callback output)."""
    env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json")
    started = time.time()
    result = subprocess.run(["ansible-playbook", "-i", os.path.join(REPO, "lab", "inventory"),
                             os.path.join(REPO, "playbooks", name), "-e", json.dumps(variables)],
                            capture_output=True, text=True, env=env, cwd=REPO, check=False)
    took = time.time() - started
    if result.returncode:
        sys.exit("%s failed:\n%s\n%s" % (name, result.stdout[-4000:], result.stderr[-2000:]))
    return took, json.loads(result.stdout)


def build_step(output):
    """(seconds, result) of the build task in a deploy's JSON output."""
    for play in output["plays"]:
        for task in play["tasks"]:
            if task["task"]["name"].endswith(BUILD_TASK):
                span = task["task"]["duration"]
                took = _ts(span["end"]) - _ts(span["start"])
                return took, next(iter(task["hosts"].values()))
    raise SystemExit("no build task in the deploy's output")


def _ts(text):
    from datetime import datetime
    return datetime.strptime(text.rstrip("Z"), "%Y-%m-%dT%H:%M:%S.%f").timestamp()


def image_size(image):
    out = subprocess.run(["docker", "exec", "selfhost-lab-app1", "docker", "image", "inspect", "-f", "{{.Size}}",
                          image], capture_output=True, text=True, check=True).stdout
    return int(out.strip()) / 1e6


def version():
    body = json.dumps({"assistant_id": "agent", "input": {"message": "bench"}}).encode()
    request = urllib.request.Request(URL + "/runs/wait", data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read()).get("version")
    except OSError:
        return None


def _watch(wanted, found, deadline):
    """Asks through HAProxy every half second until `wanted` answers; notes when."""
    while time.time() < deadline:
        if version() == wanted:
            found.append(time.time())
            return
        time.sleep(0.5)


def set_version(app, old, new):
    path = os.path.join(app, "sample_app", "graph.py")
    with open(path) as handle:
        text = handle.read()
    with open(path, "w") as handle:
        handle.write(text.replace('VERSION = "%s"' % old, 'VERSION = "%s"' % new))


def main():
    work = tempfile.mkdtemp(prefix="bench-build-")
    app = os.path.join(work, "sample-app")
    shutil.copytree(os.path.join(REPO, "lab", "sample-app"), app)
    with open(os.path.join(app, "sample_app", "bench_marker.py"), "w") as handle:
        handle.write("# makes this run's source new: %s\n" % time.time())
    try:
        playbook("delete.yml", dict(extra_vars(app), purge=True))
        took, out = playbook("deploy.yml", extra_vars(app))
        cold, result = build_step(out)
        built = result["builds"][0]
        print("cold build (new source, base image present): %.1f s (built: %s)" % (cold, built["built"]))
        print("image size: %.0f MB (%s)" % (image_size(built["image"]), built["image"]))
        print("first deploy from source, whole run: %.1f s" % took)

        changed_at = time.time()
        set_version(app, "s1", "s2")
        first_s2 = []
        watcher = threading.Thread(target=_watch, args=("s2", first_s2, changed_at + 600), daemon=True)
        watcher.start()
        took, out = playbook("deploy.yml", extra_vars(app))
        warm, result = build_step(out)
        watcher.join(timeout=300)
        serving = (first_s2[0] if first_s2 else float("nan")) - changed_at
        print("build after a code change (layer cache): %.1f s (built: %s)" % (warm, result["builds"][0]["built"]))
        print("source change -> new revision serving through HAProxy: %.1f s (deploy run %.1f s)" % (serving, took))

        took, out = playbook("deploy.yml", extra_vars(app))
        same, result = build_step(out)
        print("unchanged source: build step %.1f s (built: %s), whole run %.1f s"
              % (same, result["builds"][0]["built"], took))
    finally:
        playbook("delete.yml", dict(extra_vars(app), purge=True))
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
