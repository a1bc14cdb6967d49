"""No secret value reaches any playbook's output, at any verbosity, nor any
place other than the one that must hold it (issue 10, part 1).

Two deployments carry secrets made of awkward characters (`@:/%#?&`,
quotes, spaces) around random chunks, new on every run, so they cannot
appear by accident; leak-a has an explicit Postgres password, leak-b's is
derived (read back from its containers). Every fleet playbook runs at -vvvv
(LEAK_VERBOSITY chooses another; one deploy runs through ansible-runner, so
its job events, what AWX stores and shows, are searched too), and its whole
output is searched for each value plain, URL-encoded (quote, quote_plus,
every byte, the form a container's URI gets) and JSON-escaped, and for each
random chunk alone (which every encoding keeps). The fleet's Postgres admin
and Redis passwords are searched the same way. Then the containers (labels,
inspect output other than Config.Env, which is the one place the values
belong), the HAProxy configuration, the control database and any fact cache
are searched too. The lab's TLS private keys are searched for like the
passwords. A deployment's containers hold its own values and never
another's. Refusals (bad secrets, a role variable Ansible refuses) print no
value either.

LEAK_REPORT=FILE writes the leak counts (and seconds) per playbook as JSON,
and each output beside it."""

import concurrent.futures
import json
import os
import pathlib
import secrets as random
import tempfile
import time
import urllib.parse

import ansible_runner
import pytest
import yaml

from conftest import INVENTORY, REGISTRY_FROM_VMS, REPO, playbook, run, vm_sql

IMAGE = REGISTRY_FROM_VMS + "/langgraph-demo:v1"
NAMES = ("leak-a", "leak-b")
PORTS = {"leak-a": 8190, "leak-b": 8191, "leak-c": 8192}
VERBOSITY = os.environ.get("LEAK_VERBOSITY", "-vvvv")
APP_VMS = ("selfhost-lab-app1", "selfhost-lab-app2")


def awkward(chunks=3):
    """A value of random chunks joined by characters that URIs, shells, YAML and JSON treat specially.
    No braces: a value holding Jinja syntax is templated by Ansible before any module sees it."""
    parts = [random.token_hex(12) for _ in range(chunks)]
    return "@:/%#?&".join(parts[:2]) + " '!$*+,;=[]~\"" + "".join(parts[2:]), parts


def encodings(value):
    """Every form a value may take in output: plain, URL-encoded three ways, as the container's URI has
    it, JSON- and YAML-escaped."""
    every_byte = "".join("%%%02X" % b for b in value.encode())
    unreserved = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
    normalized = "".join(c if c in unreserved else "".join("%%%02X" % b for b in c.encode()) for c in value)
    forms = {value, urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value), urllib.parse.quote(value),
             every_byte, normalized, json.dumps(value)[1:-1], value.replace("'", "''")}
    return sorted(forms)


class Secret:
    """A value to look for: its forms, and (for random values) its chunks."""

    def __init__(self, label, value, chunks=()):
        self.label, self.value, self.chunks = label, value, list(chunks)
        self.forms = encodings(value)

    def count(self, text):
        """Occurrences in text: of the commonest random chunk (which any encoding keeps), at least of any form."""
        found = [text.count(chunk) for chunk in self.chunks] + [text.count(form) for form in self.forms]
        return max(found)


def generated(label):
    value, chunks = awkward()
    return Secret(label, value, chunks)


def generated_password(label):
    """The LangGraph server's migrations (Alembic) fail on a DATABASE_URI holding '%', which every character
    other than [A-Za-z0-9-._~] of a Postgres password becomes: only those, then."""
    chunks = [random.token_hex(12) for _ in range(3)]
    return Secret(label, "-._~".join(chunks[:2]) + "~~" + chunks[2], chunks)


def tls_keys():
    """The lab's TLS private keys (lab/tls.yml), each searched for whole and line by line."""
    folder = pathlib.Path(os.environ.get("LAB_STATE_DIR") or "/var/lib/selfhost-langgraph-lab") / "tls"
    keys = []
    for path in sorted(folder.glob("*.key")):
        text = path.read_text(encoding="ascii")
        lines = [line for line in text.splitlines() if line and not line.startswith("-----")]
        keys.append(Secret(f"TLS key {path.name}", text, lines))
    return keys


