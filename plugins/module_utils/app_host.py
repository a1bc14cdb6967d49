# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One app host, every deployment at once: the decisions of app_host_info,
app_containers, revision_migrations and app_images as pure functions.

Docker's list entries and the modules' inputs go in; what to create, keep,
restart, stop, undo and report comes out. The executor (docker_revisions.py)
does the Docker calls.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import os
import re

from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError
from ansible_collections.selfhost.langgraph.plugins.module_utils import naming
from ansible_collections.selfhost.langgraph.plugins.module_utils import revision_plan as rp
from ansible_collections.selfhost.langgraph.plugins.module_utils.uris import CA_FILE, normalize_uri

URI_VARIABLES = ('DATABASE_URI', 'REDIS_URI')
DEFAULT_PORT_RANGE = (20000, 29999)
# Docker refuses a memory limit below 6 MB.
MIN_MEMORY_MB = 6
_FINGERPRINT_RE = re.compile(r'\A[A-Za-z0-9_.-]{1,64}\Z')
_DIGEST_RE = re.compile(r'sha256:[a-f0-9]{64}\Z')


# --- what the host runs --------------------------------------------------------------------

def summary_name(summary):
    """The name of a container in a Docker list entry (without the leading '/')."""
    names = summary.get('Names') or ['']
    return names[0].lstrip('/')


def decode_container(summary):
    """The replica a Docker list entry describes, as a dict, or None when it
    carries no managed label. Raises ValueError when its labels cannot be read."""
    labels = summary.get('Labels') or {}
    if rp.LABEL_MANAGED not in labels:
        return None
    cpus, memory = rp.container_size(labels)
    try:
        return dict(
            name=summary_name(summary),
            deployment=labels[rp.LABEL_DEPLOYMENT],
            revision=int(labels[rp.LABEL_REVISION]),
            replica=int(labels[rp.LABEL_REPLICA]),
            port=int(labels[rp.LABEL_PORT]),
            running=summary.get('State') == 'running',
            # Replicas made before the image label existed: Docker's own record.
            image=labels.get(rp.LABEL_IMAGE) or summary.get('Image'),
            fingerprint=labels.get(rp.LABEL_FINGERPRINT),
            # Containers made before the size labels: null (Docker's list call
            # gives no limits, and one inspect per container is what we avoid).
            cpus=cpus,
            memory_mb=memory,
        )
    except (KeyError, ValueError, TypeError):
        raise ValueError(summary_name(summary))


def managed_containers(summaries, deployments=None):
    """(replicas sorted by deployment, revision, replica; names of managed
    containers whose labels are unreadable). `deployments` filters."""
    found, unreadable = [], []
    for summary in summaries:
        try:
            container = decode_container(summary)
        except ValueError:
            unreadable.append(summary_name(summary))
            continue
        if container is None or (deployments is not None and container['deployment'] not in deployments):
            continue
        found.append(container)
    found.sort(key=lambda c: (c['deployment'], c['revision'], c['replica'], c['name']))
    return found, sorted(unreadable)


def containers_by_name(summaries):
    """{name: replica dict, or dict(managed=False) for a container that is not ours}."""
    by_name = {}
    for summary in summaries:
        try:
            container = decode_container(summary)
        except ValueError:
            container = None
        if container is None:
            container = dict(name=summary_name(summary), running=summary.get('State') == 'running')
            container['managed'] = False
        else:
            container['managed'] = True
        by_name[container['name']] = container
    return by_name


def port_owners(summaries, listening):
    """{host port: who holds it}: ports containers publish, the label port of
    every replica (a stopped one publishes nothing but will again), and ports
    programs listen on."""
    owners = dict((port, 'a program listening on it') for port in listening)
    for summary in summaries:
        name = summary_name(summary)
        for binding in summary.get('Ports') or []:
            if binding.get('PublicPort'):
                owners[int(binding['PublicPort'])] = 'container %s' % name
        label = (summary.get('Labels') or {}).get(rp.LABEL_PORT)
        if label and rp.LABEL_MANAGED in (summary.get('Labels') or {}):
            try:
                owners.setdefault(int(label), 'container %s' % name)
            except ValueError:
                pass
    return owners


