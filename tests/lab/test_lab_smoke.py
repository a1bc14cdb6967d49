"""The lab is a real small fleet: five systemd VMs that Ansible reaches over
SSH, and app VMs whose own Docker engine pulls from the lab registry."""

import urllib.request
import uuid

from conftest import REGISTRY_FROM_HOST, REGISTRY_FROM_VMS, REPO, VMS, ansible, run


def test_every_vm_runs_systemd(lab):
    for vm in VMS:
        pid1 = run("docker", "exec", f"selfhost-lab-{vm}", "cat", "/proc/1/comm").stdout.strip()
        state = run("docker", "exec", f"selfhost-lab-{vm}", "systemctl", "is-system-running",
                    "--wait", check=False).stdout.strip()
        assert (pid1, state) == ("systemd", "running"), f"{vm}: PID 1 {pid1}, system {state}"


def test_ansible_reaches_every_vm_over_ssh(lab):
    results = ansible("all", "ansible.builtin.ping")
    assert sorted(results) == sorted(VMS)
    assert {host: r.get("ping") for host, r in results.items()} == {vm: "pong" for vm in VMS}


def test_app_vm_engine_pulls_from_lab_registry_and_serves(lab):
    token = uuid.uuid4().hex
    tag = f"lab-smoke:{token[:12]}"
    run("docker", "build", "-q", "--build-arg", f"TOKEN={token}", "-t", f"{REGISTRY_FROM_HOST}/{tag}",
        str(REPO / "tests" / "lab" / "smoke-image"))
    run("docker", "push", f"{REGISTRY_FROM_HOST}/{tag}")
    name = f"smoke-{token[:12]}"
    try:
        started = ansible("app1", "ansible.builtin.command",
                          f"docker run -d --name {name} -p 18080:8080 {REGISTRY_FROM_VMS}/{tag}",
                          become=True)
        assert started["app1"]["rc"] == 0, started["app1"]
        body = None
        for dummy in range(50):
            try:
                with urllib.request.urlopen(f"http://{VMS['app1']}:18080/token.txt", timeout=2) as answer:
                    body = answer.read().decode().strip()
                break
            except OSError:
                run("sleep", "0.2")
        assert body == token
    finally:
        ansible("app1", "ansible.builtin.shell",
                f"docker rm -f {name}; docker rmi {REGISTRY_FROM_VMS}/{tag}", become=True, check=False)
        run("docker", "rmi", f"{REGISTRY_FROM_HOST}/{tag}", check=False)