def lab_secrets():
    with open(INVENTORY / "group_vars" / "all.yml", encoding="utf-8") as handle:
        values = yaml.safe_load(handle)
    return [Secret("postgres_admin_password", values["postgres_admin_password"]),
            Secret("redis_password", values["redis_password"])] + tls_keys()


SECRETS = dict((s.label, s) for s in [generated("leak-a API_TOKEN"), generated("leak-a API_TOKEN rotated"),
                                       generated_password("leak-a postgres_password"),
                                       generated("leak-b API_TOKEN")] + lab_secrets())


def entry(name, token, **extra):
    base = dict(name=name, image=IMAGE, type="development", lb_port=PORTS[name], migrate_command=["migrate"],
                env={"LOG_LEVEL": "INFO"}, secrets={"API_TOKEN": SECRETS[token].value})
    if name == "leak-a":  # leak-b's is derived from the seed: the test reads it from its containers
        base["postgres_password"] = SECRETS[f"{name} postgres_password"].value
    base.update(extra)
    return base


def variables(name, token_a="leak-a API_TOKEN", **extra):
    # The autoscaler keeps what it saw of leak-a in earlier runs: it must not undo the scale to 2 in this one.
    entries = [entry("leak-a", token_a, type="production", min_replicas=1, max_replicas=2, scale_down_delay="24h"),
               entry("leak-b", "leak-b API_TOKEN")]
    return dict({"langgraph_deployments": entries, "deployment": name, "deploy_health_timeout": 150}, **extra)


OUTPUTS = {}
TIMES = {}


def playbook_with(name_of_playbook, *args, check=True, extra_vars=None):
    """playbook() with the variables in a file, as AWX and a vault-backed inventory give them:
    ansible-playbook echoes an inline -e at -vvvv, secrets and all."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", dir=os.environ.get("TMPDIR")) as handle:
        json.dump(extra_vars, handle)
        handle.flush()
        return playbook(name_of_playbook, *args, "-e", "@" + handle.name, check=check)


def fleet(label, name, name_of_playbook, *args, token_a="leak-a API_TOKEN", check=True, **extra):
    started = time.monotonic()
    result = playbook_with(name_of_playbook, VERBOSITY, *args, check=False, extra_vars=variables(name, token_a, **extra))
    OUTPUTS[label] = result.stdout + result.stderr
    TIMES[label] = round(time.monotonic() - started)
    if check and result.returncode != 0:
        raise AssertionError(f"{label} exited {result.returncode}:\n{OUTPUTS[label][-6000:]}")
    return result


def counts(text):
    return dict((s.label, s.count(text)) for s in SECRETS.values() if s.count(text))


def write_report():
    report = os.environ.get("LEAK_REPORT")
    if report:
        pathlib.Path(report).write_text(json.dumps(dict((label, dict(counts(text), seconds=TIMES.get(label)))
                                                        for label, text in OUTPUTS.items()), indent=1), encoding="utf-8")
        for index, (label, text) in enumerate(OUTPUTS.items()):
            pathlib.Path(f"{report}.{index:02d}.out").write_text(f"{label}\n{text}", encoding="utf-8")
        pathlib.Path(f"{report}.values").write_text(json.dumps(dict((s.label, s.forms) for s in SECRETS.values()),
                                                               indent=1), encoding="utf-8")


def delete(name, verbosity=None):
    args = [verbosity] if verbosity else []
    return playbook_with("delete.yml", *args, check=False, extra_vars=variables(name, purge=True))


def containers(name):
    """[(vm, docker inspect of each container of the deployment, migrations included)]."""
    found = []
    for vm in APP_VMS:
        ids = run("docker", "exec", vm, "docker", "ps", "-aq", "--filter",
                  f"label=selfhost.langgraph.deployment={name}").stdout.split()
        if ids:
            found += [(vm, c) for c in json.loads(run("docker", "exec", vm, "docker", "inspect", *ids).stdout)]
    return found


def through_runner(label, name, name_of_playbook, **extra):
    """The AWX path: ansible-runner, whose job events (what AWX stores and shows) are searched with its stdout.
    Its private folder holds the variables (secrets and all) and goes at the end."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as folder:
        result = ansible_runner.run(private_data_dir=folder, project_dir=str(REPO), inventory=str(INVENTORY),
                                    playbook=f"playbooks/{name_of_playbook}", extravars=variables(name, **extra),
                                    verbosity=len(VERBOSITY) - 1, quiet=True, envvars=dict(os.environ))
        artifacts = pathlib.Path(folder, "artifacts")
        texts = [path.read_text(encoding="utf-8", errors="replace") for path in sorted(artifacts.rglob("*"))
                 if path.is_file()]
        stdout = result.stdout.read()
        OUTPUTS[label] = stdout + "\n".join(texts)
        TIMES[label] = round(time.monotonic() - started)
        assert result.rc == 0 and len(list(artifacts.rglob("job_events/*.json"))) > 10, stdout[-6000:]


