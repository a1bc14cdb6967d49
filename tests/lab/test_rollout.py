"""End to end: revisions of a real LangGraph server rolled out across app1 and
app2 behind HAProxy on lb1, under load, with a failed revision, a rollback,
concurrent deploys and deletion. The tests run in file order, each building
on the state the previous one left."""

import json
import subprocess
import threading
import time
import urllib.request

import pytest
from langgraph_sdk import get_sync_client

from conftest import REGISTRY_FROM_VMS, REPO, VMS, ansible, playbook, vm_sql
from load import Load

NAME = "e2e-bot"
PORT = 8124
URL = f"http://{VMS['lb1']}:{PORT}"
IMAGE = REGISTRY_FROM_VMS + "/langgraph-demo:{}"
STATE = {}


def deployment(tag, **extra):
    entry = dict(name=NAME, image=IMAGE.format(tag), type="production", min_replicas=2, max_replicas=4,
                 lb_port=PORT, migrate_command=["migrate"], env={"LOG_LEVEL": "INFO"})
    entry.update(extra)
    return {"langgraph_deployments": [entry], "deployment": NAME}


def deploy(tag, check=True, health_timeout=150, **extra):
    return playbook("deploy.yml", check=check,
                    extra_vars=dict(deployment(tag, **extra), deploy_health_timeout=health_timeout))


def containers():
    """{host: [(revision, running)]} of the test deployment."""
    found = ansible("langgraph_app", "selfhost.langgraph.app_host_info", f"deployments={NAME}", become=True)
    return {host: sorted((c["revision"], c["running"]) for c in r["containers"]) for host, r in found.items()}


def client():
    return get_sync_client(url=URL, timeout=60)


@pytest.fixture(scope="module", autouse=True)
def clean_slate(lab):
    playbook("delete.yml", extra_vars=dict(deployment("v1"), purge=True))
    yield


def serving():
    return int(vm_sql(f"SELECT number FROM revisions WHERE deployment = '{NAME}' AND status = 'deployed'",
                      "langgraph_control")[0])


def rev(n):
    """The number of the test's n-th revision: revisions stay recorded after a
    delete, so the first deploy here may give back an earlier one."""
    return STATE["first"] + n - 1


def test_deploy_revision_1_serves_through_haproxy():
    deploy("v1")
    STATE["first"] = serving()
    assert containers() == {"app1": [(rev(1), True)], "app2": [(rev(1), True)]}
    sdk = client()
    assistant = sdk.assistants.create(graph_id="agent", name="e2e")
    thread = sdk.threads.create()
    result = sdk.runs.wait(thread["thread_id"], assistant["assistant_id"], input={"message": "hello"})
    assert (result["echo"], result["count"], result["version"]) == ("hello", 1, "v1")
    chunks = list(sdk.runs.stream(thread["thread_id"], "agent", input={"message": "streamed", "sleep_s": 2},
                                  stream_mode=["custom", "values"]))
    assert any(c.event == "custom" for c in chunks)
    assert [c.data for c in chunks if c.event == "values"][-1]["count"] == 2
    STATE.update(thread=thread["thread_id"])


def _stream_in_background(seconds):
    outcome = {}

    def consume():
        try:
            chunks = list(client().runs.stream(STATE["thread"], "agent",
                                               input={"message": "long", "sleep_s": seconds},
                                               stream_mode=["custom", "values"]))
            outcome["values"] = [c.data for c in chunks if c.event == "values"]
            outcome["errors"] = [c.data for c in chunks if c.event == "error"]
        except Exception as exc:  # reported by the test
            outcome["exception"] = repr(exc)

    worker = threading.Thread(target=consume, daemon=True)
    worker.start()
    time.sleep(2)  # the stream is open before the roll-out starts
    return worker, outcome


def test_roll_out_revision_2_under_load_fails_no_request():
    worker, stream = _stream_in_background(20)
    with Load(URL, threads=4, max_requests=5000, max_seconds=400) as load:
        deploy("v2")
        switched = time.time()
        time.sleep(3)
    worker.join(timeout=120)
    assert load.failures == [], load.summary()
    assert load.versions_after(switched + 1) == {"v2"}, load.summary()
    assert "exception" not in stream and stream["errors"] == [], stream
    assert stream["values"][-1]["slept_s"] >= 20
    assert containers() == {"app1": [(rev(2), True)], "app2": [(rev(2), True)]}
    # The thread made under revision 1 lives on in Postgres.
    state = client().threads.get_state(STATE["thread"])
    assert state["values"]["count"] == 3


def test_never_healthy_revision_fails_and_revision_2_keeps_serving():
    with Load(URL, threads=4, max_requests=3000, max_seconds=300) as load:
        # A revision that never answers fails at the timeout, however long: a short one saves CI time.
        result = deploy("broken", check=False, health_timeout=45)
        time.sleep(2)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert f"deploy of e2e-bot revision {rev(3)} failed" in output and "healthy" in output, output[-3000:]
    assert "its serving revision keeps serving" in output, output[-3000:]
    assert load.failures == [], load.summary()
    assert {version for dummy, version in load.answers} == {"v2"}
    assert containers() == {"app1": [(rev(2), True)], "app2": [(rev(2), True)]}
    assert vm_sql(f"SELECT status FROM revisions WHERE deployment = '{NAME}' AND number >= {rev(1)} ORDER BY number",
                  "langgraph_control") == ["superseded", "deployed", "failed"]


def test_rollback_to_revision_1_under_load():
    with Load(URL, threads=4, max_requests=5000, max_seconds=400) as load:
        playbook("rollback.yml", extra_vars=dict(deployment("v2"), revision=rev(1)))
        switched = time.time()
        time.sleep(3)
    assert load.failures == [], load.summary()
    assert load.versions_after(switched + 1) == {"v1"}, load.summary()
    assert containers() == {"app1": [(rev(1), True)], "app2": [(rev(1), True)]}
    assert client().threads.get_state(STATE["thread"])["values"]["count"] == 3


def test_two_deploys_at_once_never_interleave():
    args = ["ansible-playbook", "-i", "lab/inventory", "playbooks/deploy.yml", "-e", "deploy_lock_wait=0"]
    procs = [subprocess.Popen(args + ["-e", json.dumps(deployment(tag))], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for tag in ("v2", "v1")]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    codes = [p.returncode for p in procs]
    assert sorted(codes)[0] == 0, outputs
    if codes.count(0) == 1:
        loser = outputs[codes.index(0) ^ 1]
        assert "not acted on: locked by" in loser, loser[-2000:]
    served = containers()
    revisions = {number for entries in served.values() for number, dummy in entries}
    assert len(revisions) == 1 and all(len(entries) == 1 for entries in served.values()), served


def test_delete_keeps_the_database_unless_purged():
    playbook("delete.yml", extra_vars=deployment("v1"))
    assert containers() == {"app1": [], "app2": []}
    with pytest.raises(OSError):  # nothing listens on the deployment's port any more
        urllib.request.urlopen(URL + "/ok", timeout=5)
    assert vm_sql("SELECT datname FROM pg_database WHERE datname = 'lg_e2e_bot'") == ["lg_e2e_bot"]
    playbook("delete.yml", extra_vars=dict(deployment("v1"), purge=True))
    assert vm_sql("SELECT datname FROM pg_database WHERE datname = 'lg_e2e_bot'") == []
