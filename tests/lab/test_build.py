"""Deployments from application source (docs/build.md), on the lab with the
real server: lab/sample-app (langgraph.json, a graph without LLM, one extra
dependency) built on app1 with langgraph-cli on the lab's open base image,
pushed to the lab registry, rolled out behind HAProxy. The tests run in file
order, each building on the state the previous one left."""

import shutil
import subprocess
import time

import pytest
from langgraph_sdk import get_sync_client

from conftest import REGISTRY_FROM_VMS, REPO, VMS, ansible, playbook, vm_sql
from load import Load

NAME = "srcapp"
PORT = 8350
URL = f"http://{VMS['lb1']}:{PORT}"
BUILD_VARS = dict(langgraph_build_registry=REGISTRY_FROM_VMS,
                  langgraph_build_base_image=REGISTRY_FROM_VMS + "/langgraph-open-base",
                  deploy_health_timeout=150)
STATE = {}


def entry(source):
    return dict(name=NAME, source=source, type="production", min_replicas=1, max_replicas=1, lb_port=PORT,
                migrate_command=["migrate"])


def deploy(source, check=True):
    return playbook("deploy.yml", check=check,
                    extra_vars=dict(BUILD_VARS, langgraph_deployments=[entry(source)], deployment=NAME))


def set_version(app, version):
    graph = app / "sample_app" / "graph.py"
    graph.write_text(graph.read_text().replace('VERSION = "s1"', f'VERSION = "{version}"'))


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=lab", "-c", "user.email=lab@example.invalid",
                           *args], check=True, capture_output=True, text=True).stdout.strip()


def serving():
    rows = vm_sql(f"SELECT number, image, image_digest, env->>'LANGGRAPH_APP_SOURCE' FROM revisions "
                  f"WHERE deployment = '{NAME}' AND status = 'deployed'", "langgraph_control")
    number, image, digest, source = rows[0].split("|")
    return dict(number=int(number), image=image, digest=digest, source=source)


def answer(message="hi"):
    return get_sync_client(url=URL, timeout=60).runs.wait(None, "agent", input={"message": message, "sleep_s": 1})


def images_on_app_hosts():
    found = ansible("langgraph_app", "ansible.builtin.command", "docker image ls --digests", become=True)
    return {host: set("%s@%s" % tuple(line.split()[0:3:2]) for line in r["stdout"].splitlines()[1:])
            for host, r in found.items()}


@pytest.fixture(scope="module", autouse=True)
def clean_slate(lab, tmp_path_factory):
    app = tmp_path_factory.mktemp("build") / "sample-app"
    shutil.copytree(REPO / "lab" / "sample-app", app)
    # Content never built before, so that each run builds (the registry keeps every earlier run's images).
    (app / "sample_app" / "run_marker.py").write_text(f"# {time.time()}\n")
    STATE["app"] = app
    playbook("delete.yml", extra_vars=dict(langgraph_deployments=[entry({"path": str(app)})], deployment=NAME,
                                           purge=True))
    yield
    playbook("delete.yml", extra_vars=dict(langgraph_deployments=[entry({"path": str(app)})], deployment=NAME,
                                           purge=True))


def revisions():
    return vm_sql(f"SELECT count(*) FROM revisions WHERE deployment = '{NAME}'", "langgraph_control")


def test_bad_source_is_refused_before_anything_changes():
    empty = STATE["app"].parent / "not-an-app"
    empty.mkdir()
    before = revisions()
    result = deploy({"path": str(empty)}, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "has no langgraph.json" in output and "nothing was built or changed" in output, output[-2000:]
    assert revisions() == before


def test_directory_source_builds_and_serves_through_haproxy():
    result = deploy({"path": str(STATE["app"])})
    assert "Build the images of the deployments given as source] ***\nchanged: [app1]" in result.stdout, result.stdout
    result = answer("hello")
    # humanize, the app's extra dependency, spelt sleep_s out.
    assert (result["echo"], result["version"], result["words"]) == ("hello", "s1", "a second")
    revision = serving()
    assert revision["image"].startswith(f"{REGISTRY_FROM_VMS}/{NAME}:src-")
    assert revision["image"].endswith("@" + revision["digest"]) and revision["digest"].startswith("sha256:")
    assert revision["source"].startswith("dir sha256:")
    STATE["first"] = revision
    STATE["old_image"] = revision["image"].split(":src-")[0] + "@" + revision["digest"]
    STATE["old_hosts"] = {host for host, images in images_on_app_hosts().items() if STATE["old_image"] in images}
    assert STATE["old_hosts"]


def test_unchanged_source_builds_nothing_and_makes_no_revision():
    result = deploy({"path": str(STATE["app"])})
    assert "Build the images of the deployments given as source] ***\nok: [app1]" in result.stdout, result.stdout
    assert serving() == STATE["first"]


def test_code_change_from_git_rolls_out_under_load_and_old_image_stays():
    repo = STATE["app"].parent / "repo"
    shutil.copytree(STATE["app"], repo)
    set_version(repo, "s2")
    subprocess.run(["git", "init", "--quiet", "-b", "main", str(repo)], check=True)
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "s2")
    commit = git(repo, "rev-parse", "HEAD")
    with Load(URL, threads=2, max_requests=20000, max_seconds=400) as load:
        deploy({"git": f"file://{repo}", "ref": "main"})
        switched = time.time()
        time.sleep(3)
    assert load.failures == [], load.summary()
    assert load.versions_after(switched + 1) == {"s2"}, load.summary()
    revision = serving()
    assert revision["number"] > STATE["first"]["number"]
    assert revision["source"] == f"git file://{repo}@{commit}"
    # Kept where it ran, for a rollback without the registry.
    kept = {host for host, images in images_on_app_hosts().items() if STATE["old_image"] in images}
    assert kept >= STATE["old_hosts"], (kept, STATE["old_hosts"])
    STATE["second"] = revision


def test_uninstallable_dependency_fails_the_build_and_serving_revision_keeps_serving():
    set_version(STATE["app"], "s3")
    with open(STATE["app"] / "requirements.txt", "a") as handle:
        handle.write("selfhost-langgraph-no-such-package==9.9.9\n")
    result = deploy({"path": str(STATE["app"])}, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"for deployment {NAME} failed" in output and "nothing was pushed or rolled out" in output, output[-3000:]
    assert "selfhost-langgraph-no-such-package" in output, output[-3000:]
    assert serving() == STATE["second"]
    assert answer()["version"] == "s2"