def uri_passwords(containers_of):
    """The passwords in the containers' DATABASE_URI and REDIS_URI: derived ones too, found only there."""
    found = {}
    for name, found_containers in containers_of.items():
        for _, container in found_containers:
            for variable in container["Config"]["Env"] or []:
                key, _, value = variable.partition("=")
                if key in ("DATABASE_URI", "POSTGRES_URI", "REDIS_URI"):
                    password = urllib.parse.urlsplit(value).password
                    if password:
                        found[f"{name} {key} password"] = urllib.parse.unquote(password)
    return found


def leftover(name):
    """Containers or a database of the deployment, from an earlier run that did not end."""
    database = "lg_" + name.replace("-", "_")
    return bool(containers(name) or vm_sql(f"SELECT 1 FROM pg_database WHERE datname = '{database}'"))


@pytest.fixture(scope="module")
def fleet_run(lab):
    """Every fleet playbook, in an order where each has something to do; the deletes come last."""
    for name in NAMES:
        if leftover(name):
            delete(name)
    OUTPUTS.clear()
    try:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            for done in [pool.submit(fleet, f"deploy {name}", name, "deploy.yml") for name in NAMES]:
                done.result()
        # A new value of the secret is a new revision: something to roll back from.
        through_runner("deploy leak-a, secret rotated (ansible-runner: job events)", "leak-a", "deploy.yml",
                       token_a="leak-a API_TOKEN rotated")
        fleet("rollback leak-a", "leak-a", "rollback.yml", token_a="leak-a API_TOKEN rotated")
        fleet("scale leak-a", "leak-a", "scale.yml", token_a="leak-a API_TOKEN rotated", replicas=2)
        for label, book in (("status", "status.yml"), ("reconcile", "reconcile.yml"),
                            ("autoscale", "autoscale.yml"), ("unlock", "unlock.yml"), ("stores", "stores.yml")):
            fleet(f"{label} leak-a", "leak-a", book, token_a="leak-a API_TOKEN rotated")
        places = dict(containers=dict((name, containers(name)) for name in NAMES),
                      haproxy=run("docker", "exec", "selfhost-lab-lb1", "sh", "-c",
                                  "cat /etc/haproxy/haproxy.cfg; cat /etc/haproxy/conf.d/* 2>/dev/null || true"
                                  ).stdout,
                      control=run("docker", "exec", "selfhost-lab-pg1", "runuser", "-u", "postgres", "--",
                                  "pg_dump", "langgraph_control").stdout)
        for label, value in uri_passwords(places["containers"]).items():
            SECRETS.setdefault(label, Secret(label, value))
        for name in NAMES:
            fleet(f"delete --purge {name}", name, "delete.yml", token_a="leak-a API_TOKEN rotated", purge=True)
        yield places
    finally:
        write_report()
        for name in NAMES:
            if leftover(name):
                delete(name)


def test_the_deployments_serve_with_their_secrets(fleet_run):
    """The values really went where they belong: otherwise finding none elsewhere would prove nothing."""
    assert "leak-b DATABASE_URI password" in SECRETS and "leak-b REDIS_URI password" in SECRETS
    envs = dict((name, [dict(e.split("=", 1) for e in c["Config"]["Env"]) for _, c in fleet_run["containers"][name]
                        if c["Config"]["Labels"].get("selfhost.langgraph.migration") is None])
                for name in NAMES)
    assert len(envs["leak-a"]) >= 2 and len(envs["leak-b"]) >= 1, envs.keys()
    for env in envs["leak-a"]:
        assert env["API_TOKEN"] == SECRETS["leak-a API_TOKEN rotated"].value
    for env in envs["leak-b"]:
        assert env["API_TOKEN"] == SECRETS["leak-b API_TOKEN"].value
    assert all(SECRETS["leak-a postgres_password"].count(env["DATABASE_URI"]) for env in envs["leak-a"])
    for name in NAMES:  # the fleet's Redis password, or the deployment's own ACL user's
        assert all(urllib.parse.urlsplit(env["REDIS_URI"]).password for env in envs[name])


