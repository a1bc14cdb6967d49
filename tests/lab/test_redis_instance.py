"""redis_isolation: instance end to end (issue 10, item 2): a deployment with a
redis-server of its own on redis1 serves runs and streams through HAProxy,
its REDIS_URI points at its own port, passwords do not cross between it and
the shared instance, its pub/sub traffic never reaches the shared instance,
and delete with purge removes the unit, files and data. The lab's redis1
has TLS on, so the instance speaks TLS only on its port, verified with the
lab's CA, and an instance made plain (as before TLS) turns TLS on the next
run with a restart of that instance alone.

iso-a runs the real LangGraph server in instance mode; iso-b only has stores
(a database number and ACL user on the shared instance), made by stores.yml.
The tests run in file order, each building on the state the previous left."""

import importlib.util
import os
import threading
import time
import urllib.parse

import pytest
import redis
import yaml
from langgraph_sdk import get_sync_client

from conftest import INVENTORY, REGISTRY_FROM_VMS, REPO, VMS, ansible, playbook, vm_sql

A, B = "iso-a", "iso-b"
PORT = 8320
URL = f"http://{VMS['lb1']}:{PORT}"
STATE = {}
# The lab CA on this machine (lab/tls.yml), and where the URIs name it on the hosts (uris.CA_FILE).
LAB_CA = os.path.join(os.environ.get("LAB_STATE_DIR") or "/var/lib/selfhost-langgraph-lab", "tls", "ca.crt")
CA_FILE = "/etc/selfhost-langgraph/tls/ca.crt"


