"""Last use (issue 12) with the real server behind HAProxy: every reconcile
and autoscale tick records when a deployment was last used - a request
through the load balancer, or a run in its own database that never passed
the load balancer (as a cron's) - status shows it, and the idle reaper mails
its notification over SMTP once per idle period. The mail goes from the
control host (pg1) to a small SMTP receiver on lb1
(lab/smtp-receiver/receiver.py), which records what it gets and requires a
login. The tests run in file order, each building on the state the previous
one left."""

import email
import email.policy
import json
import secrets as random
import time
import urllib.request

import pytest
from langgraph_sdk import get_sync_client

from conftest import REGISTRY_FROM_VMS, VMS, playbook, run, vm_sql

NAME, PORT = "use-a", 8330
DATABASE = "lg_use_a"
RECEIVER_VM, RECEIVER_PORT = "selfhost-lab-lb1", 18933
PIDFILE = "/run/selfhost-lab-smtp-receiver.pid"
LOG = "/var/lib/selfhost-lab-smtp-receiver/messages.jsonl"
MAIL_PASSWORD = "smtp_" + random.token_hex(8)
DAY = 86400.0
NOTIFY_S = 6
STATE = {}


def fleet(**extra):
    found = {"langgraph_deployments": [dict(name=NAME, image=REGISTRY_FROM_VMS + "/langgraph-demo:v1",
                                            type="development", lb_port=PORT, migrate_command=["migrate"])],
             "deployment": NAME, "deploy_health_timeout": 150}
    found.update(extra)
    return found


def control_sql(query):
    return vm_sql(query, "langgraph_control")


def usage():
    """(last_used_at, last_run_at) as recorded, epochs (None when not)."""
    rows = control_sql("SELECT extract(epoch FROM last_used_at), coalesce(extract(epoch FROM last_run_at)::text, '') "
                       f"FROM deployment_usage WHERE deployment = '{NAME}'")
    if not rows:
        return None
    used, ran = rows[0].split("|")
    return float(used), (float(ran) if ran else None)


def receiver(command):
    return run("docker", "exec", RECEIVER_VM, "sh", "-c", command, check=False)


def mails():
    found = receiver(f"cat {LOG} 2>/dev/null").stdout
    return [json.loads(line) for line in found.splitlines() if line.strip()]


def stop_receiver():
    receiver(f"test -f {PIDFILE} && kill $(cat {PIDFILE}) 2>/dev/null; rm -f {PIDFILE} {LOG}")


def clean():
    if control_sql(f"SELECT 1 FROM deployments WHERE name = '{NAME}' AND postgres_database IS NOT NULL"):
        playbook("delete.yml", extra_vars=fleet(purge=True))
    if control_sql("SELECT to_regclass('deployment_usage') IS NOT NULL") == ["t"]:
        control_sql(f"DELETE FROM deployment_usage WHERE deployment = '{NAME}'")


@pytest.fixture(scope="module", autouse=True)
def deployed(lab):
    stop_receiver()
    receiver("mkdir -p /opt/selfhost-lab-smtp-receiver /var/lib/selfhost-lab-smtp-receiver")
    run("docker", "cp", str(lab.parent / "smtp-receiver" / "receiver.py"),
        f"{RECEIVER_VM}:/opt/selfhost-lab-smtp-receiver/receiver.py")
    run("docker", "exec", "-d", RECEIVER_VM, "sh", "-c",
        f"echo $$ > {PIDFILE}; exec python3 /opt/selfhost-lab-smtp-receiver/receiver.py --port {RECEIVER_PORT} "
        f"--log {LOG} --user reaper --password {MAIL_PASSWORD}")
    clean()
    playbook("deploy.yml", extra_vars=fleet())
    yield
    stop_receiver()
    clean()


def tick(name, check=True, **extra):
    result = playbook(name, check=check, extra_vars=fleet(**extra))
    result.text = result.stdout + result.stderr
    return result


def through_the_load_balancer():
    with urllib.request.urlopen(f"http://{VMS['lb1']}:{PORT}/ok", timeout=10) as answer:
        assert answer.status == 200