def test_no_playbook_output_holds_a_secret(fleet_run):
    leaks = dict((label, counts(text)) for label, text in OUTPUTS.items() if counts(text))
    assert not leaks, f"secret values in the output at {VERBOSITY}: {json.dumps(leaks, indent=1)}"


def test_containers_hold_secrets_only_in_their_env_and_only_their_own(fleet_run):
    for name in NAMES:
        other = [n for n in NAMES if n != name][0]
        # Every deployment's REDIS_URI holds the fleet's one Redis password until each has its own ACL user
        # (issue 10, part 2): a value shared by the fleet is not another deployment's.
        shared = set(s.value for s in lab_secrets())
        foreign = [s for s in SECRETS.values() if s.label.startswith(other) and s.value not in shared]
        for vm, container in fleet_run["containers"][name]:
            found = dict(container, Config=dict(container["Config"]))
            env = "\n".join(found["Config"].pop("Env") or [])
            assert not counts(json.dumps(found)), (vm, found["Name"], counts(json.dumps(found)))
            assert not [s.label for s in foreign if s.count(env)], (vm, found["Name"])
            assert SECRETS["postgres_admin_password"].count(env) == 0, (vm, found["Name"])


def test_the_haproxy_configuration_holds_no_secret(fleet_run):
    assert "leak-a" in fleet_run["haproxy"]
    assert not counts(fleet_run["haproxy"])


def test_the_control_database_holds_no_secret(fleet_run):
    assert "leak-a" in fleet_run["control"]
    assert not counts(fleet_run["control"])


def test_no_fact_cache_or_retry_file_holds_a_secret(fleet_run):
    found = {}
    home = pathlib.Path(os.environ.get("ANSIBLE_HOME", pathlib.Path.home() / ".ansible"))
    folders = [home / "tmp", REPO / "playbooks"] + [pathlib.Path(os.environ[v]) for v in (
        "ANSIBLE_CACHE_PLUGIN_CONNECTION", "ANSIBLE_LOCAL_TEMP") if os.environ.get(v)]
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file() and path.suffix not in (".py", ".pyc", ".tar.gz") and path.stat().st_size < 10 ** 7:
                text = path.read_text(encoding="utf-8", errors="replace")
                if counts(text):
                    found[str(path)] = counts(text)
    assert not found, found


def test_bad_secrets_are_refused_in_one_message_before_anything_changes(lab):
    value = SECRETS["leak-a API_TOKEN"]
    bad = dict(variables("leak-c"), langgraph_deployments=[entry(
        "leak-c", "leak-a API_TOKEN", postgres_password=value.value,
        secrets={"API-TOKEN": value.value, "1TOKEN": value.value, "NOTHING": None, "EMPTY": "", "GOOD": value.value})])
    result = playbook_with("deploy.yml", VERBOSITY, check=False, extra_vars=bad)
    text = result.stdout + result.stderr
    assert result.returncode != 0, text[-3000:]
    for says in ("secret name 'API-TOKEN' is not a valid environment variable name",
                 "secret name '1TOKEN' is not a valid environment variable name",
                 "secret NOTHING must be a string or a number", "secret EMPTY must not be empty"):
        assert says in text, (says, text[-3000:])
    assert not value.count(text), "the refusal quotes a secret value"
    assert vm_sql("SELECT count(*) FROM revisions WHERE deployment = 'leak-c'", "langgraph_control") == ["0"]
    assert not containers("leak-c")


@pytest.mark.parametrize("name_of_playbook, variable", [
    ("deploy.yml", "deploy_health_timeout"), ("autoscale.yml", "deploy_health_timeout"),
    ("stores.yml", "stores_postgres_port")])
def test_a_role_variable_ansible_refuses_prints_no_secret(lab, name_of_playbook, variable):
    """Ansible prints a role's whole argument spec, templated, when one of its arguments fails validation."""
    result = playbook_with(name_of_playbook, VERBOSITY, check=False, extra_vars=variables("leak-a", **{variable: "soon"}))
    text = result.stdout + result.stderr
    assert result.returncode != 0 and "Validation of arguments failed" in text and variable in text, text[-3000:]
    assert not counts(text), counts(text)
