# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Carries out app_host steps on one host's Docker engine (Docker SDK), for
the host-wide executors app_host_info, app_containers, revision_migrations and
app_images: one list call per look at the host, every container of a call
handled at once in threads, per-deployment failures returned, not raised."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import contextlib
import errno
import fcntl
import os
import threading
import time

from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.urls import open_url

from ansible_collections.selfhost.langgraph.plugins.module_utils import revision_plan as rp
from ansible_collections.selfhost.langgraph.plugins.module_utils import app_host
from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError
from ansible_collections.selfhost.langgraph.plugins.module_utils.uris import mask_uri_passwords

try:
    import docker
    from requests.exceptions import RequestException
    DOCKER_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported by the module
    docker = None
    RequestException = Exception
    DOCKER_IMPORT_ERROR = exc

DEFAULT_DOCKER_HOST = 'unix:///var/run/docker.sock'
# Threads per call: enough for a host full of containers, few enough for the engine.
MAX_THREADS = 32
PULL_THREADS = 4
LOG_LINES = 20
POLL_INTERVAL = 0.25
# Held by app_containers while it chooses host ports and creates containers
# (never during the health wait): two calls at once on a host, say a deploy
# and the reconcile timer, never take the same port.
CONTAINERS_LOCK = '/run/lock/selfhost-langgraph-containers.lock'
# Holders only list, create and start containers: seconds, even for many.
LOCK_WAIT = 300
# Tries of a container whose port a program took between our look and its start.
PORT_ATTEMPTS = 3


def docker_argument_spec():
    """The engine option every app host module takes."""
    return dict(docker_host=dict(type='str', default=DEFAULT_DOCKER_HOST))


def host_errors():
    """Errors that mean the engine itself failed (the task fails)."""
    return (docker.errors.DockerException, RequestException)


def connect(docker_host, timeout=60):
    return docker.APIClient(base_url=docker_host, version='auto', timeout=timeout)


def listening_ports():
    """Ports programs listen on, from the host's /proc/net/tcp and tcp6."""
    used = set()
    for path in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(path) as proc_file:
                used |= rp.listening_ports(proc_file.read())
        except IOError:
            pass
    return used


def probe(port, path, timeout=2, host='127.0.0.1'):
    """HTTP status of GET path on host:port, or None when nothing answers."""
    try:
        return open_url('http://%s:%d%s' % (host, port, path), timeout=timeout, use_proxy=False).getcode()
    except HTTPError as exc:
        return exc.code
    except (URLError, IOError, ValueError):
        return None


def log_tail(client, name, lines=20):
    try:
        return mask_uri_passwords(client.logs(name, tail=lines).decode('utf-8', 'replace').rstrip())
    except docker.errors.APIError as exc:
        return '(logs unavailable: %s)' % exc


def in_parallel(function, items, workers=MAX_THREADS, item_errors=None):
    """[(item, result, error)] of function(item) for every item, run in threads,
    in the order of items. A Docker API error (or one of item_errors) is
    returned as that item's error; anything else (the engine gone, a bug) is raised."""
    item_errors = item_errors or (docker.errors.APIError,)
    items = list(items)
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        futures = [pool.submit(function, item) for item in items]
    outcomes = []
    for item, future in zip(items, futures):
        error = future.exception()
        if error is not None and not isinstance(error, item_errors):
            raise error
        outcomes.append((item, None if error else future.result(), error))
    return outcomes


def api_error_text(error):
    """A Docker API error in one masked line."""
    text = getattr(error, 'explanation', None) or str(error)
    if isinstance(text, bytes):
        text = text.decode('utf-8', 'replace')
    return mask_uri_passwords(' '.join(str(text).split()))


def host_capacity():
    with open('/proc/meminfo') as meminfo:
        return dict(cpus=os.cpu_count() or 1, memory_mb=app_host.memory_mb(meminfo.read()))


def probe_all(ports, path, host='127.0.0.1', probe_fn=None):
    """{name: HTTP status or None} for {name: port}, probed at once."""
    probe_fn = probe_fn or probe
    outcomes = in_parallel(lambda item: probe_fn(item[1], path, host=host), sorted(ports.items()))
    return dict((item[0], result) for item, result, dummy in outcomes)


def observe_host(client, deployments=None, health_path=None, health_host='127.0.0.1', probe_fn=None):
    """app_host_info: one container list, one image list, probes at once."""
    summaries = client.containers(all=True)
    containers, unreadable = app_host.managed_containers(summaries, deployments)
    if health_path:
        running = dict((c['name'], c['port']) for c in containers if c['running'])
        answers = probe_all(running, health_path, health_host, probe_fn)
        for container in containers:
            container['health'] = answers.get(container['name'])
    return dict(
        containers=containers,
        unreadable=unreadable,
        port_owners=app_host.port_owners(summaries, listening_ports()),
        images=app_host.image_references(client.images()),
    )