def container_url():
    """A running container's own address, past the load balancer."""
    for host in ("app1", "app2"):
        ports = run("docker", "exec", f"selfhost-lab-{host}", "docker", "ps", "--filter",
                    f"label=selfhost.langgraph.deployment={NAME}", "--format",
                    '{{.Label "selfhost.langgraph.port"}}').stdout.split()
        if ports:
            return f"http://{VMS[host]}:{ports[0]}"
    raise AssertionError(f"no container of {NAME} runs")


def status(status_format):
    return playbook("status.yml", extra_vars=fleet(status_format=status_format))


def test_a_tick_records_the_first_look_and_a_request_moves_it():
    tick("reconcile.yml")
    first = usage()
    assert first is not None, "the reconcile tick recorded nothing"
    through_the_load_balancer()
    time.sleep(1)
    tick("autoscale.yml", autoscale_window=1, autoscale_samples=2)
    second = usage()
    assert second[0] > first[0] + 0.5, (first, second)
    STATE["requested"] = second[0]


def test_a_run_that_never_passed_the_load_balancer_is_use_too():
    sdk = get_sync_client(url=container_url(), timeout=60)
    thread = sdk.threads.create()
    assert sdk.runs.wait(thread["thread_id"], "agent", input={"message": "past the balancer"})["echo"] == \
        "past the balancer"
    [created] = vm_sql("SELECT extract(epoch FROM max(created_at)) FROM runs", DATABASE)
    time.sleep(2)
    tick("reconcile.yml")
    used, ran = usage()
    # The run's own time, not the tick's: the load balancer saw no request.
    assert ran == pytest.approx(float(created), abs=0.01) and used == ran, (used, ran, created)
    assert used > STATE["requested"]
    STATE["ran"] = ran


def test_status_shows_last_used():
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(STATE["ran"])))
    text = status("text")
    assert f"last used: {iso} (" in text.stderr, text.stderr[-3000:]
    [mine] = json.loads(status("json").stderr.strip().splitlines()[-1])["deployments"]
    assert mine["last_used"]["at"] == iso and mine["last_used"]["last_run_at"] == iso
    assert mine["last_used"]["idle_seconds"] >= 0


def reap(check=True, **extra):
    mail = {"reap_mail_host": VMS["lb1"], "reap_mail_port": RECEIVER_PORT, "reap_mail_starttls": False,
            "reap_mail_user": "reaper", "reap_mail_password": MAIL_PASSWORD, "reap_mail_from": "reaper@lab.test",
            "reap_mail_to": ["owners@lab.test", "oncall@lab.test"]}
    mail.update(extra)
    result = tick("reap.yml", check=check, reap_notify_days=NOTIFY_S / DAY, reap_delete_days=4 * NOTIFY_S / DAY, **mail)
    assert MAIL_PASSWORD not in result.text, "the mail password was printed"
    return result


def test_the_reaper_mails_once_per_idle_period():
    bad = reap(check=False, reap_mail_from="")
    assert bad.returncode != 0
    assert "the sender '' is not an address like reaper@example.com (reap_mail_from)" in bad.text, bad.text[-3000:]
    assert control_sql(f"SELECT notified_at IS NULL FROM deployment_usage WHERE deployment = '{NAME}'") == ["t"]

    time.sleep(max(0, STATE["ran"] + NOTIFY_S + 1 - time.time()))
    reap()
    [mail] = mails()
    assert (mail["user"], mail["mail_from"], mail["rcpt_to"]) == ("reaper", "reaper@lab.test",
                                                                  ["owners@lab.test", "oncall@lab.test"])
    message = email.message_from_string(mail["message"], policy=email.policy.default)
    assert message["Subject"] == f"LangGraph deployment {NAME} is idle"
    text = " ".join(message.get_content().split())
    assert text.startswith(f"LangGraph deployment {NAME} is idle: unused for") and "reap_delete is off" in text
    reap()                                          # the same idle period: not again
    assert len(mails()) == 1
