"""The idle reaper in the lab, with the days shortened to seconds: one
webhook notification per idle period (a receiver in this process records
what it gets), check mode lists and sends nothing, a request resets the
count, reap_keep survives, and a deployment is deleted only with
reap_delete: true and only after its backup is recorded.

BACKUP_CONTROL_DATABASE runs against another control database, as in
test_backup.py."""

import http.server
import json
import os
import sys
import threading
import time
import urllib.request

import pytest

from conftest import REGISTRY_FROM_VMS, VMS, playbook, run, vm_sql

IDLE, KEPT = "bk-idle", "bk-keep"
PORTS = {IDLE: 8197, KEPT: 8198}
CONTROL = os.environ.get("BACKUP_CONTROL_DATABASE", "")
DAY = 86400.0
NOTIFY_S, DELETE_S = 8, 20


def entry(name):
    return dict(name=name, image=REGISTRY_FROM_VMS + "/langgraph-demo:v1", type="development", lb_port=PORTS[name],
                migrate_command=["migrate"], env={"LOG_LEVEL": "INFO"})


def variables(**extra):
    found = {"langgraph_deployments": [entry(IDLE), entry(KEPT)], "deploy_health_timeout": 150}
    if CONTROL:
        found["postgres_control_database"] = CONTROL
    found.update(extra)
    return found


def control_sql(query):
    return vm_sql(query, CONTROL or "langgraph_control")


class Receiver(http.server.BaseHTTPRequestHandler):
    got = []

    def do_POST(self):  # pylint: disable=invalid-name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Receiver.got.append(json.loads(body))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):  # pylint: disable=arguments-differ
        pass


@pytest.fixture(scope="module")
def webhook():
    server = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()


def clean():
    for name in (IDLE, KEPT):
        try:
            recorded = control_sql(f"SELECT 1 FROM deployments WHERE name = '{name}' AND postgres_database IS NOT NULL")
        except AssertionError:  # a control database of our own that was never migrated
            recorded = []
        if recorded:
            playbook("delete.yml", check=False, extra_vars=variables(deployment=name, purge=True))
    run("docker", "exec", "selfhost-lab-pg1", "rm", "-rf", f"/var/backups/selfhost-langgraph/{IDLE}",
        f"/var/backups/selfhost-langgraph/{KEPT}")
    if control_sql("SELECT to_regclass('deployment_usage') IS NOT NULL") == ["t"]:
        control_sql(f"DELETE FROM deployment_usage WHERE deployment IN ('{IDLE}', '{KEPT}')")
        control_sql(f"DELETE FROM backups WHERE deployment IN ('{IDLE}', '{KEPT}')")


@pytest.fixture(scope="module")
def deployed(lab):
    if CONTROL and not vm_sql(f"SELECT 1 FROM pg_database WHERE datname = '{CONTROL}'"):
        vm_sql(f"CREATE DATABASE {CONTROL} OWNER langgraph_admin")
    clean()
    for name in (IDLE, KEPT):
        playbook("deploy.yml", extra_vars=variables(deployment=name))
    yield
    clean()


def reap(url, *args, check=True, **extra):
    result = playbook("reap.yml", *args, check=check, extra_vars=variables(
        reap_webhook_url=url, reap_notify_days=NOTIFY_S / DAY, reap_delete_days=DELETE_S / DAY, reap_keep=[KEPT],
        **extra))
    result.text = result.stdout + result.stderr
    decided = [line.strip() for line in result.stdout.splitlines() if "msg: 'bk-" in line]
    sys.stdout.write("\n[reap %s] %s" % (time.strftime("%H:%M:%S"), "; ".join(decided)))
    return result


def test_notify_once_reset_by_a_request_delete_only_with_reap_delete_after_a_backup(deployed, webhook):
    reap(webhook)                                   # the first look: both are new, idle from now
    time.sleep(NOTIFY_S + 1)
    listed = reap(webhook, "--check")
    assert f"{IDLE}: notify" in listed.text and f"{KEPT}: keep" in listed.text
    assert Receiver.got == []                       # check mode sends nothing

    reap(webhook)
    assert [m["deployment"] for m in Receiver.got] == [IDLE]
    assert Receiver.got[0]["text"].startswith(f"LangGraph deployment {IDLE} is idle")
    reap(webhook)                                   # the same idle period: not again
    assert len(Receiver.got) == 1

    with urllib.request.urlopen(f"http://{VMS['lb1']}:{PORTS[IDLE]}/ok", timeout=10) as answer:
        assert answer.status == 200
    used = reap(webhook)                            # the request resets the count
    assert f"{IDLE}: none" in used.text and len(Receiver.got) == 1

    time.sleep(DELETE_S + 1)
    kept = reap(webhook)                            # past the delete days, but reap_delete is off: told, kept
    assert [m["deployment"] for m in Receiver.got] == [IDLE, IDLE]
    assert vm_sql("SELECT 1 FROM pg_database WHERE datname = 'lg_bk_idle'") == ["1"]
    assert f"{IDLE}: notify" in kept.text and "reap_delete is off" in Receiver.got[-1]["text"]

    reap(webhook, reap_delete=True)
    assert Receiver.got[-1]["action"] == "delete"
    assert vm_sql("SELECT 1 FROM pg_database WHERE datname = 'lg_bk_idle'") == []
    assert control_sql(f"SELECT count(*) FROM backups WHERE deployment = '{IDLE}'") == ["1"]
    assert vm_sql("SELECT 1 FROM pg_database WHERE datname = 'lg_bk_keep'") == ["1"]
    assert control_sql(f"SELECT count(*) FROM backups WHERE deployment = '{KEPT}'") == ["0"]