def image_info(client, image):
    """Docker's record of an image, or None when the engine does not have it."""
    try:
        return client.inspect_image(image)
    except docker.errors.NotFound:
        return None
    except docker.errors.APIError as exc:
        # A malformed reference is the image's problem, not the engine's.
        if exc.status_code == 400:
            return None
        raise


def missing_images(client, images):
    return set(image for image in images if image_info(client, image) is None)


def remove_quietly(client, name):
    """Kills and removes a container; gone already is fine."""
    try:
        client.remove_container(name, v=True, force=True)
    except docker.errors.NotFound:
        pass


def log_tail_quietly(client, name, lines=LOG_LINES):
    try:
        return log_tail(client, name, lines)
    except docker.errors.NotFound:
        return '(the container is gone)'


def _launch(client, name, create):
    """create() then start; a container that would not start is removed again."""
    create()
    try:
        client.start(name)
    except docker.errors.APIError:
        remove_quietly(client, name)
        raise


@contextlib.contextmanager
def host_lock(path, wait=LOCK_WAIT, sleep=time.sleep, clock=time.monotonic):
    """The host's exclusive app_containers lock (flock: the kernel releases
    it when the process ends, however it ends)."""
    try:
        directory = os.path.dirname(path)
        if directory and not os.path.isdir(directory):
            os.makedirs(directory)
        handle = open(path, 'a')
    except (IOError, OSError) as exc:
        raise StoreError("cannot open the lock file %s: %s (app_containers runs as root: become: true)" % (path, exc))
    try:
        deadline = clock() + wait
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except (IOError, OSError) as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            if clock() > deadline:
                raise StoreError("another app_containers call on this host has held %s for more than %d s while "
                                 "creating containers; look for a stuck ansible module process" % (path, wait))
            sleep(0.1)
        yield
    finally:
        handle.close()


class PortPicker(object):
    """Free host ports for containers whose port was taken at start, one
    at a time across the threads of a call."""

    def __init__(self, taken, low, high):
        self.taken = set(taken)
        self.low, self.high = low, high
        self._lock = threading.Lock()

    def take(self):
        with self._lock:
            port = app_host.lowest_free_port(self.taken, self.low, self.high)
            if port is not None:
                self.taken.add(port)
            return port


def create_replicas(client, starts, secrets, bind_address, picker=None, binds=None):
    """Creates and starts the containers at once. A container whose host port
    a program took since the look gets the picker's next free port (a few
    tries). Returns ([Start created and started, on its actual port],
    {name: reason} for those that failed; nothing of those is left)."""
    def create_on(start):
        # Restart policy 'no' until healthy: a crash during the health gate
        # shows as exited, not hidden in restarts (set_restart_policy follows).
        host_config = client.create_host_config(
            port_bindings={rp.SERVER_PORT: (bind_address, start.port)},
            nano_cpus=int(start.cpus * 1e9),
            mem_limit='%dm' % start.memory_mb,
            binds=binds or None,
        )
        environment = app_host.container_environment(start.env, secrets.get(start.deployment))
        _launch(client, start.name, lambda: client.create_container(
            image=start.image, name=start.name, environment=environment, labels=start.labels(),
            ports=[rp.SERVER_PORT], host_config=host_config, stop_timeout=start.stop_timeout))

    def create(start):
        for attempt in range(1, PORT_ATTEMPTS + 1):
            try:
                create_on(start)
                return start
            except docker.errors.APIError as exc:
                port = None
                if picker is not None and attempt < PORT_ATTEMPTS and app_host.port_in_use_error(api_error_text(exc)):
                    port = picker.take()
                if port is None:
                    raise
                start = start.on_port(port)
    created, failures = [], {}
    for start, actual, error in in_parallel(create, starts):
        if error is None:
            created.append(actual)
        else:
            failures[start.name] = "container %s could not be started: %s" % (start.name, api_error_text(error))
    return created, failures


def restart_stopped(client, starts):
    started, failures = [], {}
    for start, dummy, error in in_parallel(lambda s: client.start(s.name), starts):
        if error is None:
            started.append(start)
        else:
            failures[start.name] = "container %s could not be started again: %s" % (start.name, api_error_text(error))
    return started, failures


