"""TLS end to end (issue 10, part 5), in the lab with the real server: the
lab turns TLS on in the postgres and redis roles with certificates of its own
CA (lab/tls.yml), so a deployment's DATABASE_URI says sslmode=verify-full
with the CA the containers get read-only, and its REDIS_URI is rediss:// on
the TLS port with the CA and host-name checks. The deployment serves runs, a
stream and a background run through HAProxy; Postgres and Redis see its
connections arrive over TLS; and the server's own code, given the same URIs
and another CA, fails to connect to either (verification is real), while
with the fleet's CA it connects."""

import datetime
import json
import os
import pathlib

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from langgraph_sdk import get_sync_client

from conftest import INVENTORY, REGISTRY_FROM_VMS, VMS, ansible, playbook, run, vm_sql

NAME = "tls-a"
PORT = 8310
IMAGE = f"{REGISTRY_FROM_VMS}/langgraph-demo:v1"
CA_FILE = "/etc/selfhost-langgraph/tls/ca.crt"  # plugins/module_utils/uris.py CA_FILE
WRONG_CA = "/tmp/selfhost-langgraph-test-wrong-ca.crt"
# The server's own Redis start-up: the pool from REDIS_URI and its first PING.
REDIS_START = ("import asyncio; from langgraph_runtime_pg import redis_stream as r; "
               "asyncio.run(r.start_stream()); print('redis: connected')")


def variables(**extra):
    entry = dict(name=NAME, image=IMAGE, type="development", lb_port=PORT, migrate_command=["migrate"])
    return dict({"langgraph_deployments": [entry], "deployment": NAME, "deploy_health_timeout": 150}, **extra)


@pytest.fixture(scope="module")
def deployed(lab):
    """tls-a deployed from nothing, and removed with its stores afterwards."""
    playbook("delete.yml", extra_vars=variables(purge=True))
    try:
        playbook("deploy.yml", extra_vars=variables())
        yield containers()
    finally:
        playbook("delete.yml", extra_vars=variables(purge=True))
        run("docker", "exec", "selfhost-lab-app1", "rm", "-f", WRONG_CA, check=False)


def containers():
    """[(vm, docker inspect of the container)] of the deployment's running containers."""
    found = []
    for host, result in sorted(ansible("langgraph_app", "selfhost.langgraph.app_host_info",
                                       f"deployments={NAME}", become=True).items()):
        for c in result.get("containers", []):
            if c["running"]:
                inspect = run("docker", "exec", f"selfhost-lab-{host}", "docker", "inspect", c["name"]).stdout
                found.append((f"selfhost-lab-{host}", json.loads(inspect)[0]))
    return found


def environment(container):
    return dict(e.split("=", 1) for e in container["Config"]["Env"])


def test_the_uris_verify_and_the_ca_is_mounted_read_only(deployed):
    assert deployed, "no container of tls-a runs"
    for vm, container in deployed:
        env = environment(container)
        database, redis = env["DATABASE_URI"], env["REDIS_URI"]
        assert database.startswith("postgresql://lg_tls_a:") and f"@{VMS['pg1']}:5432/lg_tls_a?" in database
        assert database.endswith(f"?sslmode=verify-full&sslrootcert={CA_FILE}")
        assert redis.startswith("rediss://lg_tls_a:") and f"@{VMS['redis1']}:6380/" in redis
        assert redis.endswith(f"?ssl_cert_reqs=required&ssl_ca_certs={CA_FILE}&ssl_check_hostname=true")
        mounts = [(m["Source"], m["Destination"], m["RW"]) for m in container["Mounts"]]
        assert mounts == [(CA_FILE, CA_FILE, False)], (vm, mounts)


def test_runs_a_stream_and_a_background_run_through_haproxy(deployed):
    sdk = get_sync_client(url=f"http://{VMS['lb1']}:{PORT}", timeout=60)
    thread = sdk.threads.create()
    result = sdk.runs.wait(thread["thread_id"], "agent", input={"message": "over tls"})
    assert (result["echo"], result["count"]) == ("over tls", 1)
    chunks = list(sdk.runs.stream(thread["thread_id"], "agent", input={"message": "streamed", "sleep_s": 2},
                                  stream_mode=["custom", "values"]))
    assert len([c for c in chunks if c.event == "custom"]) >= 2, chunks
    assert [c.data for c in chunks if c.event == "values"][-1]["count"] == 2
    # A background run: queued in Postgres, its wake-up signalled through Redis.
    run_ = sdk.runs.create(thread["thread_id"], "agent", input={"message": "background"})
    assert sdk.runs.join(thread["thread_id"], run_["run_id"])["count"] == 3