def ports_in_range(ports, low, high):
    return sorted(p for p in set(ports) if low <= p <= high)


def image_references(image_summaries):
    """Sorted repo:tag and repo@digest references of the engine's images."""
    refs = set()
    for image in image_summaries:
        for ref in (image.get('RepoTags') or []) + (image.get('RepoDigests') or []):
            if ref and not ref.startswith('<none>'):
                refs.add(ref)
    return sorted(refs)


def memory_mb(meminfo_text):
    """MemTotal of /proc/meminfo in MB."""
    for line in meminfo_text.splitlines():
        fields = line.split()
        if fields and fields[0] == 'MemTotal:':
            return int(fields[1]) // 1024
    raise StoreError("/proc/meminfo has no MemTotal line")


def probe_host(bind_address):
    """Where the module reaches a port published on bind_address."""
    if bind_address in ('', '0.0.0.0', '::', '[::]'):
        return '127.0.0.1'
    if ':' in bind_address and not bind_address.startswith('['):
        return '[%s]' % bind_address
    return bind_address


def validate_port_range(port_range):
    if len(port_range) != 2 or not 1 <= port_range[0] <= port_range[1] <= 65535:
        raise StoreError("port_range must be [low, high] with 1 <= low <= high <= 65535, got %s" % (port_range,))
    return port_range[0], port_range[1]


# --- starting containers -------------------------------------------------------------------

class Start(object):
    """One container an app_containers call asks for."""

    def __init__(self, deployment, revision, replica, port, image, cpus, memory_mb, env, fingerprint):
        self.deployment = deployment
        self.revision = revision
        self.replica = replica
        self.port = port
        self.image = image
        self.cpus = cpus
        self.memory_mb = memory_mb
        self.env = env
        self.fingerprint = fingerprint
        # The port the planner chose; `port` is the one the container gets.
        self.planned_port = port
        self.name = naming.container_name(deployment, revision, replica)
        self.stop_timeout = rp.stop_timeout(env)

    def on_port(self, port):
        """The same container on another host port (the planned one stays known)."""
        other = copy.copy(self)
        other.port = port
        return other

    @property
    def moved(self):
        return self.port != self.planned_port

    def as_dict(self):
        return dict(deployment=self.deployment, revision=self.revision, replica=self.replica,
                    name=self.name, port=self.port)

    def labels(self):
        return rp.container_labels(self.deployment, self.revision, self.replica, self.port, self.fingerprint,
                                   self.image, self.cpus, self.memory_mb)


def validate_secrets(secrets):
    """Secrets by deployment: names checked, never values shown."""
    for deployment, values in secrets.items():
        naming.validate_deployment_name(deployment)
        if not isinstance(values, dict):
            raise StoreError("secrets of %s must be a dict of NAME: value" % deployment)
        rp.validate_env(values, 'secret of %s:' % deployment)


def validate_starts(entries):
    """The `start` entries as Start objects, every problem refused before anything changes."""
    starts, names, ports = [], set(), {}
    for entry in entries:
        naming.validate_deployment_name(entry['deployment'])
        where = 'start entry %s r%s-%s' % (entry['deployment'], entry['revision'], entry['replica'])
        if entry['revision'] < 1 or entry['replica'] < 1:
            raise StoreError("%s: revision and replica must be 1 or more" % where)
        if not 1 <= entry['port'] <= 65535:
            raise StoreError("%s: port must be 1 to 65535, got %d" % (where, entry['port']))
        rp.validate_image(entry['image'])
        if not entry['cpus'] > 0:
            raise StoreError("%s: cpus must be more than 0, got %s" % (where, entry['cpus']))
        if entry['memory_mb'] < MIN_MEMORY_MB:
            raise StoreError("%s: memory_mb must be %d or more, got %d" % (where, MIN_MEMORY_MB, entry['memory_mb']))
        if not _FINGERPRINT_RE.match(entry['fingerprint'] or ''):
            raise StoreError("%s: fingerprint must be 1 to 64 letters, digits, '.', '_' or '-'" % where)
        env = entry.get('env') or {}
        rp.validate_env(env, '%s: env' % where)
        env = dict((k, str(v)) for k, v in env.items())
        start = Start(entry['deployment'], entry['revision'], entry['replica'], entry['port'], entry['image'],
                      float(entry['cpus']), entry['memory_mb'], env, entry['fingerprint'])
        if start.name in names:
            raise StoreError("container %s is listed twice in start" % start.name)
        if start.port in ports:
            raise StoreError("port %d is given to both %s and %s" % (start.port, ports[start.port], start.name))
        names.add(start.name)
        ports[start.port] = start.name
        starts.append(start)
    return sorted(starts, key=lambda s: (s.deployment, s.revision, s.replica))


