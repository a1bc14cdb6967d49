"""Faults an operator meets, in the lab, against the real server under a
bounded load: a container removed by hand, a deploy SIGKILLed mid-wave, an app
VM killed mid-roll-out and started again, Postgres restarted during a
roll-out. After each, the deploy locks are free, no revision is left
rolling_out, and the fleet converges without a manual step."""

import json
import os
import signal
import subprocess
import time
import urllib.request

import pytest

from conftest import INVENTORY, REGISTRY_FROM_VMS, REPO, VMS, ansible, playbook, run, vm_sql
from load import Load

IMAGE = REGISTRY_FROM_VMS + "/langgraph-demo:{}"
PORTS = {"fault-rm": 8170, "fault-kill": 8171, "fault-vm": 8172, "fault-pg": 8173}
# Short leases, so that a run that died is taken over within seconds.
LEASE = 15


def entry(name, tag="v1", **extra):
    base = dict(name=name, image=IMAGE.format(tag), type="production", min_replicas=2, max_replicas=4,
                lb_port=PORTS[name], migrate_command=["migrate"], env={"LOG_LEVEL": "INFO"})
    base.update(extra)
    return base


def variables(name, tag="v1", **extra):
    return {"langgraph_deployments": [entry(name, tag, **extra)], "deployment": name,
            "deploy_health_timeout": 150, "deploy_lock_ttl": LEASE}


def fleet(name, name_of_playbook, tag="v1", check=True, args=(), **extra):
    result = playbook(name_of_playbook, *args, check=check, extra_vars=variables(name, tag, **extra))
    result.text = result.stdout + result.stderr
    return result


def containers(name, hosts="langgraph_app"):
    """{host: sorted [(revision, running)]} of a deployment, on the hosts that answer."""
    found = ansible(hosts, "selfhost.langgraph.app_host_info", f"deployments={name}", become=True, check=False)
    return dict((host, sorted((c["revision"], c["running"]) for c in r.get("containers", [])))
                for host, r in found.items() if not r.get("unreachable") and not r.get("failed"))


def sql(query):
    return vm_sql(query, "langgraph_control")


def statuses(name):
    return sql(f"SELECT number || ':' || status FROM revisions WHERE deployment = '{name}' ORDER BY number")


def serving(name):
    rows = sql(f"SELECT number FROM revisions WHERE deployment = '{name}' AND status = 'deployed'")
    return int(rows[0]) if rows else None


def locked(name):
    return sql(f"SELECT holder FROM deploy_locks WHERE deployment = '{name}'") != []


def version(name):
    body = json.dumps({"assistant_id": "agent", "input": {"message": "hi"}}).encode()
    request = urllib.request.Request(f"http://{VMS['lb1']}:{PORTS[name]}/runs/wait", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read())["version"]


def true_statuses(name):
    """No revision left rolling_out, exactly one deployed, and its lock free."""
    found = statuses(name)
    assert not any(s.endswith(":rolling_out") for s in found), found
    assert len([s for s in found if s.endswith(":deployed")]) == 1, found
    assert not locked(name), sql(f"SELECT * FROM deploy_locks WHERE deployment = '{name}'")


def start_deploy(name, tag):
    """A deploy in the background, in its own process group; returns (process, output lines so far)."""
    cmd = ["ansible-playbook", "-i", str(INVENTORY), str(REPO / "playbooks" / "deploy.yml"),
           "-e", json.dumps(variables(name, tag))]
    return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def read_until(process, marker, timeout=300):
    """The output of process up to the first line holding marker."""
    seen = []
    deadline = time.time() + timeout
    for line in process.stdout:
        seen.append(line)
        if marker in line:
            return "".join(seen)
        if time.time() > deadline:
            break
    raise AssertionError(f"{marker!r} never appeared:\n" + "".join(seen)[-3000:])


def wait_for_ssh(vm, timeout=180):
    deadline = time.time() + timeout
    while time.time() < deadline:
        answer = ansible(vm, "ansible.builtin.ping", check=False)
        if answer.get(vm, {}).get("ping") == "pong":
            return
        time.sleep(3)
    raise AssertionError(f"{vm} did not come back within {timeout} s")


def delete(name):
    playbook("delete.yml", check=False, extra_vars=dict(variables(name), purge=True))


@pytest.fixture(scope="module", autouse=True)
def clean_slate(lab):
    for name in PORTS:
        delete(name)
    yield
    run("docker", "start", "selfhost-lab-app2", check=False)
    wait_for_ssh("app2")
    for name in PORTS:
        delete(name)


def test_a_container_removed_by_hand_is_back_after_one_reconcile():
    fleet("fault-rm", "deploy.yml")
    number = serving("fault-rm")
    run("docker", "exec", "selfhost-lab-app1", "docker", "rm", "-f", f"lg-fault-rm-r{number}-1")
    assert containers("fault-rm")["app1"] == []
    result = fleet("fault-rm", "reconcile.yml")
    assert "fault-rm: repair revision" in result.text and "1 container(s) missing" in result.text, result.text[-3000:]
    assert containers("fault-rm") == {"app1": [(number, True)], "app2": [(number, True)]}
    assert version("fault-rm") == "v1"
    true_statuses("fault-rm")


