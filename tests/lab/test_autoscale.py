"""End to end: the autoscaler against a real LangGraph server behind HAProxy.

A production deployment at 1 container is held at about 35 concurrent slow
requests: two autoscaler runs started at once scale it to 4 (only one acts).
The load stops: it stays at 4 until the (shortened) scale-down delay has
passed, then returns to 1 under a light load that sees no failure. Declared
as development, it never exceeds 1. The tests run in file order."""

import json
import subprocess
import time

import pytest

from conftest import REGISTRY_FROM_VMS, REPO, VMS, ansible, playbook, vm_sql
from load import Load

NAME = "e2e-scale"
PORT = 8125
URL = f"http://{VMS['lb1']}:{PORT}"
DELAY = 20
STATE = {}
LOGS = REPO / ".build" / "test-autoscale"
LOGS.mkdir(parents=True, exist_ok=True)


def settings(**extra):
    entry = dict(name=NAME, image=REGISTRY_FROM_VMS + "/langgraph-demo:v1", type="production", min_replicas=1,
                 max_replicas=10, target_concurrency=10, scale_down_delay=f"{DELAY}s", lb_port=PORT,
                 migrate_command=["migrate"], env={"LOG_LEVEL": "INFO"})
    entry.update(extra)
    return {"langgraph_deployments": [entry], "deployment": NAME, "deploy_health_timeout": 150}


def autoscale(*args, **extra):
    """Runs one tick; its output (plan and progress lines are on stderr) is in .text."""
    result = playbook("autoscale.yml", *args, extra_vars=settings(**extra), timeout=600)
    result.text = result.stdout + result.stderr
    return result


def running():
    """Running containers of the deployment, over both app hosts."""
    found = ansible("langgraph_app", "selfhost.langgraph.app_host_info", f"deployments={NAME}", become=True)
    return sum(1 for r in found.values() for c in r["containers"] if c["running"])


def events(since_id=0):
    """[id, current, desired, applied or -1] of the decisions after since_id."""
    rows = vm_sql(f"SELECT id, current_replicas, desired, coalesce(applied, -1) FROM scale_events "
                  f"WHERE deployment = '{NAME}' AND id > {since_id} ORDER BY id", "langgraph_control")
    return [row.split("|") for row in rows]


def last_event_id():
    rows = vm_sql(f"SELECT coalesce(max(id), 0) FROM scale_events WHERE deployment = '{NAME}'", "langgraph_control")
    return int(rows[0])


class SlowLoad(Load):
    """Load that also counts a response cut short (http.client.IncompleteRead is no OSError)."""

    def _one(self):
        try:
            super()._one()
        except Exception as exc:  # pylint: disable=broad-except  # every failure is counted
            with self._lock:
                self.failures.append((time.time(), repr(exc)))


def slow_load(threads, sleep_s, seconds):
    """threads concurrent requests each holding sleep_s seconds, bounded in time and count."""
    return SlowLoad(URL, threads=threads, sleep_s=sleep_s, max_requests=threads * (seconds // sleep_s + 2),
                    max_seconds=seconds)


@pytest.fixture(scope="module", autouse=True)
def deployed(lab):
    playbook("delete.yml", extra_vars=dict(settings(), purge=True))
    playbook("deploy.yml", extra_vars=settings())
    yield
    playbook("delete.yml", extra_vars=dict(settings(), purge=True))


def test_starts_at_one_and_check_mode_records_nothing():
    assert running() == 1
    before = last_event_id()
    result = autoscale("--check")
    assert "steady at 1" in result.text, result.text[-2000:]
    assert last_event_id() == before


def test_held_load_scales_up_to_four_and_only_one_run_acts():
    STATE["before_up"] = last_event_id()
    with slow_load(threads=35, sleep_s=15, seconds=150) as load:
        time.sleep(8)  # the requests are in flight
        args = ["ansible-playbook", "-i", "lab/inventory", "playbooks/autoscale.yml", "-e", json.dumps(settings())]
        procs = [subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for index in range(2)]
        outputs = [p.communicate(timeout=600)[0] for p in procs]
        for index, output in enumerate(outputs):
            (LOGS / f"autoscale-run-{index}.log").write_text(output)
        assert [p.returncode for p in procs] == [0, 0], [o[-3000:] for o in outputs]
        scaled = running()
    assert scaled == 4, outputs
    applied = [e for e in events(STATE["before_up"]) if e[3] != "-1"]
    assert len(applied) == 1 and applied[0][1:4] == ["1", "4", "4"], (events(STATE["before_up"]), outputs)
    # The other run either skipped (lock held) or decided after the scaling: nothing to do.
    assert "skipped this round" in "".join(outputs) or len(events(STATE["before_up"])) == 2, outputs
    assert load.failures == [], load.summary()


def test_stays_at_four_until_the_delay_has_passed():
    first = autoscale()  # idle now: the timer starts
    assert "scale down after" in first.text, first.text[-2000:]
    started = time.time()
    second = autoscale()
    if time.time() - started < DELAY - 2:
        assert "scale down in" in second.text, second.text[-2000:]
    assert running() == 4
    time.sleep(max(0.0, DELAY + 1 - (time.time() - started)))


def test_returns_to_one_after_the_delay_with_no_failed_request():
    before = last_event_id()
    with slow_load(threads=3, sleep_s=2, seconds=200) as load:
        time.sleep(2)
        result = autoscale()
        time.sleep(2)
    assert "scale down 4 -> 1" in result.text, result.text[-2000:]
    assert running() == 1
    assert load.failures == [], load.summary()
    assert len(load.answers) > 10, load.summary()
    assert [e[1:4] for e in events(before)] == [["4", "1", "1"]]


def test_development_never_exceeds_one():
    with slow_load(threads=35, sleep_s=15, seconds=90) as load:
        time.sleep(8)
        result = autoscale(type="development", max_replicas=1)
        assert running() == 1
    assert "steady at 1" in result.text and "capped at max 1" in result.text, result.text[-2000:]
    assert load.failures == [], load.summary()