def validate_stops(names, starts):
    started = set(s.name for s in starts)
    for name in names:
        if naming.parse_container_name(name) is None:
            raise StoreError("%r in stop is not a container name of this collection (lg-<deployment>-r<revision>-<replica>)"
                             % (name,))
        if name in started:
            raise StoreError("container %s is listed in both start and stop" % name)
    return sorted(set(names))


def ca_binds(tls_ca, exists=os.path.isfile):
    """The bind mount of the fleet's CA certificate into the containers
    (read-only, at the path the URIs name), or {} without tls_ca. A missing
    file is refused before anything starts: Docker would create a directory
    in its place and the servers would fail to connect."""
    if not tls_ca:
        return {}
    if not exists(CA_FILE):
        raise StoreError("the fleet's CA certificate %s is missing on this host: run playbooks/site.yml (the docker "
                         "role installs langgraph_tls_ca_file there) before deploying with TLS" % CA_FILE)
    return {CA_FILE: dict(bind=CA_FILE, mode='ro')}


def container_environment(env, secrets):
    """The environment a container gets: its env, then the deployment's secrets,
    with DATABASE_URI and REDIS_URI normalized (see uris.normalize_uri)."""
    environment = dict(env)
    environment.update((k, str(v)) for k, v in (secrets or {}).items())
    for key in URI_VARIABLES:
        if environment.get(key):
            environment[key] = normalize_uri(environment[key])
    return environment


class StartPlan(object):
    """Containers to create, to start again, to keep as they run (each on
    the host port it gets), and the deployments that fail before anything is
    done for them."""

    def __init__(self):
        self.create = []
        self.restart = []
        self.keep = []
        self.failed = {}
        self.skipped = []

    @property
    def changed(self):
        return bool(self.create or self.restart)


def start_problem(start, existing, missing_images):
    """Why `start` cannot be done, or None. existing: the container of that name.
    A taken host port is no problem here: choose_ports finds another."""
    if existing is not None:
        if not existing['managed']:
            return ("a container named %s exists that selfhost.langgraph does not manage (no %s label); "
                    "remove or rename it" % (start.name, rp.LABEL_MANAGED))
        if existing['fingerprint'] != start.fingerprint:
            return ("container %s exists with another image or environment (fingerprint %s, wanted %s); "
                    "revisions are immutable: start a new revision" % (start.name, existing['fingerprint'], start.fingerprint))
        return None
    if start.image in missing_images:
        return "image %s is not on this host: pull it first (app_images)" % start.image
    return None


def lowest_free_port(taken, low, high):
    """The lowest port of [low, high] not in `taken`, or None."""
    for port in range(low, high + 1):
        if port not in taken:
            return port
    return None


def choose_ports(creates, owners, low, high):
    """{container name: host port or None} for the containers to create: its
    planned port when nobody holds it, else the lowest port of [low, high]
    that nobody holds and no other entry of the call plans or got (None when
    there is none). owners: {port: who holds it} (see port_owners)."""
    taken = set(owners)
    taken.update(s.planned_port for s in creates)
    chosen = {}
    for start in creates:
        if start.planned_port not in owners:
            chosen[start.name] = start.planned_port
            continue
        port = lowest_free_port(taken, low, high)
        chosen[start.name] = port
        if port is not None:
            taken.add(port)
    return chosen


def no_free_port_reason(start, owners, low, high):
    return ("host port %d of %s is taken by %s and no port of %d-%d is free"
            % (start.planned_port, start.name, owners[start.planned_port], low, high))


