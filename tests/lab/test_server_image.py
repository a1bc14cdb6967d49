"""The demo LangGraph API server image the lab builds (lab/build-app-images.sh)
keeps the contract the roll-out relies on: migrate mode, health, answers
that tell revisions apart, a revision that never becomes healthy, SIGTERM.

Self-contained: Postgres and Redis run in a throwaway container built from
the lab's base image, on a network of the test's own; the server containers
are reached at their addresses on that network, so no host port is used.
"""

import json
import os
import time
import urllib.error
import urllib.request
import uuid

import pytest

from conftest import REGISTRY_FROM_HOST, run

IMAGE = f"{REGISTRY_FROM_HOST}/langgraph-demo"
BASE_IMAGE = "local/debian12-systemd:1"
STORES_IMAGE = "selfhost-lab-test-stores:1"
STORES_DOCKERFILE = f"""FROM {BASE_IMAGE}
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \\
    --no-install-recommends postgresql redis-server >/dev/null && rm -rf /var/lib/apt/lists/*
"""
STORES_START = r"""
set -e
echo "listen_addresses = '*'" >> /etc/postgresql/15/main/postgresql.conf
echo "host all all 0.0.0.0/0 scram-sha-256" >> /etc/postgresql/15/main/pg_hba.conf
pg_ctlcluster 15 main start
su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'test'\""
for db in one two; do su postgres -c "createdb $db"; done
touch /tmp/ready
exec redis-server --bind 0.0.0.0 --requirepass test --save '' --appendonly no
"""


def http(url, body=None, timeout=10):
    """(status, text) of a GET, or a POST of `body` as JSON; status 0 when nothing answers."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()
    except (urllib.error.URLError, OSError):
        return 0, ""


def address(name, network):
    return run("docker", "inspect", "--format",
               f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}', name).stdout.strip()


def wait_healthy(base_url, seconds):
    """Seconds until /ok?check_db=1 answered 200, or None."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if http(f"{base_url}/ok?check_db=1", timeout=2)[0] == 200:
            return time.monotonic() - start
        time.sleep(0.2)
    return None


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    for tag in ("v1", "v2", "broken"):
        if run("docker", "image", "inspect", f"{IMAGE}:{tag}", check=False).returncode != 0:
            pytest.fail(f"{IMAGE}:{tag} is missing: run lab/build-app-images.sh {REGISTRY_FROM_HOST}")
    if run("docker", "image", "inspect", STORES_IMAGE, check=False).returncode != 0:
        context = tmp_path_factory.mktemp("stores")
        (context / "Dockerfile").write_text(STORES_DOCKERFILE)
        run("docker", "build", "-q", "-t", STORES_IMAGE, str(context), env=dict(os.environ, DOCKER_BUILDKIT="0"))
    token = uuid.uuid4().hex[:10]
    network = f"lgdemo-test-{token}"
    stores = f"lgdemo-test-stores-{token}"
    containers = [stores]
    run("docker", "network", "create", network)
    run("docker", "run", "-d", "--name", stores, "--network", network, "--entrypoint", "bash",
        STORES_IMAGE, "-c", STORES_START)
    for dummy in range(120):
        if run("docker", "exec", stores, "test", "-e", "/tmp/ready", check=False).returncode == 0:
            break
        time.sleep(0.5)
    else:
        pytest.fail("the test's Postgres did not start:\n" + run("docker", "logs", stores, check=False).stderr)

    class Env:
        def __init__(self):
            self.network = network
            self.stores = stores

        def uris(self, db):
            return ["-e", f"DATABASE_URI=postgresql://postgres:test@{stores}:5432/{db}",
                    "-e", f"REDIS_URI=redis://:test@{stores}:6379/0"]

        def migrate(self, tag, db):
            return run("docker", "run", "--rm", "--network", network, *self.uris(db),
                       f"{IMAGE}:{tag}", "migrate", check=False)

        def server(self, tag, db, *extra):
            name = f"lgdemo-test-{tag}-{uuid.uuid4().hex[:8]}"
            containers.append(name)
            run("docker", "run", "-d", "--name", name, "--network", network, *self.uris(db), *extra,
                f"{IMAGE}:{tag}")
            return name, f"http://{address(name, network)}:8000"

    yield Env()
    for name in containers:
        run("docker", "rm", "-f", name, check=False)
    run("docker", "network", "rm", network, check=False)


def test_migrate_mode_on_an_empty_database_and_again(env):
    first = env.migrate("v1", "one")
    assert first.returncode == 0, first.stderr
    assert "done" in first.stdout
    again = env.migrate("v2", "one")
    assert again.returncode == 0, again.stderr
    tables = run("docker", "exec", env.stores, "su", "postgres", "-c",
                 "psql -At -d one -c \"select count(*) from pg_tables where tablename in "
                 "('runs', 'threads', 'assistants', 'checkpoints', 'store')\"").stdout.strip()
    assert tables == "5"


def test_migrate_mode_without_a_database_fails_clearly(env):
    result = run("docker", "run", "--rm", f"{IMAGE}:v1", "migrate", check=False)
    assert result.returncode == 2
    assert "DATABASE_URI" in result.stderr


def test_v1_and_v2_serve_and_answer_with_their_version(env):
    assert env.migrate("v1", "one").returncode == 0
    for tag in ("v1", "v2"):
        name, url = env.server(tag, "one", "-e", "N_JOBS_PER_WORKER=2")
        took = wait_healthy(url, 90)
        assert took is not None, run("docker", "logs", name, check=False).stdout[-3000:]
        assert http(f"{url}/ok")[0] == 200
        status, metrics = http(f"{url}/metrics")
        assert status == 200 and "process_resident_memory_bytes" in metrics
        # The run goes to whichever replica's queue claims it: stop this one first.
        status, body = http(f"{url}/runs/wait", {"assistant_id": "agent", "input": {"message": "hi", "sleep_s": 1}}, timeout=60)
        assert status == 200, body
        answer = json.loads(body)
        assert (answer["echo"], answer["count"], answer["version"]) == ("hi", 1, tag)
        assert answer["slept_s"] >= 1
        started = time.monotonic()
        run("docker", "stop", "-t", "30", name)
        assert time.monotonic() - started < 20
        assert run("docker", "inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip() == "0"


def test_plain_ok_stays_up_while_postgres_is_down_check_db_does_not(env):
    assert env.migrate("v1", "two").returncode == 0
    name, url = env.server("v1", "two")
    assert wait_healthy(url, 90) is not None, run("docker", "logs", name, check=False).stdout[-3000:]
    run("docker", "exec", env.stores, "pg_ctlcluster", "15", "main", "stop", "-m", "fast")
    try:
        assert http(f"{url}/ok")[0] == 200
        assert http(f"{url}/ok?check_db=1", timeout=30)[0] == 500
    finally:
        run("docker", "exec", env.stores, "pg_ctlcluster", "15", "main", "start")
    assert wait_healthy(url, 30) is not None


def test_broken_never_becomes_healthy(env):
    name, url = env.server("broken", "one")
    assert wait_healthy(url, 25) is None
    assert http(f"{url}/ok")[0] != 200
    logs = run("docker", "logs", name, check=False)
    assert "broken on purpose" in logs.stdout + logs.stderr