def _health_reason(client, name, kind, path, timeout, answer):
    if kind == 'gone':
        return "container %s disappeared before it was healthy" % name
    if kind == 'exited':
        try:
            state = client.inspect_container(name)['State']
        except docker.errors.NotFound:
            return "container %s disappeared before it was healthy" % name
        return ("container %s exited (code %s) before it was healthy; its last log lines:\n%s"
                % (name, state.get('ExitCode'), log_tail_quietly(client, name)))
    return ("container %s was not healthy within %d s (GET %s answered %s); its last log lines:\n%s"
            % (name, timeout, path, answer or 'nothing', log_tail_quietly(client, name)))


def wait_healthy_all(client, targets, path, timeout, host='127.0.0.1', probe_fn=None,
                     sleep=time.sleep, clock=time.monotonic):
    """One health gate for every target {name: (deployment, port)}: probed
    at once each round, states from one list call. When a container fails, the
    other containers of its deployment are not waited for. Returns {name: reason}."""
    pending = dict(targets)
    failures = {}
    deadline = clock() + timeout
    while pending:
        answers = probe_all(dict((n, port) for n, (dummy, port) in pending.items()), path, host, probe_fn)
        timed_out = clock() > deadline
        states = dict((app_host.summary_name(c), c.get('State'))
                      for c in client.containers(all=True, filters={'label': rp.LABEL_MANAGED}))
        healthy, failed = app_host.judge_health(pending, answers, states, timed_out)
        for name in healthy:
            del pending[name]
        failed_deployments = set()
        for name, kind in failed.items():
            failures[name] = _health_reason(client, name, kind, path, timeout, answers.get(name))
            failed_deployments.add(pending.pop(name)[0])
        for name in [n for n, (deployment, dummy) in pending.items() if deployment in failed_deployments]:
            del pending[name]
        if pending:
            sleep(POLL_INTERVAL)
    return failures


def set_restart_policy(client, names):
    """Healthy now: from here on Docker restarts them after a crash or a reboot."""
    outcomes = in_parallel(lambda name: client.update_container(name, restart_policy={'Name': 'unless-stopped'}),
                           names)
    return dict((name, "container %s: setting its restart policy failed: %s" % (name, api_error_text(error)))
                for name, dummy, error in outcomes if error is not None)


def stop_one(client, name):
    """SIGTERM, up to the container's own stop timeout, then remove. False
    when the container was gone already."""
    try:
        stop_timeout = client.inspect_container(name)['Config'].get('StopTimeout')
        client.stop(name, timeout=10 if stop_timeout is None else stop_timeout)
        client.remove_container(name, v=True)
    except docker.errors.NotFound:
        return False
    return True


def stop_containers(client, names):
    """Stops and removes at once; returns (names removed, {name: reason})."""
    stopped, failures = [], {}
    for name, removed, error in in_parallel(lambda n: stop_one(client, n), names):
        if error is not None:
            failures[name] = "stopping container %s failed: %s" % (name, api_error_text(error))
        elif removed:
            stopped.append(name)
    return sorted(stopped), failures


def stop_quickly(client, names):
    """Stops containers with no grace (a failed start undone)."""
    in_parallel(lambda name: client.stop(name, timeout=0), names)


def look_and_plan(client, starts, stop_names, skip, port_range):
    """One look at the host and the decisions of a call: (StartPlan, names
    to stop, {deployment: reason} of stops refused, {port: who holds it})."""
    summaries = client.containers(all=True)
    existing = app_host.containers_by_name(summaries)
    owners = app_host.port_owners(summaries, listening_ports())
    wanted_images = set(s.image for s in starts if s.name not in existing and s.deployment not in skip)
    plan = app_host.plan_starts(starts, existing, owners, missing_images(client, wanted_images), skip, port_range)
    stops, refused = app_host.plan_stops(stop_names, existing, set(skip))
    return plan, stops, refused, owners


def launch(client, plan, secrets, bind_address, picker, binds=None):
    """Creates the new containers and starts the stopped ones, all at once.
    Returns ([Start created], [Start started again], {name: problem})."""
    created, problems = create_replicas(client, plan.create, secrets, bind_address, picker, binds)
    restarted, restart_problems = restart_stopped(client, plan.restart)
    problems.update(restart_problems)
    return created, restarted, problems