def plan_starts(starts, existing_by_name, owners, missing_images, skip, port_range=DEFAULT_PORT_RANGE):
    """Sorts the wanted containers into create, restart and keep, each on the
    port it gets (a container of that name keeps its own port; a new one its
    planned port when free, else the lowest free one of port_range); a
    deployment with any entry that cannot be done gets nothing and is reported
    failed."""
    plan = StartPlan()
    skip = set(skip)
    active = []
    for start in starts:
        if start.deployment in skip:
            if start.deployment not in plan.skipped:
                plan.skipped.append(start.deployment)
            continue
        active.append(start)
        problem = start_problem(start, existing_by_name.get(start.name), missing_images)
        if problem:
            plan.failed.setdefault(start.deployment, problem)
    creates = [s for s in active if s.deployment not in plan.failed and s.name not in existing_by_name]
    low, high = port_range
    ports = choose_ports(creates, owners, low, high)
    for start in creates:
        if ports[start.name] is None:
            plan.failed.setdefault(start.deployment, no_free_port_reason(start, owners, low, high))
    for start in active:
        if start.deployment in plan.failed:
            continue
        existing = existing_by_name.get(start.name)
        if existing is None:
            plan.create.append(start.on_port(ports[start.name]))
        elif existing['running']:
            plan.keep.append(start.on_port(existing['port']))
        else:
            plan.restart.append(start.on_port(existing['port']))
    return plan


def moved_ports(starts):
    """{container name: {planned, port}} of the containers on another host port
    than the planner chose."""
    return dict((s.name, dict(planned=s.planned_port, port=s.port)) for s in starts if s.moved)


def port_in_use_error(text):
    """Whether Docker refused a start because the host port is in use (a
    program bound it between our look and the start)."""
    text = text.lower()
    return 'port is already allocated' in text or 'address already in use' in text


def judge_health(pending, answers, states, timed_out):
    """One round of the health gate. pending: names; answers: {name: HTTP
    status or None}; states: {name: Docker state} of the containers that exist.
    Returns (healthy names, {name: 'exited' | 'gone' | 'timeout'})."""
    healthy, failed = [], {}
    for name in sorted(pending):
        if answers.get(name) == 200:
            healthy.append(name)
        elif name not in states:
            failed[name] = 'gone'
        elif states[name] != 'running':
            failed[name] = 'exited'
        elif timed_out:
            failed[name] = 'timeout'
    return healthy, failed


def first_failure_per_deployment(failures, deployment_of):
    """{deployment: reason} from {container name: reason}: the first container
    (by name) of each deployment speaks for it."""
    grouped = {}
    for name in sorted(failures):
        grouped.setdefault(deployment_of[name], failures[name])
    return grouped


def undo_steps(plan, created, failed):
    """What a failed deployment loses: every container this call created for
    it (removed) and every stopped one it started again (stopped again)."""
    remove = sorted(s.name for s in plan.create if s.deployment in failed and s.name in created)
    stop = sorted(s.name for s in plan.restart if s.deployment in failed)
    return remove, stop


def deployment_of(name):
    """The deployment of a container name (validated before)."""
    return naming.parse_container_name(name)[0]


def merge_failures(*failures):
    """{deployment: reason}, the first reason of a deployment kept."""
    merged = {}
    for failed in failures:
        for deployment, reason in failed.items():
            merged.setdefault(deployment, reason)
    return merged


def plan_stops(names, existing_by_name, skip):
    """(names to stop, {deployment: reason} for names that are not ours).
    Names that do not exist are already gone: nothing to do, no error."""
    stop, refused = [], {}
    for name in names:
        deployment = naming.parse_container_name(name)[0]
        if deployment in skip:
            continue
        existing = existing_by_name.get(name)
        if existing is None:
            continue
        if not existing['managed']:
            refused.setdefault(deployment, "container %s is not managed by selfhost.langgraph (no %s label); left alone"
                               % (name, rp.LABEL_MANAGED))
            continue
        stop.append(name)
    return stop, refused


# --- migrations ----------------------------------------------------------------------------

class Migration(object):

    def __init__(self, deployment, revision, image, command, env):
        self.deployment = deployment
        self.revision = revision
        self.image = image
        self.command = command
        self.env = env
        self.name = naming.migration_container_name(deployment, revision)