def test_postgres_and_redis_see_the_servers_over_tls(deployed):
    rows = vm_sql("SELECT s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) "
                  "WHERE a.usename = 'lg_tls_a'")
    assert rows and set(rows) == {"t"}, rows
    with open(INVENTORY / "group_vars" / "all.yml", encoding="utf-8") as handle:
        redis_password = yaml.safe_load(handle)["redis_password"]
    clients = run("docker", "exec", "-e", "REDISCLI_AUTH", "selfhost-lab-redis1", "redis-cli", "--no-auth-warning",
                  "CLIENT", "LIST", env=dict(os.environ, REDISCLI_AUTH=redis_password)).stdout.splitlines()
    local = [field for line in clients if " user=lg_tls_a " in f" {line} "
             for field in line.split() if field.startswith("laddr=")]
    assert local and all(field.endswith(":6380") for field in local), local


def wrong_ca():
    """A CA certificate of another CA, in PEM: what a server must not trust."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not the fleet's CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def server_on_app1(uris, ca, *command):
    """Runs the deployment's image on app1 with its URIs (passed through the environment, never on a
    command line) and the CA file `ca` of app1 mounted where the URIs name it."""
    return run("docker", "exec", "-e", "DATABASE_URI", "-e", "REDIS_URI", "selfhost-lab-app1",
               "docker", "run", "--rm", "-e", "DATABASE_URI", "-e", "REDIS_URI", "-e", "MIGRATE_WAIT_S=0",
               "-v", f"{ca}:{CA_FILE}:ro", IMAGE, *command,
               check=False, env=dict(os.environ, **uris), timeout=180)


def test_another_ca_makes_the_server_fail_to_connect(deployed):
    env = environment(deployed[0][1])
    uris = dict(DATABASE_URI=env["DATABASE_URI"], REDIS_URI=env["REDIS_URI"])
    run("docker", "exec", "-i", "selfhost-lab-app1", "sh", "-c", f"cat > {WRONG_CA}", input=wrong_ca())

    postgres = server_on_app1(uris, WRONG_CA, "migrate")
    assert postgres.returncode == 1, postgres.stdout + postgres.stderr
    assert "certificate verify failed" in postgres.stderr, postgres.stderr
    redis = server_on_app1(uris, WRONG_CA, "python", "-c", REDIS_START)
    assert redis.returncode != 0 and "certificate verify failed" in redis.stderr, redis.stderr[-2000:]
    # With the fleet's CA the same Redis start-up connects (the deployment's migration and servers did the
    # same for Postgres): the CA made the difference.
    redis = server_on_app1(uris, CA_FILE, "python", "-c", REDIS_START)
    assert redis.returncode == 0 and "redis: connected" in redis.stdout, redis.stderr[-2000:]


def test_a_tls_key_never_shows_in_the_output(lab, tmp_path):
    """site.yml at -vvvv with --diff, in check mode, given Redis a new private key: the key task would
    change, and neither that key nor the installed ones appear in the output (the postgres role installs
    its key the same way; redis1 alone keeps the test short)."""
    key = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    path = tmp_path / "new.key"
    path.write_text(key)
    installed = [p.read_text() for p in (pathlib.Path(os.environ.get("LAB_STATE_DIR")
                                                      or "/var/lib/selfhost-langgraph-lab") / "tls").glob("*.key")]
    result = playbook("site.yml", "--check", "--diff", "-vvvv", "--limit", "redis1",
                      extra_vars=dict(redis_tls_key_src=str(path)))
    output = result.stdout + result.stderr
    shown = output.split("Install the private key (redis_tls_key_src)", 1)[1].split("TASK [", 1)[0]
    assert "changed: [redis1]" in shown and "censored:" in shown, shown
    lines = [line for text in [key] + installed for line in text.splitlines() if line and "-----" not in line]
    assert len(installed) >= 2 and lines
    assert [line for line in lines if line in output] == []
