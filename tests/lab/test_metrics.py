"""The fleet's Prometheus metrics in the lab: one small deployment, one
autoscale tick in check mode (writes nothing), one for real, whose
textfile on the control host (pg1) is parsed with the Prometheus client's
parser and checked against the lab: the running replicas are the containers
the app hosts run, the revision is the one the control database serves, the
hosts are up; then a reconcile tick, which keeps another deployment's samples
(its run is limited to this one). The last use is read from deployment_usage."""

import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import REGISTRY_FROM_VMS, ansible, playbook, run, vm_sql

NAME = "mon-metrics"
PORT = 8360
DIRECTORY = "/var/tmp/mon-metrics"
FILE = DIRECTORY + "/langgraph.prom"
USED_AT = 1764000000.0


def settings(**extra):
    entry = dict(name=NAME, image=REGISTRY_FROM_VMS + "/langgraph-demo:v1", type="production", min_replicas=2,
                 max_replicas=2, lb_port=PORT, migrate_command=["migrate"], env={"LOG_LEVEL": "INFO"})
    found = {"langgraph_deployments": [entry], "deployment": NAME, "deploy_health_timeout": 150,
             "langgraph_metrics_dir": DIRECTORY, "autoscale_samples": 2, "autoscale_window": 1}
    found.update(extra)
    return found


def on_pg1(*command, check=True):
    return run("docker", "exec", "selfhost-lab-pg1", *command, check=check)


def control_sql(query):
    return vm_sql(query, "langgraph_control")


@pytest.fixture(scope="module")
def deployed(lab):
    playbook("delete.yml", extra_vars=dict(settings(), purge=True))
    on_pg1("rm", "-rf", DIRECTORY)
    on_pg1("install", "-d", "-m", "0755", DIRECTORY)
    playbook("deploy.yml", extra_vars=settings())
    control_sql(f"INSERT INTO deployment_usage (deployment, last_used_at) VALUES ('{NAME}', to_timestamp({USED_AT})) "
                f"ON CONFLICT (deployment) DO UPDATE SET last_used_at = EXCLUDED.last_used_at")
    yield
    playbook("delete.yml", extra_vars=dict(settings(), purge=True))
    control_sql(f"DELETE FROM deployment_usage WHERE deployment = '{NAME}'")
    on_pg1("rm", "-rf", DIRECTORY)


def samples(text):
    """{(name, sorted label pairs): value} of a text exposition, parsed by the Prometheus client."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found, name, **labels):
    return found.get((name, tuple(sorted(labels.items()))))


def test_a_check_mode_tick_writes_nothing(deployed):
    playbook("autoscale.yml", "--check", extra_vars=settings())
    assert on_pg1("ls", "-A", DIRECTORY).stdout.split() == []


def servers_up():
    """Servers of the deployment lb1's HAProxy reports UP now."""
    found = ansible("lb1", "selfhost.langgraph.haproxy_info", become=True)["lb1"]["backends"].get(NAME) or {}
    return sum(1 for s in (found.get("servers") or {}).values() if s["status"] == "UP")


def wait_for_servers_up(count, timeout=90):
    """On a loaded machine a health check can time out and take a server DOWN for a while: the tick must see
    what HAProxy says, so the test starts from all UP."""
    deadline = time.time() + timeout
    while servers_up() != count:
        assert time.time() < deadline, f"lb1 does not report {count} servers of {NAME} UP"
        time.sleep(3)


def test_the_tick_writes_the_fleet_as_the_lab_has_it(deployed):
    wait_for_servers_up(2)
    before = time.time()
    playbook("autoscale.yml", extra_vars=settings())
    listing = on_pg1("ls", "-A", DIRECTORY).stdout.split()
    assert listing == ["langgraph.prom"], listing  # no temporary file left behind
    assert on_pg1("stat", "-c", "%a", FILE).stdout.strip() == "644"
    found = samples(on_pg1("cat", FILE).stdout)

    containers = ansible("langgraph_app", "selfhost.langgraph.app_host_info", f"deployments={NAME}", become=True)
    mine = [c for r in containers.values() for c in r["containers"] if c["running"]]
    serving = int(control_sql(f"SELECT number FROM revisions WHERE deployment = '{NAME}' AND status = 'deployed' "
                              f"ORDER BY number DESC LIMIT 1")[0])
    assert len(mine) == 2 and {c["revision"] for c in mine} == {serving}, mine
    assert value(found, "langgraph_deployment_running_replicas", deployment=NAME) == len(mine)
    assert value(found, "langgraph_deployment_desired_replicas", deployment=NAME) == 2
    assert value(found, "langgraph_deployment_serving_revision", deployment=NAME) == serving
    assert value(found, "langgraph_deployment_servers_up", deployment=NAME, load_balancer="lb1") == 2
    assert value(found, "langgraph_deployment_sessions", deployment=NAME, load_balancer="lb1") is not None
    assert value(found, "langgraph_deployment_pending_runs", deployment=NAME) == 0
    assert value(found, "langgraph_deployment_lock_held", deployment=NAME) == 0
    assert value(found, "langgraph_deployment_tick_failed", deployment=NAME) == 0
    assert value(found, "langgraph_deployment_last_used_timestamp_seconds", deployment=NAME) == USED_AT
    decisions = [labels for (name, labels), v in found.items()
                 if name == "langgraph_deployment_scale_decision_info" and ("deployment", NAME) in labels]
    assert decisions == [(("decision", "steady"), ("deployment", NAME), ("reason", "steady at 2"))], decisions
    assert value(found, "langgraph_deployment_scale_decision_desired_replicas", deployment=NAME) == 2
    for host in ("app1", "app2"):
        assert value(found, "langgraph_host_up", host=host, group="app") == 1
        on_host = len([c for c in containers[host]["containers"] if c["running"]])
        # Other deployments share the hosts: theirs count too.
        assert value(found, "langgraph_host_containers", host=host, state="running") >= on_host >= 1
    assert value(found, "langgraph_host_up", host="lb1", group="lb") == 1
    tick = value(found, "langgraph_tick_timestamp_seconds", action="autoscale")
    assert before - 5 <= tick <= time.time() + 5, (before, tick)


def test_a_reconcile_tick_writes_the_same_fleet_and_keeps_the_other_deployments(deployed):
    """Reconcile reads the load balancers at one instant and counts no queue: its file says the same of the
    deployment, and the pending runs are the ones the last autoscale decision counted. Limited to one
    deployment, it keeps what the file said of another one."""
    wait_for_servers_up(2)
    other = ("# HELP langgraph_deployment_pending_runs Runs waiting.\n# TYPE langgraph_deployment_pending_runs gauge\n"
             'langgraph_deployment_pending_runs{deployment="mon-other"} 5\n')
    on_pg1("sh", "-c", f"printf '%s' '{other}' >> {FILE}")
    playbook("reconcile.yml", extra_vars=settings())
    found = samples(on_pg1("cat", FILE).stdout)
    assert value(found, "langgraph_deployment_pending_runs", deployment="mon-other") == 5
    assert value(found, "langgraph_tick_timestamp_seconds", action="reconcile") is not None
    assert value(found, "langgraph_tick_timestamp_seconds", action="autoscale") is None
    assert value(found, "langgraph_deployment_running_replicas", deployment=NAME) == 2
    assert value(found, "langgraph_deployment_servers_up", deployment=NAME, load_balancer="lb1") == 2
    assert value(found, "langgraph_deployment_pending_runs", deployment=NAME) == 0
    assert value(found, "langgraph_host_up", host="lb1", group="lb") == 1