def gate(client, running, problems, health_path, health_timeout, bind_address, probe_fn, sleep, clock):
    """Health-gates the running Starts of the deployments without a problem
    yet, together; the healthy new ones get their restart policy. Returns
    {container name: problem}, those of `problems` included."""
    problems = dict(problems)
    deployment_of = dict((s.name, s.deployment) for s in running)
    deployment_of.update((name, app_host.deployment_of(name)) for name in problems)
    failed = app_host.first_failure_per_deployment(problems, deployment_of)
    targets = dict((s.name, (s.deployment, s.port)) for s in running if s.deployment not in failed)
    problems.update(wait_healthy_all(client, targets, health_path, health_timeout, app_host.probe_host(bind_address),
                                     probe_fn, sleep, clock))
    return problems


def apply_containers(client, starts, stop_names, secrets, skip, health_path, health_timeout, bind_address,
                     check_mode, port_range=app_host.DEFAULT_PORT_RANGE, lock_path=None, probe_fn=None,
                     sleep=time.sleep, clock=time.monotonic, binds=None):
    """app_containers: under the host lock, looks, chooses the host ports and
    creates and starts the listed containers at once; then, without the lock,
    gates them on health together, undoes each failed deployment's part, and
    stops the listed containers of the deployments that did not fail."""
    if check_mode:
        plan, stops, refused, dummy = look_and_plan(client, starts, stop_names, skip, port_range)
        failed = app_host.merge_failures(plan.failed, refused)
        return dict(started=[s.as_dict() for s in plan.create + plan.restart],
                    kept=[s.as_dict() for s in plan.keep],
                    moved_ports=app_host.moved_ports(plan.create + plan.restart + plan.keep),
                    stopped=[n for n in stops if app_host.deployment_of(n) not in failed],
                    removed=[], failures=failed, left_alone=plan.skipped)

    with host_lock(lock_path or CONTAINERS_LOCK):
        plan, stops, refused, owners = look_and_plan(client, starts, stop_names, skip, port_range)
        picker = PortPicker(set(owners) | set(s.planned_port for s in plan.create) | set(s.port for s in plan.create),
                            *port_range)
        created, restarted, problems = launch(client, plan, secrets, bind_address, picker, binds)
    problems = gate(client, created + restarted + plan.keep, problems, health_path, health_timeout, bind_address,
                    probe_fn, sleep, clock)
    deployment_of = dict((s.name, s.deployment) for s in starts)
    failed = app_host.first_failure_per_deployment(problems, deployment_of)
    made_permanent = [s.name for s in created + restarted if s.deployment not in failed]
    problems.update(set_restart_policy(client, made_permanent))
    failed = app_host.first_failure_per_deployment(problems, deployment_of)
    removed, stop_again = app_host.undo_steps(plan, set(s.name for s in created), failed)
    in_parallel(lambda name: remove_quietly(client, name), removed)
    stop_quickly(client, stop_again)

    failed = app_host.merge_failures(plan.failed, failed, refused)
    stopped, stop_failures = stop_containers(client, [n for n in stops if app_host.deployment_of(n) not in failed])
    failed = app_host.merge_failures(failed, app_host.first_failure_per_deployment(
        stop_failures, dict((n, app_host.deployment_of(n)) for n in stop_failures)))
    started = [s for s in created + restarted if s.deployment not in failed]
    kept = [s for s in plan.keep if s.deployment not in failed]
    return dict(started=[s.as_dict() for s in sorted(started, key=_order)],
                kept=[s.as_dict() for s in kept],
                moved_ports=app_host.moved_ports(started + kept),
                stopped=stopped, removed=removed, failures=failed, left_alone=plan.skipped)


def _order(start):
    return (start.deployment, start.revision, start.replica)


