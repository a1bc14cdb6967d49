"""The HTTPS edge on the lab's load balancers: the fleet CA's certificate,
deployments told apart by host name on 443, an unknown host name answered 404,
a roll-out under load over HTTPS, and bad host names refused before any change.
The tests run in file order, each building on the state the previous one left.

The lab has no DNS for its host names: the test process resolves
*.edge.lab.test (and bee.other.lab.test) to both load balancers, as a
round-robin DNS record would (docs/edge.md), the first answer alternating;
a client that cannot connect to the first tries the next. Everything else is
the real path (TLS, SNI, HAProxy, servers)."""

import base64
import http.client
import itertools
import json
import os
import pathlib
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest
from langgraph_sdk import get_sync_client

from conftest import INVENTORY, REGISTRY_FROM_VMS, REPO, VMS, ansible, playbook, run
from load import Load

DOMAIN = "edge.lab.test"
A, B = "edge-a", "edge-b"
B_HOST = "bee.other.lab.test"
IMAGE = REGISTRY_FROM_VMS + "/langgraph-demo:{}"
LBS = [VMS["lb1"], VMS["lb2"]]
STATE = {}
# The deploy runs read whether the load balancers have the edge from their inventory variables, as a real
# inventory's langgraph_lb group vars say it; the lab's inventory leaves it off and the fixture turns it on.
EDGE_ON = dict(haproxy_edge_enabled=True)

_real_getaddrinfo = socket.getaddrinfo
_turn = itertools.count()


def _lab_dns(host, *args, **kwargs):
    if isinstance(host, str) and (host.endswith("." + DOMAIN) or host == B_HOST):
        first = next(_turn) % len(LBS)
        return [answer for address in LBS[first:] + LBS[:first]
                for answer in _real_getaddrinfo(address, *args, **kwargs)]
    return _real_getaddrinfo(host, *args, **kwargs)


def edge_requests():
    """{lb: requests its HTTPS frontend has taken}."""
    found = ansible("langgraph_lb", "ansible.builtin.shell",
                    "echo 'show stat -1 1 -1' | socat stdio /run/haproxy/admin.sock | grep '^fe_edge,'",
                    become=True)
    return {lb: int(r["stdout"].split(",")[7]) for lb, r in found.items()}


def entries(a_tag="v1", **extra_a):
    a = dict(name=A, image=IMAGE.format(a_tag), type="production", min_replicas=2, max_replicas=2,
             lb_port=8340, migrate_command=["migrate"])
    a.update(extra_a)
    b = dict(name=B, image=IMAGE.format("v2"), type="development", lb_port=8341, migrate_command=["migrate"],
             hostname=B_HOST)
    return [a, b]


def run_deploy(name, deployments, book="deploy.yml", check=True, **more):
    """Runs book on the deployment named, or on every one listed (name None)."""
    extra = dict(dict(langgraph_deployments=deployments, langgraph_domain=DOMAIN, deploy_health_timeout=150, **EDGE_ON),
                 **more)
    if name:
        extra["deployment"] = name
    return playbook(book, check=check, extra_vars=extra)


def delete_both():
    for name in (A, B):
        run_deploy(name, entries(), "delete.yml", purge=True)


def url(host):
    return f"https://{host}"


def get(address):
    try:
        with urllib.request.urlopen(address, timeout=20) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def route_map(lb="lb1"):
    found = ansible(lb, "ansible.builtin.slurp", "src=/etc/haproxy/langgraph-hosts.map", become=True)
    return base64.b64decode(found[lb]["content"]).decode()


@pytest.fixture(scope="module", autouse=True)
def edge(lab, tmp_path_factory):
    ca_dir = tmp_path_factory.mktemp("fleet-ca")
    playbook("site.yml", "--limit", "langgraph_lb", extra_vars=dict(
        haproxy_edge_enabled=True, haproxy_edge_fleet_ca=True, haproxy_edge_fleet_ca_dir=str(ca_dir),
        haproxy_edge_fleet_ca_names=[B_HOST], langgraph_domain=DOMAIN))
    STATE["ca"], STATE["ca_dir"] = str(ca_dir / "ca.crt"), str(ca_dir)
    saved = os.environ.get("SSL_CERT_FILE")
    os.environ["SSL_CERT_FILE"] = STATE["ca"]  # httpx (the SDK) and urllib trust the fleet CA
    socket.getaddrinfo = _lab_dns
    delete_both()
    yield
    if not STATE.get("deleted"):
        delete_both()
    socket.getaddrinfo = _real_getaddrinfo
    if saved is None:
        os.environ.pop("SSL_CERT_FILE", None)
    else:
        os.environ["SSL_CERT_FILE"] = saved


