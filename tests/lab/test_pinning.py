"""Revisions are pinned and rotate with their secrets (issue 10), in the lab
with the real server: a tag pushed again with other content changes nothing
that a revision runs (scale-up, rollback); a secret's new value makes a new
revision that rolls out under load with no failed request, and no value of
it reaches the control database."""

import json
import uuid

import pytest

from conftest import REGISTRY_FROM_HOST, REGISTRY_FROM_VMS, VMS, ansible, playbook, run, vm_sql
from load import Load

NAME = "pin-a"
PORT = 8180
TAG = "pin-" + uuid.uuid4().hex[:8]
FIRST_SECRET = "first-" + uuid.uuid4().hex
SECOND_SECRET = "second-" + uuid.uuid4().hex


def push(content, tag):
    """Pushes the lab image langgraph-demo:CONTENT to the lab registry again under TAG."""
    source, target = (f"{REGISTRY_FROM_HOST}/langgraph-demo:{t}" for t in (content, tag))
    run("docker", "pull", source)
    run("docker", "tag", source, target)
    run("docker", "push", target)


def variables(secret, **extra):
    entry = dict(name=NAME, image=f"{REGISTRY_FROM_VMS}/langgraph-demo:{TAG}", type="production",
                 min_replicas=1, max_replicas=4, lb_port=PORT, migrate_command=["migrate"],
                 secrets={"API_TOKEN": secret})
    return dict({"langgraph_deployments": [entry], "deployment": NAME, "deploy_health_timeout": 150}, **extra)


def fleet(name_of_playbook, secret, **extra):
    return playbook(name_of_playbook, extra_vars=variables(secret, **extra))


def served_versions(requests=6):
    with Load(f"http://{VMS['lb1']}:{PORT}", threads=1, max_requests=requests, max_seconds=60) as load:
        pass
    assert load.failures == [], load.summary()
    return {version for when, version in load.answers}


def running():
    """[(host, container, image, API_TOKEN value)] of the deployment's running containers."""
    found = []
    for host, result in sorted(ansible("langgraph_app", "selfhost.langgraph.app_host_info",
                                       f"deployments={NAME}", become=True).items()):
        for c in result.get("containers", []):
            if c["running"]:
                env = json.loads(run("docker", "exec", f"selfhost-lab-{host}", "docker", "inspect", c["name"],
                                     "--format", "{{json .Config.Env}}").stdout)
                token = [e.split("=", 1)[1] for e in env if e.startswith("API_TOKEN=")]
                found.append((host, c["name"], c["image"], token[0] if token else None))
    return found


def revisions():
    """{number: (status, image_digest)} of the deployment's revisions."""
    rows = vm_sql(f"SELECT number || '|' || status || '|' || coalesce(image_digest, '') FROM revisions "
                  f"WHERE deployment = '{NAME}' ORDER BY number", "langgraph_control")
    return dict((int(n), (status, digest)) for n, status, digest in (row.split("|") for row in rows))


@pytest.fixture
def clean():
    """No pin-a before the test (an earlier run may have stopped half-way) nor after it."""
    fleet("delete.yml", FIRST_SECRET, purge=True)
    yield
    fleet("delete.yml", FIRST_SECRET, purge=True)


def test_a_moved_tag_changes_nothing_a_revision_runs_and_a_new_secret_rolls_out(clean):
    push("v1", TAG)
    fleet("deploy.yml", FIRST_SECRET)
    first = max(revisions())
    status, first_digest = revisions()[first]
    assert status == "deployed" and first_digest.startswith("sha256:"), revisions()
    assert [image.endswith("@" + first_digest) for *_, image, _ in running()] == [True]
    assert served_versions() == {"v1"}

    # The tag now names other content: a re-run changes nothing, a scale-up runs the recorded digest.
    push("v2", TAG)
    before = running()
    fleet("deploy.yml", FIRST_SECRET)
    assert max(revisions()) == first and running() == before
    fleet("scale.yml", FIRST_SECRET, replicas=2)
    containers = running()
    assert len(containers) == 2 and all(image.endswith("@" + first_digest) for *_, image, _ in containers)
    assert served_versions() == {"v1"}

    # A new value of the secret: a new revision (resolving the tag now), rolled out under load.
    with Load(f"http://{VMS['lb1']}:{PORT}", threads=2, max_requests=2000, max_seconds=300) as load:
        fleet("deploy.yml", SECOND_SECRET)
    assert load.failures == [], load.summary()
    print(f"secret rotated under load: {load.summary()}")
    second = max(revisions())
    status, second_digest = revisions()[second]
    assert second > first and status == "deployed" and second_digest != first_digest
    assert {token for *_, token in running()} == {SECOND_SECRET}
    assert served_versions() == {"v2"}

    # A rollback runs the first revision's digest though the tag has moved. Its secret's old value is kept
    # nowhere, so it runs as a new revision: the first one's image and environment with today's value.
    fleet("rollback.yml", SECOND_SECRET, revision=first)
    third = max(revisions())
    assert third > second and revisions()[third] == ("deployed", first_digest), revisions()
    assert {(image.split("@")[-1], token) for *_, image, token in running()} == {(first_digest, SECOND_SECRET)}
    assert served_versions() == {"v1"}

    dump = run("docker", "exec", "selfhost-lab-pg1", "runuser", "-u", "postgres", "--",
               "pg_dump", "--data-only", "langgraph_control").stdout
    assert FIRST_SECRET not in dump and SECOND_SECRET not in dump
    assert "API_TOKEN" in dump  # the secret's name is recorded, not its value

    fleet("delete.yml", SECOND_SECRET, purge=True)
    assert running() == []