def run_migrations(client, migrations, secrets, timeout, check_mode, sleep=time.sleep, clock=time.monotonic,
                   binds=None):
    """revision_migrations: every migration at once in a one-off container,
    waited for (one list call per look), its exit code and output kept, the
    container removed; one still running at the deadline is killed."""
    missing = missing_images(client, set(m.image for m in migrations))
    outcomes, failed = {}, {}
    runnable = []
    for migration in migrations:
        if migration.image in missing:
            failed[migration.deployment] = ("image %s is not on this host: pull it first (app_images)"
                                            % migration.image)
        else:
            runnable.append(migration)
    if check_mode:
        return dict(outcomes=outcomes, failures=failed, containers=[m.name for m in runnable])

    def launch(migration):
        # A container of that name is the leftover of an interrupted run.
        remove_quietly(client, migration.name)
        environment = app_host.container_environment(migration.env, secrets.get(migration.deployment))
        _launch(client, migration.name, lambda: client.create_container(
            image=migration.image, command=migration.command, name=migration.name, environment=environment,
            labels=rp.migration_labels(migration.deployment, migration.revision),
            host_config=client.create_host_config(binds=binds or None)))
    pending = {}
    for migration, dummy, error in in_parallel(launch, runnable):
        if error is None:
            pending[migration.name] = migration
        else:
            outcomes[migration.deployment] = dict(revision=migration.revision, rc=None, output='')
            failed[migration.deployment] = ("the migration container %s could not be started: %s"
                                            % (migration.name, api_error_text(error)))

    done = {}
    deadline = clock() + timeout
    while pending:
        states = dict((app_host.summary_name(c), c.get('State'))
                      for c in client.containers(all=True, filters={'label': rp.LABEL_MIGRATION}))
        ended, overdue = app_host.finished_migrations(pending, states, clock() > deadline)
        for name in ended:
            done[name] = (pending.pop(name), False)
        for name in overdue:
            done[name] = (pending.pop(name), True)
        if pending:
            sleep(POLL_INTERVAL)

    def collect(item):
        name, (migration, overdue) = item
        rc = None
        if overdue:
            client.kill(name)
        else:
            rc = client.inspect_container(name)['State'].get('ExitCode')
        output = log_tail_quietly(client, name)
        remove_quietly(client, name)
        return migration, rc, output
    for item, outcome, error in in_parallel(collect, sorted(done.items())):
        migration = item[1][0]
        if error is not None:
            remove_quietly(client, migration.name)
            outcomes[migration.deployment] = dict(revision=migration.revision, rc=None, output='')
            failed[migration.deployment] = "the migration container %s: %s" % (migration.name, api_error_text(error))
            continue
        migration, rc, output = outcome
        outcomes[migration.deployment], reason = app_host.migration_outcome(migration, rc, output, timeout)
        if reason:
            failed[migration.deployment] = reason
    return dict(outcomes=outcomes, failures=failed, containers=sorted(done))


class PullError(Exception):
    """An error Docker reported in a pull's progress stream."""


def pull_image(client, image):
    """Pulls one reference; an error in Docker's progress stream is raised."""
    repository, tag = app_host.split_reference(image)
    for message in client.pull(repository, tag=tag, stream=True, decode=True):
        if isinstance(message, dict) and message.get('error'):
            raise PullError(message['error'])


def ensure_images(client, pulls, check_mode):
    """app_images pull: [(image, always)] -> ({image: {digest, pinned, pulled}},
    {image: reason}, changed). Pulls at once (a few threads). In check mode a
    missing image is reported as pulled, a present one as it is."""
    def one(item):
        image, always = item
        before = image_info(client, image)
        known = before is not None and app_host.repo_digest(image, before.get('RepoDigests')) is not None
        if check_mode or (known and not always):
            return before, before, before is None
        try:
            pull_image(client, image)
        except (docker.errors.APIError, PullError):
            if before is not None and not always:
                # Present without its registry digest (built here, or its digest reference removed by an
                # earlier version): it runs as it is, unpinned, when the registry cannot say.
                return before, before, False
            raise
        after = image_info(client, image)
        if after is None:
            raise PullError("the pull reported success but the engine does not have the image")
        return before, after, True
    images, failed, changed = {}, {}, False
    for (image, dummy), outcome, error in in_parallel(one, pulls, PULL_THREADS, (docker.errors.APIError, PullError)):
        if error is not None:
            failed[image] = "pulling %s failed: %s" % (image, api_error_text(error))
            continue
        before, after, pulled = outcome
        digest = app_host.repo_digest(image, (after or {}).get('RepoDigests'))
        images[image] = dict(digest=digest, pinned=app_host.pinned_reference(image, digest), pulled=pulled)
        changed = changed or (before or {}).get('Id') != (after or {}).get('Id') or (check_mode and pulled)
    return images, failed, changed


def remove_images(client, images, check_mode):
    """app_images remove: ([removed], [in use, kept], {image: reason})."""
    used_ids = set(c.get('ImageID') for c in client.containers(all=True))
    infos = dict((image, image_info(client, image) or {}) for image in images)
    remove, in_use = app_host.removal_plan(images, dict((i, info.get('Id')) for i, info in infos.items()), used_ids,
                                           dict((i, info.get('RepoTags') or []) for i, info in infos.items()))
    if check_mode:
        return remove, in_use, {}
    removed, failed = [], {}
    for image, dummy, error in in_parallel(client.remove_image, remove, PULL_THREADS):
        if error is None:
            removed.append(image)
        elif getattr(error, 'status_code', None) == 409:
            # Used by a container created meanwhile: it stays, as asked.
            in_use.append(image)
        elif not isinstance(error, docker.errors.NotFound):
            failed[image] = "removing %s failed: %s" % (image, api_error_text(error))
    return removed, sorted(in_use), failed