def test_bad_host_names_are_refused_before_any_change():
    before = route_map()
    bad = entries(hostname="Not_A.host")
    result = run_deploy(A, bad, check=False)
    assert result.returncode != 0
    assert "is not a valid DNS name" in result.stdout + result.stderr
    twins = entries(hostname=B_HOST)
    result = run_deploy(A, twins, check=False)
    assert result.returncode != 0
    assert f"have the same host name {B_HOST}" in result.stdout + result.stderr
    assert route_map() == before


def test_a_certificate_that_fits_neither_its_key_nor_its_name_is_refused_before_any_change(tmp_path):
    crt_list = "cat /etc/haproxy/langgraph-certs.list /etc/haproxy/certs/expiry.json"
    before = {lb: r["stdout"] for lb, r in ansible("langgraph_lb", "ansible.builtin.command", crt_list,
                                                   become=True).items()}
    bundle = pathlib.Path(STATE["ca_dir"], "bundles", "99-fleet.pem").read_text()
    key = tmp_path / "other.key"
    key.write_text(bundle[bundle.index("-----BEGIN PRIVATE KEY-----"):])
    result = playbook("site.yml", "--limit", "langgraph_lb", check=False, extra_vars=dict(
        haproxy_edge_enabled=True, langgraph_domain=DOMAIN,
        haproxy_edge_certificates=[dict(cert=STATE["ca"], key=str(key), hostnames=[f"x.{DOMAIN}"])]))
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "the edge certificates have 2 problems; nothing was changed" in output, output[-3000:]
    assert "does not match its key" in output and f"does not cover x.{DOMAIN}" in output, output[-3000:]
    after = {lb: r["stdout"] for lb, r in ansible("langgraph_lb", "ansible.builtin.command", crt_list,
                                                  become=True).items()}
    assert after == before


def test_two_deployments_on_443_told_apart_by_host_name():
    run_deploy(None, entries())
    assert f"{A}.{DOMAIN} be_{A}" in route_map() and f"{B_HOST} be_{B}" in route_map()
    for host, version in ((f"{A}.{DOMAIN}", "v1"), (B_HOST, "v2")):
        sdk = get_sync_client(url=url(host), timeout=60, api_key=None)
        thread = sdk.threads.create()
        result = sdk.runs.wait(thread["thread_id"], "agent", input={"message": "hi"})
        assert result["version"] == version, (host, result)


def test_status_shows_the_address_and_each_lbs_certificates():
    result = playbook("status.yml", extra_vars=dict(langgraph_deployments=entries(), deployment=A,
                                                    langgraph_domain=DOMAIN, **EDGE_ON))
    text = result.stdout + result.stderr
    assert f"https://{A}.{DOMAIN}" in text, text[-3000:]
    for lb in ("lb1", "lb2"):
        assert f"{lb} HTTPS certificates: *.{DOMAIN}, {B_HOST} until 20" in text, text[-3000:]


