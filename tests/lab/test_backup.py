"""Backups and restores in the lab, with the real server through the SDK:
threads with state are backed up, the deployment is deleted with purge,
restored, and every thread and its state read back identical; a restore into
a new deployment name while the original keeps serving; bad requests
(unknown backup id, a taken name without force, a backup directory that
cannot be written) fail with a clear message and change nothing.

BACKUP_THREADS (default 1000) sets how many threads; BACKUP_CONTROL_DATABASE
runs against another control database (one of your own while the shared one
is at an older schema). Prints the backup and restore times and dump size."""

import concurrent.futures
import os
import re
import sys
import threading
import time

import pytest
from langgraph_sdk import get_sync_client

from conftest import REGISTRY_FROM_VMS, VMS, playbook, run, vm_sql

SOURCE, COPY = "bk-src", "bk-copy"
PORTS = {SOURCE: 8193, COPY: 8194}
THREADS = int(os.environ.get("BACKUP_THREADS", "1000"))
CONTROL = os.environ.get("BACKUP_CONTROL_DATABASE", "")
DIRECTORY = "/var/backups/selfhost-langgraph"


def entry(name):
    return dict(name=name, image=REGISTRY_FROM_VMS + "/langgraph-demo:v1", type="production", min_replicas=1,
                max_replicas=2, lb_port=PORTS[name], migrate_command=["migrate"], env={"LOG_LEVEL": "INFO"})


def variables(name, **extra):
    found = {"langgraph_deployments": [entry(SOURCE), entry(COPY)], "deployment": name, "deploy_health_timeout": 150}
    if CONTROL:
        found["postgres_control_database"] = CONTROL
    found.update(extra)
    return found


def fleet(name_of_playbook, name, *args, check=True, **extra):
    result = playbook(name_of_playbook, *args, check=check, extra_vars=variables(name, **extra))
    result.text = result.stdout + result.stderr
    return result


def control_sql(query):
    return vm_sql(query, CONTROL or "langgraph_control")


def backups(name):
    return [row.split("|") for row in control_sql(
        f"SELECT id, path, size, sha256 FROM backups WHERE deployment = '{name}' ORDER BY id")]


def client(name):
    return get_sync_client(url=f"http://{VMS['lb1']}:{PORTS[name]}", timeout=60)


def report(what, value):
    sys.stdout.write(f"\n[benchmark] {what}: {value}\n")


def seconds(pattern, text):
    found = re.search(pattern, text)
    return f"{found.group(1)} s" if found else "not printed"


def make_threads(name, count):
    """count threads with state: most written as a superstep of the graph at creation, some by a real run."""
    local = threading.local()

    def one(i):
        if not hasattr(local, "client"):
            local.client = client(name)
        c = local.client
        if i % 50 == 0:
            thread = c.threads.create(metadata={"n": i, "kind": "run"})
            c.runs.wait(thread["thread_id"], "agent", input={"message": f"run {i}"})
        else:
            c.threads.create(metadata={"n": i, "kind": "superstep"}, graph_id="agent", supersteps=[
                {"updates": [{"values": {"message": f"m{i}", "echo": f"m{i}", "count": i}, "as_node": "__start__"}]}])

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        list(pool.map(one, range(count)))


def snapshot(name):
    """{thread_id: (metadata, values, status)} of every thread, read through the SDK."""
    c, found, offset = client(name), {}, 0
    while True:
        page = c.threads.search(limit=500, offset=offset)
        for t in page:
            found[t["thread_id"]] = (t["metadata"], t["values"], t["status"])
        if len(page) < 500:
            return found
        offset += 500


def states(name, thread_ids):
    c = client(name)
    return dict((tid, c.threads.get_state(tid)["values"]) for tid in thread_ids)


def clean():
    for name in (SOURCE, COPY):
        try:
            recorded = control_sql(f"SELECT 1 FROM deployments WHERE name = '{name}' AND postgres_database IS NOT NULL")
        except AssertionError:  # a control database of our own that was never migrated
            recorded = []
        if recorded:
            fleet("delete.yml", name, check=False, purge=True)
    run("docker", "exec", "selfhost-lab-pg1", "rm", "-rf", f"{DIRECTORY}/{SOURCE}", f"{DIRECTORY}/{COPY}")
    if control_sql("SELECT to_regclass('backups') IS NOT NULL") == ["t"]:
        control_sql(f"DELETE FROM backups WHERE deployment IN ('{SOURCE}', '{COPY}')")


@pytest.fixture(scope="module")
def source(lab):
    if CONTROL and not vm_sql(f"SELECT 1 FROM pg_database WHERE datname = '{CONTROL}'"):
        vm_sql(f"CREATE DATABASE {CONTROL} OWNER langgraph_admin")
    clean()
    fleet("deploy.yml", SOURCE)
    started = time.time()
    make_threads(SOURCE, THREADS)
    report(f"{THREADS} threads with state created through the SDK", f"{time.time() - started:.1f} s")
    before = snapshot(SOURCE)
    assert len(before) == THREADS
    yield before
    clean()