def test_a_deploy_killed_mid_wave_is_taken_over_by_the_next_within_the_lease():
    fleet("fault-kill", "deploy.yml")
    before = serving("fault-kill")
    with Load(f"http://{VMS['lb1']}:{PORTS['fault-kill']}", threads=2, max_requests=3000, max_seconds=400) as load:
        process = start_deploy("fault-kill", "v2")
        read_until(process, "Start the new containers beside the old ones")
        time.sleep(1)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        killed_at = time.time()
        assert locked("fault-kill")
        result = fleet("fault-kill", "deploy.yml", tag="v2")
        took = time.time() - killed_at
    assert result.returncode == 0, result.text[-3000:]
    assert "took over the lock of" in result.text, result.text[-3000:]
    assert load.failures == [], load.summary()
    now = serving("fault-kill")
    assert now > before and version("fault-kill") == "v2"
    # The killed run's revision is failed, saying why; nothing of it is left running.
    dead = sql(f"SELECT number || ':' || status || ':' || coalesce(status_reason, '') FROM revisions "
               f"WHERE deployment = 'fault-kill' AND number > {before} AND number < {now}")
    assert dead and all(":failed:" in row and "ended before it finished" in row for row in dead), dead
    assert containers("fault-kill") == {"app1": [(now, True)], "app2": [(now, True)]}
    true_statuses("fault-kill")
    print(f"deploy killed: the next deploy took over and completed {took:.0f} s after the kill (lease {LEASE} s)")


def test_an_app_vm_killed_mid_roll_out_then_started_again():
    fleet("fault-vm", "deploy.yml")
    before = serving("fault-vm")
    # Paced (each run holds 0.1 s) so that the load outlasts a slow roll-out, reconcile and restart: its answers after
    # the run ended are what the last assertion reads.
    with Load(f"http://{VMS['lb1']}:{PORTS['fault-vm']}", threads=4, max_requests=20000, max_seconds=900,
              sleep_s=0.1) as load:
        process = start_deploy("fault-vm", "v2")
        read_until(process, "Start the new containers beside the old ones")
        run("docker", "kill", "selfhost-lab-app2")
        killed = time.time()
        output = process.communicate(timeout=600)[0]
        ended = time.time()
        # Requests app2 held when it died may fail; nothing after.
        assert all(when < killed + 5 for when, dummy in load.failures), load.summary()
        assert len(load.failures) <= load.threads, load.summary()

        # The run ended on its own: lock free, statuses true, whichever way it went.
        true_statuses("fault-vm")
        assert "app2" in output, output[-3000:]
        status = fleet("fault-vm", "status.yml")
        assert status.returncode == 0 and "app2       down" in status.text, status.text[-3000:]
        assert "last seen" in status.text
        tick = fleet("fault-vm", "autoscale.yml")
        assert tick.returncode == 0, tick.text[-3000:]

        # The next reconcile restores the count on the host that answers.
        serving_now = serving("fault-vm")
        healed = fleet("fault-vm", "reconcile.yml")
        assert healed.returncode == 0, healed.text[-3000:]
        assert containers("fault-vm", "app1") == {"app1": [(serving_now, True), (serving_now, True)]}
        restored = time.time()

        # app2 back: nothing of it serves before a reconcile returns it, running only the serving revision.
        run("docker", "start", "selfhost-lab-app2")
        wait_for_ssh("app2")
        back = fleet("fault-vm", "reconcile.yml")
        assert back.returncode == 0, back.text[-3000:]
        time.sleep(3)
        assert load.sent < load.max_requests and load.versions_after(time.time() - 3), \
            f"the load stopped before the test's end, nothing to check: {load.summary()}"
    assert containers("fault-vm") == {"app1": [(serving_now, True)], "app2": [(serving_now, True)]}
    # Once the run has ended, only the serving revision answers: nothing old of app2 serves when it comes back.
    assert load.versions_after(ended + 5) == {"v1" if serving_now == before else "v2"}
    assert all(when < killed + 5 for when, dummy in load.failures), load.summary()
    true_statuses("fault-vm")
    print(f"app2 killed: {load.summary()}; count restored {restored - killed:.0f} s after")


def test_postgres_restarted_during_a_roll_out_leaves_nothing_half_done():
    fleet("fault-pg", "deploy.yml")
    process = start_deploy("fault-pg", "v2")
    read_until(process, "Start the new containers beside the old ones")
    run("docker", "exec", "selfhost-lab-pg1", "systemctl", "restart", "postgresql")
    output = process.communicate(timeout=600)[0]
    if process.returncode != 0:
        assert "fault-pg" in output and ("failed" in output or "cannot" in output), output[-3000:]
    again = fleet("fault-pg", "deploy.yml", tag="v2")
    assert again.returncode == 0, again.text[-3000:]
    now = serving("fault-pg")
    assert containers("fault-pg") == {"app1": [(now, True)], "app2": [(now, True)]}
    assert version("fault-pg") == "v2"
    true_statuses("fault-pg")