def validate_migrations(entries):
    migrations, seen = [], set()
    for entry in entries:
        naming.validate_deployment_name(entry['deployment'])
        where = 'migration of %s revision %s' % (entry['deployment'], entry['revision'])
        if entry['deployment'] in seen:
            raise StoreError("%s: one migration per deployment and call (results are per deployment)" % where)
        seen.add(entry['deployment'])
        if entry['revision'] < 1:
            raise StoreError("%s: revision must be 1 or more" % where)
        rp.validate_image(entry['image'])
        if not entry['command']:
            raise StoreError("%s: command must name the migration, for example [migrate]" % where)
        env = entry.get('env') or {}
        rp.validate_env(env, '%s: env' % where)
        migrations.append(Migration(entry['deployment'], entry['revision'], entry['image'],
                                    [str(c) for c in entry['command']], dict((k, str(v)) for k, v in env.items())))
    return sorted(migrations, key=lambda m: m.deployment)


_STILL_RUNNING = ('created', 'running', 'restarting', 'paused')


def finished_migrations(pending, states, timed_out):
    """(names that ended, names still running at the deadline) of one look
    at the migration containers; states: {name: Docker state}."""
    ended, overdue = [], []
    for name in sorted(pending):
        if states.get(name) not in _STILL_RUNNING:
            ended.append(name)
        elif timed_out:
            overdue.append(name)
    return ended, overdue


def migration_outcome(migration, rc, output, timeout):
    """(result, failure reason or None) of a finished or timed-out (rc None) migration."""
    result = dict(revision=migration.revision, rc=rc, output=output)
    if rc is None:
        return result, ("the migration of revision %d (%s) did not finish within %d s and was killed; its last output lines:\n%s"
                        % (migration.revision, ' '.join(migration.command), timeout, output))
    if rc != 0:
        return result, ("the migration of revision %d (%s) exited %d; its last output lines:\n%s"
                        % (migration.revision, ' '.join(migration.command), rc, output))
    return result, None


# --- images --------------------------------------------------------------------------------

def _without_tag(reference):
    head, slash, last = reference.rpartition('/')
    name, _colon, tag = last.partition(':')
    return head + slash + name, tag


def split_reference(image):
    """(repository, tag or digest) for a pull: a digest wins over a tag, no tag means latest.
    Never an empty tag: Docker would pull every tag of the repository."""
    reference, _at, digest = image.partition('@')
    repository, tag = _without_tag(reference)
    return repository, digest or tag or 'latest'


def familiar_repository(repository):
    """Docker Hub names as Docker shows them: docker.io/library/redis -> redis."""
    for prefix in ('docker.io/', 'index.docker.io/'):
        if repository.startswith(prefix):
            repository = repository[len(prefix):]
            if repository.startswith('library/'):
                repository = repository[len('library/'):]
    return repository


def repo_digest(image, repo_digests):
    """The digest (sha256:...) the registry gave `image`, from the image's
    RepoDigests, or None (an image built here was never pulled)."""
    repository = familiar_repository(split_reference(image)[0])
    for entry in repo_digests or []:
        name, _sep, digest = entry.partition('@')
        if familiar_repository(name) == repository and _DIGEST_RE.match(digest):
            return digest
    return None


def pinned_reference(image, digest):
    return None if digest is None else '%s@%s' % (split_reference(image)[0], digest)


def removal_plan(images, image_ids, used_ids, image_tags=None):
    """(images to remove, images in use that stay). image_ids: {image: Id or
    None when absent}; used_ids: image Ids of every container, any state;
    image_tags: {image: the repo:tag references of its image}. A digest
    reference (repo@sha256:...) whose image keeps a tag that is not removed
    stays: removing it would only strip the digest from that tag, and a
    revision made from the tag could then not be pinned."""
    remove, in_use = [], []
    removing = set(images)
    for image in images:
        image_id = image_ids.get(image)
        if image_id is None:
            continue
        if '@' in image and any(tag not in removing for tag in (image_tags or {}).get(image) or []):
            continue
        (in_use if image_id in used_ids else remove).append(image)
    return remove, in_use