def test_a_new_certificate_reloads_without_dropping_a_stream():
    sdk = get_sync_client(url=url(f"{A}.{DOMAIN}"), timeout=60, api_key=None)
    thread = sdk.threads.create()
    outcome = {}

    def consume():
        try:
            chunks = list(sdk.runs.stream(thread["thread_id"], "agent", input={"message": "s", "sleep_s": 12},
                                          stream_mode=["values"]))
            outcome["values"] = [c.data for c in chunks if c.event == "values"]
        except Exception as exc:  # reported below
            outcome["exception"] = repr(exc)

    worker = threading.Thread(target=consume, daemon=True)
    worker.start()
    time.sleep(2)
    playbook("site.yml", "--limit", "langgraph_lb", extra_vars=dict(
        haproxy_edge_enabled=True, haproxy_edge_fleet_ca=True, haproxy_edge_fleet_ca_dir=STATE["ca_dir"],
        haproxy_edge_fleet_ca_names=[B_HOST, f"more.{B_HOST}"], langgraph_domain=DOMAIN))
    worker.join(timeout=60)
    assert "exception" not in outcome and outcome["values"][-1]["slept_s"] >= 12, outcome
    context = ssl.create_default_context(cafile=STATE["ca"])
    for lb in LBS:
        with socket.create_connection((lb, 443), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname=f"more.{B_HOST}") as tls:
                assert ("DNS", f"more.{B_HOST}") in tls.getpeercert()["subjectAltName"], lb


def test_unknown_host_name_gets_404_not_another_deployment():
    status, body = get(url(f"nobody.{DOMAIN}") + "/ok")
    assert status == 404 and "no deployment answers" in body
    # Plain HTTP is sent to HTTPS.
    opener = urllib.request.build_opener(type("NoRedirect", (urllib.request.HTTPRedirectHandler,),
                                              {"redirect_request": lambda *a, **k: None}))
    with pytest.raises(urllib.error.HTTPError) as redirect:
        opener.open(f"http://{A}.{DOMAIN}/ok", timeout=20)
    assert redirect.value.code == 301 and redirect.value.headers["Location"] == f"https://{A}.{DOMAIN}/ok"


def test_sdk_streams_over_https_and_http2_is_offered():
    sdk = get_sync_client(url=url(f"{A}.{DOMAIN}"), timeout=60, api_key=None)
    thread = sdk.threads.create()
    chunks = list(sdk.runs.stream(thread["thread_id"], "agent", input={"message": "s", "sleep_s": 3},
                                  stream_mode=["custom", "values"]))
    assert any(c.event == "custom" for c in chunks)
    assert [c.data for c in chunks if c.event == "values"][-1]["slept_s"] >= 3
    context = ssl.create_default_context(cafile=STATE["ca"])
    context.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection((LBS[0], 443), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=f"{A}.{DOMAIN}") as tls:
            assert tls.selected_alpn_protocol() == "h2"
            assert tls.getpeercert()["notAfter"]


def test_roll_out_under_load_over_https_through_both_lbs_fails_no_request():
    before = edge_requests()
    with Load(url(f"{A}.{DOMAIN}"), threads=3, max_requests=3000, max_seconds=300) as load:
        run_deploy(A, entries("v2"))
        switched = time.time()
        time.sleep(3)
    # A reload (another job's deploy) starts the counters again from 0: then what came since counts.
    taken = {lb: n - before[lb] if n >= before[lb] else n for lb, n in edge_requests().items()}
    print("HTTPS roll-out:", load.summary(), "requests per LB:", taken)
    # The maps in the message: one run of many here got 404 for every request, its host name missing.
    assert load.failures == [], (load.summary(), route_map("lb1"), route_map("lb2"))
    assert load.versions_after(switched + 1) == {"v2"}, load.summary()
    assert all(n > 0 for n in taken.values()), taken
    assert route_map("lb1") == route_map("lb2")


OBSERVED = "TASK [selfhost.langgraph.deploy : Plan every step of the run from what was observed]"


