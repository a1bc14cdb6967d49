"""The floating client address in front of the lab's two load balancers
(roles/keepalived, docs/edge.md "One address in front of them").

`make lab` runs keepalived on lb1 and lb2 (lab/inventory/group_vars/all.yml sets
langgraph_lb_vip, playbooks/site.yml applies the role): VRRP with unicast peers
on the lab's Docker bridge, nopreempt, HAProxy tracked. This machine is on the
bridge (.1), so it reaches the address as a client on the same network would.

The role alone, run again with the lab's variables, changes nothing; bad
input (an address without prefix, a router id out of range, a password too
long) is refused with one message naming each problem, no password shown and
no file changed.

The tests run in file order. Each failover is driven through systemd inside the
VM containers, as an operator or a crash would: keepalived stopped on the
holder, then HAProxy stopped on the holder (the track script lets the address
go). A paced probe counts the requests that fail during each move; the numbers
are printed (and written to VIP_REPORT=FILE as JSON), never asserted to be
zero: a move cuts the connections open on the old holder. What is asserted is
that the address moves, that it answers again, and that with nopreempt it
stays where it went when the other load balancer comes back.

Every test puts back what it stopped in a finally block; the module ends with
keepalived and HAProxy running on both load balancers and the address on lb1."""

import json
import os
import re
import threading
import time
import urllib.error
import urllib.request

import pytest

from conftest import INVENTORY, REPO, run

VIP = "172.30.213.100"
# The demo deployment `make lab` rolls out, served on port 8123 by both load balancers.
URL = f"http://{VIP}:8123/ok"
LBS = ("lb1", "lb2")
DEADLINE = 90  # seconds; generous, a loaded 2-core machine
REPORT = {}


def vm(lb, *command, check=True):
    return run("docker", "exec", f"selfhost-lab-{lb}", *command, check=check)


def holders():
    """The load balancers that have the address on an interface."""
    found = []
    for lb in LBS:
        out = vm(lb, "ip", "-4", "-o", "addr", "show").stdout
        if re.search(rf"\binet {re.escape(VIP)}/", out):
            found.append(lb)
    return found


def active(lb, unit):
    return vm(lb, "systemctl", "is-active", unit, check=False).stdout.strip() == "active"


def answers(timeout=3):
    try:
        with urllib.request.urlopen(URL, timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def wait_for(what, predicate, deadline=DEADLINE, step=0.2):
    """Seconds until predicate() was true; fails naming what did not happen."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > deadline:
            pytest.fail(f"{what}: not within {deadline} s (holders {holders()})")
        time.sleep(step)
    return time.monotonic() - start


def journal_cursor(lb):
    """Where keepalived's journal on lb ends now (None while it is empty)."""
    out = vm(lb, "journalctl", "-u", "keepalived", "-n", "1", "--show-cursor", "--no-pager", "-o", "cat").stdout
    found = re.search(r"^-- cursor: (\S+)", out, re.M)
    return found.group(1) if found else None


def vrrp_states_after(lb, cursor):
    """The VRRP states keepalived on lb entered after the journal cursor given, in order."""
    log = vm(lb, "journalctl", "-u", "keepalived", "--no-pager", "-o", "cat",
             *([f"--after-cursor={cursor}"] if cursor else [])).stdout
    return re.findall(r"\(LANGGRAPH_LB\) Entering (\w+) STATE", log)


def start_keepalived_as_backup(lb):
    """Starts keepalived on lb and waits until it is a backup, ready to take over."""
    cursor = journal_cursor(lb)
    vm(lb, "systemctl", "start", "keepalived")
    wait_for(f"keepalived on {lb} became a backup", lambda: vrrp_states_after(lb, cursor)[-1:] == ["BACKUP"])


def move_to(lb):
    """Puts the address on lb (the other one's keepalived stopped and started again) and both ready."""
    for other in LBS:
        if not active(other, "keepalived"):
            start_keepalived_as_backup(other)
    current = holders()
    if current == [lb]:
        return
    other = next(name for name in LBS if name != lb)
    vm(other, "systemctl", "stop", "keepalived")
    try:
        wait_for(f"the address moved to {lb}", lambda: holders() == [lb] and answers())
    finally:
        start_keepalived_as_backup(other)


class Probe:
    """Paced GETs of the demo deployment through the address, until stopped (at most `limit`)."""

    def __init__(self, pause=0.1, limit=3000):
        self.pause, self.limit = pause, limit
        self.ok = self.failed = 0
        self.failures = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self):
        for dummy in range(self.limit):
            if self._stop.is_set():
                return
            if answers(timeout=2):
                self.ok += 1
            else:
                self.failed += 1
                self.failures.append(time.monotonic())
            time.sleep(self.pause)

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=30)
        window = self.failures[-1] - self.failures[0] if self.failures else 0.0
        return {"ok": self.ok, "failed": self.failed, "failing_for_s": round(window, 2)}


ROLE_PLAYBOOK = """
- name: The keepalived role alone, as playbooks/site.yml runs it
  hosts: langgraph_lb
  become: true
  tasks:
    - name: Run keepalived
      ansible.builtin.include_role:
        name: selfhost.langgraph.keepalived
      vars:
        keepalived_vip: "{{ langgraph_lb_vip }}"
"""


