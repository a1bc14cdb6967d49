"""LangSmith tracing set per deployment (issue 11), end to end with the real
server behind HAProxy. The lab cannot reach LangSmith: a small receiver
(lab/trace-receiver/receiver.py) runs on lb1 and records every request the
langsmith client library sends it, with its API key and projects. The fleet
traces to it (deploy_langsmith_endpoint); trace-b uses its own key. A run of
each deployment arrives under its own name with its key; tracing off for one
stops its traces; rotating the fleet's key rolls out and the new key arrives;
tracing on without a key is refused before anything changes. The tests run in
file order, each building on the state the previous one left."""

import json
import secrets as random
import threading
import time
import urllib.request

import pytest
from langgraph_sdk import get_sync_client

from conftest import REGISTRY_FROM_VMS, VMS, playbook, run, vm_sql

IMAGE = REGISTRY_FROM_VMS + "/langgraph-demo:v1"
PORTS = {"trace-a": 8241, "trace-b": 8242}
RECEIVER_VM = "selfhost-lab-lb1"
RECEIVER_PORT = 18990
RECEIVER = f"http://{VMS['lb1']}:{RECEIVER_PORT}"
PIDFILE = "/run/selfhost-lab-trace-receiver.pid"
# New on every run, so that nothing but this run's servers can send them.
KEYS = {"fleet": "lsv2_lab_fleet_" + random.token_hex(8), "rotated": "lsv2_lab_rotated_" + random.token_hex(8),
        "own": "lsv2_lab_own_" + random.token_hex(8), "license": "lab_license_" + random.token_hex(8)}
# Traces are sent in the background: how long to wait for them, and how long to wait for none.
ARRIVAL = 60
QUIET = 20
STATE = {}


def entry(name, **extra):
    base = dict(name=name, image=IMAGE, type="development", lb_port=PORTS[name], migrate_command=["migrate"])
    base.update(extra)
    return base


def fleet(name, api_key=None, tracing=True, b_tracing=None):
    """Extra variables of a run acting on one of the two deployments."""
    b = entry("trace-b", langsmith_api_key=KEYS["own"])
    if b_tracing is not None:
        b["tracing"] = b_tracing
    return {"langgraph_deployments": [entry("trace-a"), b], "deployment": name, "deploy_health_timeout": 150,
            "deploy_langsmith_tracing": tracing, "deploy_langsmith_api_key": KEYS["fleet"] if api_key is None else api_key,
            "deploy_langsmith_endpoint": RECEIVER, "deploy_license_key": KEYS["license"]}


def deploy(name, check=True, **settings):
    result = playbook("deploy.yml", check=check, extra_vars=fleet(name, **settings))
    result.text = result.stdout + result.stderr
    for value in KEYS.values():
        assert value not in result.text, "a key was printed"
    return result


def records(since=0):
    with urllib.request.urlopen(f"{RECEIVER}/records?since={since}", timeout=10) as answer:
        return json.load(answer)


def mark():
    return len(records())


def traces(since, project):
    """The ingest requests (runs) that arrived after `since` for a project."""
    return [r for r in records(since) if project in r["projects"] and r["runs"]]


def wait_for_traces(since, project):
    deadline = time.time() + ARRIVAL
    while time.time() < deadline:
        found = traces(since, project)
        if found:
            return found
        time.sleep(2)
    return []


def run_graph(name, message):
    sdk = get_sync_client(url=f"http://{VMS['lb1']}:{PORTS[name]}", timeout=60)
    result = sdk.runs.wait(None, "agent", input={"message": message})
    assert result["echo"] == message
    return result


def revisions(name):
    return vm_sql(f"SELECT number FROM revisions WHERE deployment = '{name}' ORDER BY number", "langgraph_control")


def environment(name):
    """{NAME: value} of the deployment's serving container, the secret values masked."""
    found = {}
    for vm in ("selfhost-lab-app1", "selfhost-lab-app2"):
        names = run("docker", "exec", vm, "docker", "ps", "-q", "--filter", f"label=selfhost.langgraph.deployment={name}",
                    check=False).stdout.split()
        for container in names:
            env = json.loads(run("docker", "exec", vm, "docker", "inspect", "--format", "{{json .Config.Env}}",
                                 container).stdout)
            found = dict(item.split("=", 1) for item in env)
    for var, value in list(found.items()):
        for label, key in KEYS.items():
            if value == key:
                found[var] = "<%s>" % label
    return found


def leftover(name):
    """Whether an earlier run left something of the deployment: a revision that is not over, or its database."""
    return bool(vm_sql(f"SELECT 1 FROM revisions WHERE deployment = '{name}' AND status NOT IN ('superseded', 'failed') "
                       f"UNION SELECT 1 FROM deployments WHERE name = '{name}' AND postgres_database IS NOT NULL",
                       "langgraph_control"))


def both(name_of_playbook="deploy.yml", **settings):
    """Runs the playbook for trace-a and trace-b at once (two jobs, each under its own deployment's lock), as
    operators may."""
    def one(name):
        extra = dict(fleet(name, **settings), purge=True) if name_of_playbook == "delete.yml" else fleet(name, **settings)
        results[name] = playbook(name_of_playbook, check=False, extra_vars=extra)

    results = {}
    workers = [threading.Thread(target=one, args=(name,)) for name in PORTS]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    for name in PORTS:
        text = results[name].stdout + results[name].stderr
        assert results[name].returncode == 0, text[-3000:]
        assert not any(value in text for value in KEYS.values()), "a key was printed"


def receiver(*command):
    return run("docker", "exec", RECEIVER_VM, "sh", "-c", " ".join(command), check=False)