def _passwords():
    spec = importlib.util.spec_from_file_location("passwords", REPO / "plugins" / "module_utils" / "passwords.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def lab_vars():
    with open(INVENTORY / "group_vars" / "all.yml", encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def entries(**a_extra):
    a = dict(name=A, image=REGISTRY_FROM_VMS + "/langgraph-demo:v1", type="development", lb_port=PORT,
             migrate_command=["migrate"], redis_isolation="instance", redis_maxmemory="64mb")
    a.update(a_extra)
    b = dict(name=B, image=REGISTRY_FROM_VMS + "/langgraph-demo:v1", type="development", lb_port=PORT + 1)
    return [a, b]


def variables(name, **a_extra):
    return {"langgraph_deployments": entries(**a_extra), "deployment": name, "deploy_health_timeout": 150}


def on_redis1(command):
    return ansible("redis1", "ansible.builtin.shell", command, become=True, check=False)["redis1"]


def allocation(name):
    return vm_sql(f"SELECT redis_instance, db_number FROM redis_allocations WHERE deployment = '{name}'",
                  "langgraph_control")


def container_redis_uri(name):
    """REDIS_URI of a running container of the deployment, as the server got it."""
    for _host, result in ansible("langgraph_app", "ansible.builtin.shell",
                                 f"for c in $(docker ps -q --filter name=^lg-{name}-r); do "
                                 "docker exec $c printenv REDIS_URI; done",
                                 become=True, check=False).items():
        for line in result.get("stdout_lines", []):
            if line.startswith("redis"):
                return line
    raise AssertionError(f"no running container of {name} with a REDIS_URI")


def tls():
    return bool(lab_vars().get("redis_tls_enabled"))


def connect(uri=None, **kwargs):
    if uri is not None:
        return redis.Redis.from_url(uri.replace(CA_FILE, LAB_CA), socket_timeout=10, decode_responses=True)
    return redis.Redis(socket_timeout=10, decode_responses=True, **kwargs)


def own(**kwargs):
    """A connection to A's instance, with TLS and the lab's CA when redis1 has TLS on."""
    extra = dict(ssl=True, ssl_ca_certs=LAB_CA, ssl_cert_reqs="required") if tls() else {}
    return connect(host=VMS["redis1"], port=STATE["port"], **extra, **kwargs)


def purge_both():
    """delete.yml with purge for each test deployment that has stores or a serving revision (a run that
    stopped half-way); there is nothing to do for the others."""
    for name in (A, B):
        live = vm_sql(f"SELECT 1 FROM revisions WHERE deployment = '{name}' AND status IN ('deployed', 'rolling_out')",
                      "langgraph_control")
        if allocation(name) or live:
            playbook("delete.yml", extra_vars=dict(variables(name), purge=True))


@pytest.fixture(scope="module", autouse=True)
def clean_slate(lab):
    purge_both()
    yield
    purge_both()


def test_bad_memory_limit_is_refused_before_anything_changes():
    result = playbook("deploy.yml", check=False, extra_vars=variables(A, redis_maxmemory="lots"))
    assert result.returncode != 0
    assert "redis_maxmemory must be a memory size such as 256mb or 1gb" in result.stdout
    assert allocation(A) == []


def test_instance_mode_serves_runs_and_a_stream_through_haproxy():
    playbook("deploy.yml", extra_vars=variables(A))
    rows = allocation(A)
    assert len(rows) == 1
    instance, number = rows[0].split("|")
    address, port = instance.rsplit(":", 1)
    assert address == VMS["redis1"] and 6400 <= int(port) <= 6499 and number == "1"
    STATE.update(port=int(port))

    sdk = get_sync_client(url=URL, timeout=60)
    thread = sdk.threads.create()
    result = sdk.runs.wait(thread["thread_id"], "agent", input={"message": "isolated"})
    assert (result["echo"], result["count"]) == ("isolated", 1)
    chunks = list(sdk.runs.stream(thread["thread_id"], "agent", input={"message": "streamed", "sleep_s": 1},
                                  stream_mode=["custom", "values"]))
    assert any(c.event == "custom" for c in chunks)
    assert [c.data for c in chunks if c.event == "values"][-1]["count"] == 2


def test_redis_uri_points_at_its_own_instance():
    uri = container_redis_uri(A)
    parsed = urllib.parse.urlsplit(uri)
    scheme = "rediss" if tls() else "redis"
    assert (parsed.scheme, parsed.hostname, parsed.port, parsed.path) == (scheme, VMS["redis1"], STATE["port"], "/1")
    assert parsed.username == "lg_iso_a"
    if tls():  # as the shared instance's: the certificate and host name verified with the fleet's CA
        assert parsed.query == f"ssl_cert_reqs=required&ssl_ca_certs={CA_FILE}&ssl_check_hostname=true"
        # TLS only on the instance's port: a plain client gets no answer there.
        with pytest.raises(redis.exceptions.ConnectionError):
            connect(host=VMS["redis1"], port=STATE["port"], password=lab_vars()["redis_password"]).ping()
    STATE["uri_a"] = uri
    unit = on_redis1(f"systemctl is-active langgraph-redis@{A}; systemctl is-enabled langgraph-redis@{A}; "
                     f"stat -c '%U %a' /etc/redis/langgraph/{A}.conf /etc/redis/langgraph/{A}.acl")
    assert unit["stdout_lines"] == ["active", "enabled", "redis 640", "redis 640"], unit
    # The configuration and ACL file hold no password, only hashes.
    files = on_redis1(f"cat /etc/redis/langgraph/{A}.conf /etc/redis/langgraph/{A}.acl")["stdout"]
    assert urllib.parse.unquote(parsed.password) not in files and lab_vars()["redis_password"] not in files
    # The server itself is connected to its instance.
    admin = own(password=lab_vars()["redis_password"])
    assert any(c["user"] == "lg_iso_a" for c in admin.client_list())
    assert admin.config_get("maxmemory") == {"maxmemory": str(64 * 1024 * 1024)}


def test_a_second_run_changes_nothing_on_the_redis_host():
    result = playbook("stores.yml", extra_vars=variables(A))
    section = result.stdout.split("Run the dedicated Redis instances", 1)[1].split("TASK [", 1)[0]
    assert "ok: [pg1 -> redis1" in section and "changed:" not in section, section


def main_pid(unit):
    return on_redis1(f"systemctl show -p MainPID --value {unit}")["stdout"].strip()


def test_a_plain_instance_turns_tls_on_the_next_run():
    """An instance made before its host had TLS (plain on its port) is changed to TLS by the next run, with a
    restart of that instance only: the shared Redis keeps running."""
    if not tls():
        pytest.skip("redis1 has no TLS in this lab")
    port, conf, unit = STATE["port"], f"/etc/redis/langgraph/{A}.conf", f"langgraph-redis@{A}"
    on_redis1(f"sed -i -e '/^tls-/d' -e 's/^port 0$/port {port}/' {conf} && systemctl restart {unit}")
    assert connect(host=VMS["redis1"], port=port, password=lab_vars()["redis_password"]).ping()  # plain now
    shared_pid, plain_pid = main_pid("redis-server"), main_pid(unit)

    result = playbook("stores.yml", extra_vars=variables(A))
    section = result.stdout.split("Run the dedicated Redis instances", 1)[1].split("TASK [", 1)[0]
    assert "changed: [pg1 -> redis1" in section, section
    assert own(password=lab_vars()["redis_password"]).ping()
    with pytest.raises(redis.exceptions.ConnectionError):
        connect(host=VMS["redis1"], port=port, password=lab_vars()["redis_password"]).ping()
    assert main_pid(unit) != plain_pid and main_pid("redis-server") == shared_pid
    assert connect(STATE["uri_a"]).ping()


def test_passwords_do_not_cross_between_the_instance_and_the_shared_one():
    playbook("stores.yml", extra_vars=variables(B))
    seed = lab_vars()["postgres_admin_password"]
    password_b = _passwords().derived_redis_password(seed, B)
    shared = dict(host=VMS["redis1"], port=6379)
    b = connect(username="lg_iso_b", password=password_b, **shared)
    assert b.ping()
    b.set("iso-canary", "kept")
    STATE["password_b"] = password_b

    a = connect(STATE["uri_a"])
    password_a = urllib.parse.unquote(urllib.parse.urlsplit(STATE["uri_a"]).password)
    # A's login opens nothing on the shared instance, B's nothing on A's instance.
    with pytest.raises(redis.exceptions.AuthenticationError):
        connect(username="lg_iso_a", password=password_a, **shared).ping()
    with pytest.raises(redis.exceptions.AuthenticationError):
        own(username="lg_iso_b", password=password_b).ping()
    with pytest.raises(redis.exceptions.AuthenticationError):
        own(username="lg_iso_a", password=password_b).ping()

    # On its own instance A may flush, but not reach the server.
    a.set("mine", "1")
    assert a.flushall() is True and a.dbsize() == 0
    for call in (lambda: a.config_get("maxmemory"), lambda: a.config_set("maxmemory", "0"), lambda: a.acl_list(),
                 lambda: a.execute_command("SHUTDOWN"), lambda: a.execute_command("REPLICAOF", "NO", "ONE"),
                 lambda: a.execute_command("MODULE", "LIST")):
        with pytest.raises(redis.exceptions.NoPermissionError):
            call()
    with pytest.raises(redis.exceptions.ResponseError):
        a.execute_command("DEBUG", "SLEEP", "0")
    # The shared instance did not notice: B's key and its settings are as they were.
    assert b.get("iso-canary") == "kept"
    admin = connect(password=lab_vars()["redis_password"], **shared)
    assert admin.config_get("maxmemory")["maxmemory"] != str(64 * 1024 * 1024)
    assert admin.config_get("port") == {"port": "6379"}


def test_its_pub_sub_traffic_never_reaches_the_shared_instance():
    """The point of the mode: a run's stream messages stay on A's instance. A subscriber on each instance
    listens while A streams a run; only the one on A's instance hears A's thread."""
    heard = {"shared": [], "own": []}
    shared = connect(host=VMS["redis1"], port=6379, username="lg_iso_b", password=STATE["password_b"])
    mine = connect(STATE["uri_a"])
    stop = threading.Event()

    def listen(client, where):
        pubsub = client.pubsub()
        pubsub.psubscribe("lg:*")
        while not stop.is_set():
            message = pubsub.get_message(timeout=0.5)
            if message and message["type"] == "pmessage":
                heard[where].append(message["channel"])
        pubsub.close()
    listeners = [threading.Thread(target=listen, args=(shared, "shared")),
                 threading.Thread(target=listen, args=(mine, "own"))]
    for listener in listeners:
        listener.start()
    time.sleep(1)
    sdk = get_sync_client(url=URL, timeout=60)
    thread = sdk.threads.create()["thread_id"]
    chunks = list(sdk.runs.stream(thread, "agent", input={"message": "private", "sleep_s": 1},
                                  stream_mode=["custom", "values"]))
    time.sleep(1)
    stop.set()
    for listener in listeners:
        listener.join()
    assert chunks
    assert [c for c in heard["own"] if thread in c], heard["own"][:5]
    assert [c for c in heard["shared"] if thread in c] == []


def test_moving_between_the_modes_is_refused():
    result = playbook("stores.yml", check=False, extra_vars=variables(A, redis_isolation="shared",
                                                                      redis_maxmemory=None))
    assert result.returncode != 0
    assert "has redis_isolation: instance (its Redis data is there) and cannot move to shared" in result.stdout
    assert allocation(A)[0].startswith(f"{VMS['redis1']}:{STATE['port']}|")


def test_delete_with_purge_removes_the_unit_and_its_data():
    playbook("delete.yml", extra_vars=dict(variables(A), purge=True))
    assert allocation(A) == []
    found = on_redis1(f"systemctl is-active langgraph-redis@{A}; systemctl is-enabled langgraph-redis@{A}; "
                      f"ls /etc/redis/langgraph/{A}.conf /etc/redis/langgraph/{A}.acl /var/lib/redis/langgraph/{A}; "
                      f"ss -ltn 'sport = :{STATE['port']}' | tail -n +2")
    assert found["stdout_lines"][:2] == ["inactive", "disabled"], found
    assert found["stderr"].count("cannot access") == 3, found["stderr"]
    with pytest.raises(redis.exceptions.ConnectionError):
        connect(STATE["uri_a"]).ping()
    # The shared instance kept B's data throughout.
    b = connect(host=VMS["redis1"], port=6379, username="lg_iso_b", password=STATE["password_b"])
    assert b.get("iso-canary") == "kept"