def test_backup_delete_restore_reads_back_identical(source):
    sample = sorted(source)[:: max(1, THREADS // 40)]
    sample_states = states(SOURCE, sample)

    checked = fleet("backup.yml", SOURCE, "--check")
    assert f"would dump lg_bk_src of {SOURCE}" in checked.text and backups(SOURCE) == []

    started = time.time()
    backed = fleet("backup.yml", SOURCE)
    report(f"backup of {THREADS} threads (playbook)", f"{time.time() - started:.1f} s")
    report(f"pg_dump of {THREADS} threads", seconds(r"bytes\s+in\s+([0-9.]+)\s+s", backed.text))
    (made,) = backups(SOURCE)
    backup_id, path, size, _sum = made
    assert path == f"{DIRECTORY}/{SOURCE}/{backup_id}.dump"
    report(f"dump size for {THREADS} threads", f"{int(size) / 1024 / 1024:.2f} MiB")
    listed = run("docker", "exec", "selfhost-lab-pg1", "stat", "-c", "%s %a", path).stdout.split()
    assert listed == [size, "600"]

    fleet("delete.yml", SOURCE, purge=True)
    assert not vm_sql("SELECT 1 FROM pg_database WHERE datname = 'lg_bk_src'")

    started = time.time()
    restored = fleet("restore.yml", SOURCE)
    report(f"restore of {THREADS} threads after a purge (playbook, with the roll-out)", f"{time.time() - started:.1f} s")
    assert f"backup {backup_id} restored into lg_bk_src" in restored.text
    report(f"pg_restore and swap of {THREADS} threads", seconds(r"tables\)\s+in\s+([0-9.]+)\s+s", restored.text))
    after = snapshot(SOURCE)
    report("restore check", f"{len(after)} threads read back of {len(source)}, "
                            f"{sum(after[t] == source[t] for t in source)} identical")
    assert after == source
    assert states(SOURCE, sample) == sample_states


def test_restore_into_a_new_name_while_the_original_serves(source):
    stop, errors, served = threading.Event(), [], [0]

    def keep_reading():
        c = client(SOURCE)
        tid = sorted(source)[0]
        while not stop.is_set():
            try:
                c.threads.get(tid)
                served[0] += 1
            except Exception as e:  # pylint: disable=broad-except
                errors.append(repr(e))
            time.sleep(0.2)

    reader = threading.Thread(target=keep_reading)
    reader.start()
    try:
        started = time.time()
        fleet("restore.yml", SOURCE, into=COPY)
        report(f"restore of {THREADS} threads into a new deployment (playbook, with the roll-out)",
               f"{time.time() - started:.1f} s")
    finally:
        stop.set()
        reader.join()
    assert errors == [] and served[0] > 10
    assert snapshot(COPY) == source
    assert snapshot(SOURCE) == source


def test_bad_requests_change_nothing(source):
    before = backups(SOURCE)
    # An unknown backup id.
    bad = fleet("restore.yml", SOURCE, check=False, backup=987654)
    assert bad.returncode != 0 and f"there is no backup 987654 of {SOURCE}" in bad.text
    # A name that has a database, without force (the copy exists after the test above, or is made here).
    if not vm_sql("SELECT 1 FROM pg_database WHERE datname = 'lg_bk_copy'"):
        fleet("restore.yml", SOURCE, into=COPY)
    copy_revisions = control_sql(f"SELECT count(*) FROM revisions WHERE deployment = '{COPY}'")
    taken = fleet("restore.yml", SOURCE, check=False, into=COPY)
    assert taken.returncode != 0 and f"{COPY} already has a database" in taken.text and "force=true" in taken.text
    assert control_sql(f"SELECT count(*) FROM revisions WHERE deployment = '{COPY}'") == copy_revisions
    # A backup directory that cannot be written.
    unwritable = fleet("backup.yml", SOURCE, check=False, backup_directory="/proc/selfhost-backups")
    assert unwritable.returncode != 0 and "is not writable" in unwritable.text and "nothing was dumped" in unwritable.text
    assert backups(SOURCE) == before
    # A damaged dump is refused before the deployment stops.
    backup_id, path = before[-1][0], before[-1][1]
    run("docker", "exec", "selfhost-lab-pg1", "sh", "-c", f"cp {path} {path}.orig && echo x >> {path}")
    try:
        damaged = fleet("restore.yml", SOURCE, check=False, backup=backup_id)
        assert damaged.returncode != 0 and "does not match its recorded checksum" in damaged.text
        assert client(SOURCE).threads.get(sorted(source)[0])["thread_id"] == sorted(source)[0]
    finally:
        run("docker", "exec", "selfhost-lab-pg1", "mv", f"{path}.orig", path)
