"""End to end: many deployments in one run of the control loop, against the
real LangGraph server behind HAProxy. Six development deployments are placed
over app1 and app2 by capacity, rolled out together, and one broken image
among them fails alone while the other five switch under load. The tests run
in file order, each building on the state the previous one left."""

import json
import urllib.request

import pytest

from conftest import REGISTRY_FROM_VMS, VMS, ansible, playbook, vm_sql
from load import Load

NAMES = [f"fleet-{letter}" for letter in "abcdef"]
PORTS = dict((name, 8140 + index) for index, name in enumerate(NAMES))
IMAGE = REGISTRY_FROM_VMS + "/langgraph-demo:{}"


def entries(tags=None, env=None, **extra):
    tags, env = tags or {}, env or {}
    return [dict(dict(name=name, image=IMAGE.format(tags.get(name, "v1")), type="development",
                      lb_port=PORTS[name], migrate_command=["migrate"],
                      env=dict({"LOG_LEVEL": "INFO"}, **env.get(name, {}))), **extra)
            for name in NAMES]


def run(name, *args, check=True, tags=None, env=None, **extra):
    variables = dict({"langgraph_deployments": entries(tags, env), "deploy_health_timeout": 150}, **extra)
    return playbook(name, *args, check=check, extra_vars=variables)


def output(result):
    return result.stdout + result.stderr


def placement():
    """{deployment: [(host, revision)]} of the test's running containers."""
    found = ansible("langgraph_app", "selfhost.langgraph.app_host_info", become=True)
    where = dict((name, []) for name in NAMES)
    for host, result in sorted(found.items()):
        for c in result["containers"]:
            if c["deployment"] in where and c["running"]:
                where[c["deployment"]].append((host, c["revision"]))
    return where


def answer(name):
    body = json.dumps({"assistant_id": "agent", "input": {"message": "hi"}}).encode()
    request = urllib.request.Request(f"http://{VMS['lb1']}:{PORTS[name]}/runs/wait", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())["version"]


def serving(name):
    rows = vm_sql(f"SELECT number FROM revisions WHERE deployment = '{name}' AND status = 'deployed'",
                  "langgraph_control")
    return int(rows[0]) if rows else None


def newest(name):
    rows = vm_sql(f"SELECT coalesce(max(number), 0) FROM revisions WHERE deployment = '{name}'", "langgraph_control")
    return int(rows[0])


def delete_all():
    for name in NAMES:
        playbook("delete.yml", extra_vars={"langgraph_deployments": entries(), "deployment": name, "purge": True})


@pytest.fixture(scope="module", autouse=True)
def clean_slate(lab):
    delete_all()
    yield
    delete_all()


def test_bad_entries_are_refused_in_one_message_before_anything_changes():
    bad = entries()
    bad[0]["max_replica"] = 3
    bad[1]["min_replicas"] = "two"
    bad[2]["postgres_host"] = "pg9"
    result = playbook("deploy.yml", check=False, extra_vars={"langgraph_deployments": bad})
    assert result.returncode != 0
    text = output(result)
    for words in ("langgraph_deployments has 3 problems; nothing was changed",
                  "entry 1 (fleet-a): unknown key max_replica (did you mean max_replicas?)",
                  "entry 2 (fleet-b): min_replicas must be a whole number, not 'two'",
                  "entry 3 (fleet-c): postgres_host pg9 is not a host of group langgraph_postgres"):
        assert words in text, text[-3000:]
    assert all(hosts == [] for hosts in placement().values())


def test_a_limit_that_leaves_the_fleet_out_fails_loudly():
    for limit in ("app1", "pg1"):
        result = run("deploy.yml", "--limit", limit, check=False)
        assert result.returncode != 0, output(result)[-2000:]
        assert "--limit leaves out" in output(result), output(result)[-2000:]


def test_check_mode_prints_the_plan_and_changes_nothing():
    result = run("deploy.yml", "--check")
    text = output(result)
    # Revisions outlive a delete: a deployment deleted by an earlier run comes back as a repair of its revision.
    for name in NAMES:
        assert any(line.startswith(f"{name}: ") and "start app" in line for line in text.splitlines()), text[-3000:]
    assert "wave 1/1: start 6 container(s) on 2 host(s)" in text, text[-3000:]
    assert all(hosts == [] for hosts in placement().values())


def test_first_deploy_spreads_six_single_replica_deployments_over_both_hosts():
    run("deploy.yml")
    where = placement()
    assert all(len(hosts) == 1 for hosts in where.values()), where
    per_host = {}
    for hosts in where.values():
        for host, dummy in hosts:
            per_host[host] = per_host.get(host, 0) + 1
    assert sorted(per_host.values()) == [3, 3], where
    assert {answer(name) for name in NAMES} == {"v1"}


def test_rerun_changes_nothing():
    result = run("deploy.yml")
    assert "changed=0" in result.stdout and "changed=1" not in result.stdout, result.stdout[-3000:]
    assert "unchanged at revision" in output(result)


def test_one_broken_image_fails_alone_and_the_others_roll_out_under_load():
    before = dict((name, serving(name)) for name in NAMES)
    numbers = dict((name, newest(name) + 1) for name in NAMES)
    tags = dict((name, "v2") for name in NAMES)
    tags["fleet-c"] = "broken"
    # A broken revision that exits at once: the one that hangs until the health
    # timeout is test_rollout's, and waiting out 150 s here again only costs CI time.
    broken_exits = {"fleet-c": {"DEMO_BROKEN": "exit"}}
    loads = [Load(f"http://{VMS['lb1']}:{PORTS[name]}", threads=1, max_requests=2000, max_seconds=400)
             for name in NAMES]
    for load in loads:
        load.__enter__()
    try:
        result = run("deploy.yml", check=False, tags=tags, env=broken_exits)
    finally:
        for load in loads:
            load.__exit__(None, None, None)
    text = output(result)
    assert result.returncode != 0, text[-3000:]
    assert "1 of 6 deployment(s) failed; 5 others completed" in text, text[-3000:]
    assert f"deploy of fleet-c revision {numbers['fleet-c']} failed" in text, text[-3000:]
    for load in loads:
        assert load.failures == [], load.summary()
    assert {name: answer(name) for name in NAMES} == dict(
        (name, "v1" if name == "fleet-c" else "v2") for name in NAMES)
    assert serving("fleet-c") == before["fleet-c"]
    assert all(serving(name) == numbers[name] for name in NAMES if name != "fleet-c")
    where = placement()
    assert all(len(hosts) == 1 for hosts in where.values()), where
    statuses = vm_sql("SELECT status FROM revisions WHERE deployment = 'fleet-c' ORDER BY number DESC LIMIT 1",
                      "langgraph_control")
    assert statuses == ["failed"]
