"""The playbooks as AWX runs them: ansible-runner (what AWX's job runner is)
runs the AWX project's wrapper playbooks (awx/playbooks/) with the extra vars
the job templates' surveys send. The job events show the outcome and the
changed counts and carry no secret; the artifacts carry the set_stats data
(revision numbers, status as JSON)."""

import json
import os

import pytest

from conftest import INVENTORY, REGISTRY_FROM_VMS, REPO

ansible_runner = pytest.importorskip("ansible_runner")

NAME = "awx-runner"
PORT = 8461
IMAGE = REGISTRY_FROM_VMS + "/langgraph-demo:{}"
SECRET = "awx-runner-secret-7f3a9c"
LAB_SECRETS = ("lab-admin-Pw:/@%#?&", "lab-redis-Pw:/@%#?&")


def inventory_vars():
    """What the AWX inventory would hold for this deployment (the lab's other deployments left out)."""
    return {"langgraph_deployments": [dict(name=NAME, image=IMAGE.format("v1"), type="development", lb_port=PORT,
                                           migrate_command=["migrate"], env={"LOG_LEVEL": "INFO"},
                                           secrets={"AWX_RUNNER_TOKEN": SECRET})],
            "deploy_health_timeout": 150}


def job(tmp_path, playbook, **survey):
    """One AWX-like job: the wrapper playbook, the lab inventory, the survey's answers as extra vars."""
    private = tmp_path / ("job-%s-%d" % (playbook, len(list(tmp_path.iterdir()))))
    private.mkdir()
    envvars = dict((k, v) for k, v in os.environ.items() if k.startswith("ANSIBLE_"))
    envvars.update(ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    runner = ansible_runner.run(private_data_dir=str(private), project_dir=str(REPO),
                                playbook="awx/playbooks/%s.yml" % playbook, inventory=str(INVENTORY),
                                extravars=dict(inventory_vars(), **survey), envvars=envvars, quiet=True,
                                timeout=600)
    events = list(runner.events)
    stats = [e for e in events if e["event"] == "playbook_on_stats"]
    assert stats, "no playbook_on_stats event"
    text = json.dumps(events) + "".join(e.get("stdout", "") for e in events)
    for secret in (SECRET,) + LAB_SECRETS:
        assert secret not in text, "a secret is in the job events of %s" % playbook
    return runner, stats[0]["event_data"], "\n".join(e.get("stdout", "") for e in events)


def ok(runner, stdout):
    assert (runner.status, runner.rc) == ("successful", 0), stdout[-4000:]


def test_deploy_status_rollback_through_ansible_runner(lab, tmp_path):
    try:
        runner, stats, stdout = job(tmp_path, "deploy", deployment=NAME, image="", type="", replicas=0)
        ok(runner, stdout)
        assert sum(stats["changed"].values()) > 0 and not stats["failures"]
        # Revision numbers go on after a purge (the history is kept), so the first one is whatever comes next.
        [first] = stats["artifact_data"]["langgraph_revisions"]
        assert (first["deployment"], first["status"], first["reason"]) == (NAME, "deployed", None)
        number = first["number"]

        # The survey's image rolls out a new revision.
        runner, stats, stdout = job(tmp_path, "deploy", deployment=NAME, image=IMAGE.format("v2"), type="",
                                    replicas=0)
        ok(runner, stdout)
        revisions = stats["artifact_data"]["langgraph_revisions"]
        assert [(r["number"], r["status"]) for r in revisions] == [(number + 1, "deployed")]

        runner, stats, stdout = job(tmp_path, "rollback", deployment=NAME, revision=number)
        ok(runner, stdout)
        assert sum(stats["changed"].values()) > 0
        revisions = stats["artifact_data"]["langgraph_revisions"]
        assert [(r["number"], r["status"]) for r in revisions] == [(number, "deployed")]

        runner, stats, stdout = job(tmp_path, "status", deployment=NAME, status_format="json")
        ok(runner, stdout)
        assert sum(stats["changed"].values()) == 0
        [status] = stats["artifact_data"]["langgraph_status"]["deployments"]
        assert (status["name"], status["serving_revision"], status["running_replicas"]) == (NAME, number, 1)
        assert [c["health"] for c in status["containers"] if c["revision"] == number] == [200]
        assert [r["image"].rsplit(":", 1)[-1] for r in status["revisions"]][:2] == ["v2", "v1"]
        assert '"serving_revision": %d' % number in stdout  # the JSON document is in the job's output too

        # Delete refuses without the name typed again, changing nothing.
        runner, stats, stdout = job(tmp_path, "delete", deployment=NAME, purge="true", confirm_deployment="nope")
        assert runner.status == "failed" and sum(stats["changed"].values()) == 0
        assert "answer confirm_deployment" in stdout
    finally:
        runner, stats, stdout = job(tmp_path, "delete", deployment=NAME, purge="true", confirm_deployment=NAME)
        ok(runner, stdout)