def test_with_lb1_down_lb2_serves_and_a_roll_out_completes():
    """HAProxy on lb1 is stopped only until the roll-out has observed it down (other tests use lb1);
    the run then goes on without lb1, and a reconcile puts lb1 back in line."""
    extra = dict(langgraph_deployments=entries("v1"), deployment=A, langgraph_domain=DOMAIN,
                 deploy_health_timeout=150, **EDGE_ON)
    command = ["ansible-playbook", "-i", str(INVENTORY), str(REPO / "playbooks" / "deploy.yml"),
               "-e", json.dumps(extra)]
    run("docker", "exec", "selfhost-lab-lb1", "systemctl", "stop", "haproxy")
    stopped = time.time()
    try:
        with Load(url(f"{A}.{DOMAIN}"), threads=2, max_requests=2000, max_seconds=120) as load:
            rollout = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       text=True)
            output = []
            for line in rollout.stdout:
                output.append(line)
                if line.startswith(OBSERVED):
                    break
    finally:
        run("docker", "exec", "selfhost-lab-lb1", "systemctl", "start", "haproxy")
    down_for = time.time() - stopped
    output.extend(rollout.stdout)
    rollout.wait(timeout=600)
    output = "".join(output)
    print("LB-down: lb1 down %.0f s; load meanwhile (lb2 alone): %s" % (down_for, load.summary()))
    assert load.failures == [] and len(load.answers) > 10, load.summary()
    assert "wave 1/1: switched 1 deployment(s) on 1 load balancer(s)" in output, output[-3000:]
    assert "down: lb1" in output, output[-3000:]
    # lb1 missed the roll-out: the next run puts it in line; then both serve the new revision.
    playbook("reconcile.yml", extra_vars=dict(langgraph_deployments=entries("v1"), deployment=A,
                                              langgraph_domain=DOMAIN, **EDGE_ON))
    for lb in LBS:
        request = urllib.request.Request(f"https://{lb}/runs/wait", headers={"Host": f"{A}.{DOMAIN}",
                                                                           "Content-Type": "application/json"},
                                         data=b'{"assistant_id": "agent", "input": {"message": "x"}}')
        context = ssl.create_default_context(cafile=STATE["ca"])
        context.check_hostname = False  # addressed by IP: no SNI, the Host header picks the deployment
        with urllib.request.urlopen(request, timeout=60, context=context) as answer:
            assert json.loads(answer.read())["version"] == "v1", lb


def test_delete_removes_the_host_names_whatever_the_inventory_says_of_the_edge():
    # An inventory that says the edge is off must not leave a deleted deployment's host names routed.
    for name in (A, B):
        run_deploy(name, entries(), "delete.yml", purge=True, haproxy_edge_enabled=False)
    STATE["deleted"] = True
    for lb in ("lb1", "lb2"):
        text = route_map(lb)
        assert f"be_{A}" not in text and f"be_{B}" not in text, (lb, text)
    assert get(url(f"{A}.{DOMAIN}") + "/ok")[0] == 404


# --- a deployment served by host name only: no lb_port, no frontend of its own ----------------------------

HOSTONLY = "hostonly-a"
HOSTONLY_HOST = f"{HOSTONLY}.{DOMAIN}"
HOSTONLY_PORT = 8350


def hostonly(**extra):
    entry = dict(name=HOSTONLY, image=IMAGE.format("v1"), type="development", migrate_command=["migrate"])
    entry.update(extra)
    return [entry]


def through(lb, host, path="/ok", body=None):
    """(status, text) of an HTTPS request to one load balancer for host (SNI and Host), with the fleet CA."""
    context = ssl.create_default_context(cafile=STATE["ca"])
    connection = http.client.HTTPSConnection(host, 443, timeout=60, context=context)
    connection.sock = context.wrap_socket(socket.create_connection((lb, 443), timeout=20), server_hostname=host)
    try:
        connection.request("POST" if body else "GET", path, body=json.dumps(body) if body else None,
                           headers={"Content-Type": "application/json"})
        answer = connection.getresponse()
        return answer.status, answer.read().decode()
    finally:
        connection.close()


def lb_config(name):
    """{lb: (its file of the deployment, or '' without one; the proxies HAProxy runs for it)}."""
    script = (f"cat /etc/haproxy/conf.d/langgraph-{name}.cfg 2>/dev/null; echo ===; "
              f"echo 'show stat -1 3 -1' | socat stdio /run/haproxy/admin.sock | cut -d, -f1,2 | grep '_{name},' || true")
    found = ansible("langgraph_lb", "ansible.builtin.shell", script, become=True)
    views = {}
    for lb, r in found.items():
        text, _, proxies = r["stdout"].partition("===")
        views[lb] = (text.strip(), proxies.strip())
    return views