def role(tmp_path, *args):
    """Runs the keepalived role (only) on the load balancers with the lab's variables and args."""
    book = tmp_path / "keepalived.yml"
    book.write_text(ROLE_PLAYBOOK)
    return run("ansible-playbook", "-i", str(INVENTORY), str(book), *args, check=False, cwd=REPO)


def configurations():
    return {lb: vm(lb, "cat", "/etc/keepalived/keepalived.conf", "/etc/keepalived/vrrp-auth.conf").stdout for lb in LBS}


def report(name, **numbers):
    REPORT[name] = numbers
    print(f"\n{name}: {json.dumps(numbers)}")
    if os.environ.get("VIP_REPORT"):
        with open(os.environ["VIP_REPORT"], "w", encoding="utf-8") as handle:
            json.dump(REPORT, handle, indent=2)


@pytest.fixture(scope="module", autouse=True)
def keepalived_on_both(lab):
    for lb in LBS:
        if vm(lb, "test", "-s", "/etc/keepalived/keepalived.conf", check=False).returncode != 0:
            pytest.fail(f"keepalived is not set up on {lb}: run `make lab` (site.yml applies the keepalived role "
                        "with langgraph_lb_vip from lab/inventory/group_vars/all.yml)")
    # Another suite may have stopped HAProxy on a load balancer a moment ago (test_edge.py does).
    for lb in LBS:
        wait_for(f"HAProxy active on {lb}", lambda lb=lb: active(lb, "haproxy"))
    try:
        for lb in LBS:
            if not active(lb, "keepalived"):
                start_keepalived_as_backup(lb)
        yield
    finally:
        for lb in LBS:
            vm(lb, "systemctl", "start", "haproxy", check=False)
            vm(lb, "systemctl", "start", "keepalived", check=False)
        wait_for("one load balancer holds the address", lambda: len(holders()) == 1 and answers())
        move_to("lb1")


def test_the_role_changes_nothing_when_run_again(tmp_path):
    result = role(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    recap = re.findall(r"^(lb[12]) +: ok=\d+ +changed=(\d+)", result.stdout, re.M)
    assert sorted(recap) == [("lb1", "0"), ("lb2", "0")], result.stdout
    assert "lab-vrrp" not in result.stdout + result.stderr  # the lab's VRRP password


def test_bad_input_is_refused_before_any_change(tmp_path):
    before = configurations()
    result = role(tmp_path, "-e", json.dumps({"langgraph_lb_vip": "172.30.213.100", "keepalived_virtual_router_id": 300,
                                              "keepalived_auth_pass": "much-too-long-pw"}))
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "keepalived_vip 172.30.213.100 has no prefix" in out
    assert "keepalived_virtual_router_id must be a number from 1 to 255" in out
    assert "keepalived_auth_pass has 16 characters" in out
    assert "much-too-long-pw" not in out and "lab-vrrp" not in out
    assert configurations() == before


def test_one_load_balancer_holds_the_address_and_it_answers():
    wait_for("one load balancer holds the address", lambda: len(holders()) == 1)
    assert answers()
    move_to("lb1")
    assert holders() == ["lb1"]
    assert answers()


def test_keepalived_stopped_on_the_holder_moves_the_address_and_it_stays():
    move_to("lb1")
    probe = Probe()
    try:
        time.sleep(1)
        vm("lb1", "systemctl", "stop", "keepalived")
        moved = wait_for("the address moved to lb2 and answers", lambda: holders() == ["lb2"] and answers())
        time.sleep(2)
    finally:
        numbers = probe.stop()
        start_keepalived_as_backup("lb1")
    report("keepalived stopped on lb1", seconds_until_answered_on_lb2=round(moved, 2), **numbers)
    # nopreempt: lb1 is back as a backup (higher priority), the address stays on lb2.
    time.sleep(3)
    assert holders() == ["lb2"]
    assert answers()


def test_haproxy_stopped_on_the_holder_moves_the_address():
    move_to("lb1")
    wait_for("HAProxy active on lb1", lambda: active("lb1", "haproxy"))
    cursor = journal_cursor("lb1")
    probe = Probe()
    stopped_for = None
    try:
        time.sleep(1)
        start = time.monotonic()
        vm("lb1", "systemctl", "stop", "haproxy")
        try:
            moved = wait_for("the address moved to lb2 and answers", lambda: holders() == ["lb2"] and answers())
        finally:
            vm("lb1", "systemctl", "start", "haproxy")
            stopped_for = time.monotonic() - start
        time.sleep(2)
    finally:
        numbers = probe.stop()
        vm("lb1", "systemctl", "start", "haproxy", check=False)
    report("HAProxy stopped on lb1", seconds_until_answered_on_lb2=round(moved, 2),
           haproxy_stopped_for_s=round(stopped_for, 2), **numbers)
    assert active("lb1", "haproxy")
    # The track script put lb1 in FAULT; it leaves FAULT once its check passes again and stays a backup (nopreempt).
    wait_for("lb1 back as a backup", lambda: vrrp_states_after("lb1", cursor)[-1:] == ["BACKUP"])
    assert "FAULT" in vrrp_states_after("lb1", cursor)
    assert holders() == ["lb2"]
    assert answers()
