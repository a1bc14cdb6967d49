"""The HTTPS edge on the lab's load balancers: the fleet CA's certificate,
deployments told apart by host name on 443, an unknown host name answered 404,
a roll-out under load over HTTPS, and bad host names refused before any change.
The tests run in file order, each building on the state the previous one left.

The lab has no DNS for its host names: the test process resolves
*.edge.lab.test (and bee.other.lab.test) to the load balancer, as a DNS
record would; everything else is the real path (TLS, SNI, HAProxy, servers)."""

import base64
import os
import socket
import ssl
import time
import urllib.error
import urllib.request

import pytest
from langgraph_sdk import get_sync_client

from conftest import REGISTRY_FROM_VMS, VMS, ansible, playbook
from load import Load

DOMAIN = "edge.lab.test"
A, B = "edge-a", "edge-b"
B_HOST = "bee.other.lab.test"
IMAGE = REGISTRY_FROM_VMS + "/langgraph-demo:{}"
LB = VMS["lb1"]
STATE = {}

_real_getaddrinfo = socket.getaddrinfo


def _lab_dns(host, *args, **kwargs):
    if isinstance(host, str) and (host.endswith("." + DOMAIN) or host == B_HOST):
        host = LB
    return _real_getaddrinfo(host, *args, **kwargs)


def entries(a_tag="v1", **extra_a):
    a = dict(name=A, image=IMAGE.format(a_tag), type="production", min_replicas=2, max_replicas=2,
             lb_port=8340, migrate_command=["migrate"])
    a.update(extra_a)
    b = dict(name=B, image=IMAGE.format("v2"), type="development", lb_port=8341, migrate_command=["migrate"],
             hostname=B_HOST)
    return [a, b]


def run_deploy(name, deployments, book="deploy.yml", check=True, **more):
    """Runs book on the deployment named, or on every one listed (name None)."""
    extra = dict(langgraph_deployments=deployments, langgraph_domain=DOMAIN, deploy_health_timeout=150, **more)
    if name:
        extra["deployment"] = name
    return playbook(book, check=check, extra_vars=extra)


def delete_both():
    run_deploy(None, entries(), "delete.yml", purge=True)


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
    STATE["ca"] = str(ca_dir / "ca.crt")
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


def test_two_deployments_on_443_told_apart_by_host_name():
    run_deploy(None, entries())
    assert f"{A}.{DOMAIN} be_{A}" in route_map() and f"{B_HOST} be_{B}" in route_map()
    for host, version in ((f"{A}.{DOMAIN}", "v1"), (B_HOST, "v2")):
        sdk = get_sync_client(url=url(host), timeout=60, api_key=None)
        thread = sdk.threads.create()
        result = sdk.runs.wait(thread["thread_id"], "agent", input={"message": "hi"})
        assert result["version"] == version, (host, result)


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
    with socket.create_connection((LB, 443), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=f"{A}.{DOMAIN}") as tls:
            assert tls.selected_alpn_protocol() == "h2"
            assert tls.getpeercert()["notAfter"]


def test_roll_out_under_load_over_https_fails_no_request():
    with Load(url(f"{A}.{DOMAIN}"), threads=3, max_requests=3000, max_seconds=300) as load:
        run_deploy(A, entries("v2"))
        switched = time.time()
        time.sleep(3)
    print("HTTPS roll-out:", load.summary())
    assert load.failures == [], load.summary()
    assert load.versions_after(switched + 1) == {"v2"}, load.summary()


def test_delete_removes_the_host_names():
    delete_both()
    STATE["deleted"] = True
    text = route_map()
    assert f"be_{A}" not in text and f"be_{B}" not in text
    assert get(url(f"{A}.{DOMAIN}") + "/ok")[0] == 404