def stop_receiver():
    receiver(f"test -f {PIDFILE} && kill $(cat {PIDFILE}) 2>/dev/null; rm -f {PIDFILE}")


@pytest.fixture(scope="module", autouse=True)
def trace_receiver(lab):
    stop_receiver()
    try:
        records()
        pytest.fail(f"port {RECEIVER_PORT} on lb1 answers before the receiver starts: stop what listens there")
    except OSError:
        pass
    receiver("mkdir -p /opt/selfhost-lab-trace-receiver /var/lib/selfhost-lab-trace-receiver")
    run("docker", "cp", str(lab.parent / "trace-receiver" / "receiver.py"),
        f"{RECEIVER_VM}:/opt/selfhost-lab-trace-receiver/receiver.py")
    run("docker", "exec", "-d", RECEIVER_VM, "sh", "-c",
        f"echo $$ > {PIDFILE}; exec python3 /opt/selfhost-lab-trace-receiver/receiver.py --port {RECEIVER_PORT} "
        "--log /var/lib/selfhost-lab-trace-receiver/requests.jsonl")
    deadline = time.time() + 20
    while True:
        try:
            records()
            break
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.5)
    for name in PORTS:
        if leftover(name):
            playbook("delete.yml", extra_vars=dict(fleet(name), purge=True))
    yield
    stop_receiver()


def test_tracing_on_without_a_key_is_refused_and_nothing_changes():
    before = revisions("trace-a")
    result = deploy("trace-a", check=False, api_key="")
    assert result.returncode != 0
    assert "entry 1 (trace-a): tracing is on (deploy_langsmith_tracing is true) but no LangSmith API key is set" \
        in result.text, result.text[-3000:]
    assert revisions("trace-a") == before


def test_each_deployment_traces_under_its_own_name_with_its_key():
    STATE["start"] = mark()
    both()
    STATE["env_a"], STATE["env_b"] = environment("trace-a"), environment("trace-b")
    assert STATE["env_a"]["LANGSMITH_TRACING"] == STATE["env_a"]["LANGCHAIN_TRACING_V2"] == "true"
    assert STATE["env_a"]["LANGSMITH_PROJECT"] == STATE["env_a"]["LANGCHAIN_PROJECT"] == "trace-a"
    assert STATE["env_a"]["LANGSMITH_ENDPOINT"] == STATE["env_a"]["LANGCHAIN_ENDPOINT"] == RECEIVER
    assert STATE["env_a"]["LANGSMITH_API_KEY"] == STATE["env_a"]["LANGCHAIN_API_KEY"] == "<fleet>"
    assert STATE["env_a"]["LANGGRAPH_CLOUD_LICENSE_KEY"] == "<license>"
    assert STATE["env_b"]["LANGSMITH_API_KEY"] == "<own>" and STATE["env_b"]["LANGSMITH_PROJECT"] == "trace-b"
    since = mark()
    run_graph("trace-a", "traced a")
    run_graph("trace-b", "traced b")
    a, b = wait_for_traces(since, "trace-a"), wait_for_traces(since, "trace-b")
    assert a and b, records(since)
    assert {r["api_key"] for r in a} == {KEYS["fleet"]}
    assert {r["api_key"] for r in b} == {KEYS["own"]}
    assert all(r["projects"] == ["trace-a"] for r in a) and all(r["projects"] == ["trace-b"] for r in b)


def test_status_shows_tracing_and_never_the_key():
    result = playbook("status.yml", extra_vars=fleet("trace-a"))
    text = result.stdout + result.stderr
    assert f"tracing on: project trace-a at {RECEIVER}" in text, text[-3000:]
    assert not any(value in text for value in KEYS.values())


def test_rotating_the_key_rolls_out_and_tracing_off_stops_traces():
    a_before, b_before = revisions("trace-a"), revisions("trace-b")
    both(api_key=KEYS["rotated"], b_tracing=False)
    assert len(revisions("trace-a")) == len(a_before) + 1 and len(revisions("trace-b")) == len(b_before) + 1
    assert environment("trace-a")["LANGSMITH_API_KEY"] == "<rotated>"
    env_b = environment("trace-b")
    assert env_b["LANGSMITH_TRACING"] == env_b["LANGCHAIN_TRACING_V2"] == "false"
    assert "LANGSMITH_PROJECT" not in env_b
    since = mark()
    run_graph("trace-a", "rotated")
    run_graph("trace-b", "untraced")
    a = wait_for_traces(since, "trace-a")
    assert a and {r["api_key"] for r in a} == {KEYS["rotated"]}, records(since)
    time.sleep(QUIET)
    later = records(since)
    assert not [r for r in later if "trace-b" in r["projects"] or (r["runs"] and r["api_key"] == KEYS["own"])], later
    STATE["b_env_off"] = env_b


def test_delete_leaves_the_traces_alone():
    kept = len(traces(STATE["start"], "trace-a")) + len(traces(STATE["start"], "trace-b"))
    since = mark()
    both("delete.yml", api_key=KEYS["rotated"], b_tracing=False)
    assert len(traces(STATE["start"], "trace-a")) + len(traces(STATE["start"], "trace-b")) == kept
    assert not [r for r in records(since) if r["method"] == "DELETE"]
    dump = run("docker", "exec", "selfhost-lab-pg1", "runuser", "-u", "postgres", "--", "pg_dump", "langgraph_control").stdout
    assert not any(value in dump for value in KEYS.values()), "a key is in the control database"
    labels = dict((value, "<%s>" % label) for label, value in KEYS.items())
    for r in records(STATE["start"]):
        print("receiver: %-6s %-22s key %-10s projects %-12s runs %d" % (
            r["method"], r["path"], labels.get(r["api_key"], r["api_key"]), ",".join(r["projects"]) or "-", r["runs"]))