def plain_http(lb, port):
    """Status of GET /ok on a load balancer's port, or the error of the connection."""
    try:
        with urllib.request.urlopen(f"http://{lb}:{port}/ok", timeout=20) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError as exc:  # urllib's URLError carries the connection's error as its reason
        return type(getattr(exc, "reason", exc)).__name__


def assert_served_by_host_name(version="v1"):
    for lb in LBS:
        status, text = through(lb, HOSTONLY_HOST, "/runs/wait", dict(assistant_id="agent", input={"message": "x"}))
        assert status == 200 and json.loads(text)["version"] == version, (lb, status, text[-500:])


def test_host_name_only_without_the_edge_is_refused_before_any_change():
    before = (route_map("lb1"), route_map("lb2"), lb_config(HOSTONLY))
    no_edge = dict(haproxy_edge_enabled=False)
    result = run_deploy(HOSTONLY, hostonly(), check=False, **no_edge)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert (f"entry 1 ({HOSTONLY}): has no lb_port and the load balancers have no HTTPS edge "
            "(haproxy_edge_enabled is off on lb1, lb2): set lb_port, or enable the edge") in output, output[-3000:]
    result = run_deploy(HOSTONLY, hostonly(lb_port=HOSTONLY_PORT, hostname=f"named.{DOMAIN}"), check=False, **no_edge)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"has hostname named.{DOMAIN} but the load balancers have no HTTPS edge" in output, output[-3000:]
    assert "Roll out LangGraph deployments" not in output  # refused by the first play, before any lock or change
    assert (route_map("lb1"), route_map("lb2"), lb_config(HOSTONLY)) == before


def test_host_name_only_is_served_through_both_lbs_and_its_port_comes_and_goes():
    try:
        run_deploy(HOSTONLY, hostonly())
        for lb in ("lb1", "lb2"):
            assert f"{HOSTONLY_HOST} be_{HOSTONLY}" in route_map(lb), lb
        for lb, (text, proxies) in lb_config(HOSTONLY).items():
            assert f"backend be_{HOSTONLY}" in text and "frontend" not in text and "bind" not in text, (lb, text)
            assert f"be_{HOSTONLY},BACKEND" in proxies and f"fe_{HOSTONLY}" not in proxies, (lb, proxies)
        assert_served_by_host_name()
        sdk = get_sync_client(url=url(HOSTONLY_HOST), timeout=60, api_key=None)
        assert sdk.runs.wait(sdk.threads.create()["thread_id"], "agent", input={"message": "hi"})["version"] == "v1"
        status = playbook("status.yml", extra_vars=dict(langgraph_deployments=hostonly(), deployment=HOSTONLY,
                                                        langgraph_domain=DOMAIN, **EDGE_ON))
        text = status.stdout + status.stderr
        assert f"{HOSTONLY} (development, lb port -, https://{HOSTONLY_HOST}): serving revision" in text, \
            text[-3000:]

        # A port of its own too: the frontend comes (one reload), the edge goes on serving.
        run_deploy(HOSTONLY, hostonly(lb_port=HOSTONLY_PORT))
        for lb, (text, proxies) in lb_config(HOSTONLY).items():
            assert f"frontend fe_{HOSTONLY}" in text and f"fe_{HOSTONLY},FRONTEND" in proxies, (lb, text, proxies)
        assert [plain_http(lb, HOSTONLY_PORT) for lb in LBS] == [200, 200]
        assert_served_by_host_name()

        # And back to the host name only: the frontend goes, the port is closed, the edge still serves.
        run_deploy(HOSTONLY, hostonly())
        for lb, (text, proxies) in lb_config(HOSTONLY).items():
            assert "frontend" not in text and f"fe_{HOSTONLY}" not in proxies, (lb, text, proxies)
        assert [plain_http(lb, HOSTONLY_PORT) for lb in LBS] == ["ConnectionRefusedError"] * 2
        assert_served_by_host_name()
    finally:
        run_deploy(HOSTONLY, hostonly(), "delete.yml", check=False, purge=True)
    for lb in ("lb1", "lb2"):
        assert f"be_{HOSTONLY}" not in route_map(lb), lb
    assert all(text == "" and proxies == "" for text, proxies in lb_config(HOSTONLY).values())
