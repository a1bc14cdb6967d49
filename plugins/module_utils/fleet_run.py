# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A run in progress: after each step, the per-host results are folded into
the run's state (which deployments failed and why, which hosts stopped
answering), and the arguments of the next steps follow from the plan and that
state. Pure: the fleet_progress action reads the results and calls these.

A host whose step failed or that did not answer is down for the rest of the
run; a deployment that failed is left alone by every later step and undone
at the end (its old servers back in rotation, its new containers removed),
unless the plan says to keep what a failed roll-out had already switched
(deploy_on_failure: keep), which leaves it as it failed for inspection.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.selfhost.langgraph.plugins.module_utils.naming import parse_container_name, server_name


def new_run(down=None):
    """The state of a run before it acts: the hosts found down when observing."""
    return dict(failed={}, down=dict(down or {}), touched=[], digests={}, pinned={}, started=0, switched=0,
                switched_deployments=[], lines=[], ports={})


def refresh(plan, run):
    """The run with the arguments of every later step worked out from the plan and what happened."""
    run['skip'] = sorted(run['failed'])
    run['waves_lb'] = [with_ports(wave['lb'], run['ports']) for wave in plan['waves']]
    run['waves_start'] = [with_pinned(wave['start'], run['pinned']) for wave in plan['waves']]
    run['migrations'] = with_pinned(plan['migrations'], run['pinned'])
    run['record'] = record_arguments(plan, run)
    run['stores'] = stores_arguments(plan, run)
    run['undo'] = with_ports(undo_backends(plan, run), run['ports'])
    run['stop'] = stop_lists(plan, run)
    run['finish'] = finish_arguments(plan, run)
    run['message'] = failure_message(plan, run)
    return run


def _host_problem(result):
    """Why a host's step result is no answer at all, or None."""
    if result is None:
        return None
    if result.get('unreachable'):
        return 'did not answer (%s)' % (result.get('msg') or 'unreachable').strip().splitlines()[0]
    if result.get('failed'):
        return 'failed: %s' % (result.get('msg') or 'no message').strip()
    return None


def _fail(run, deployment, reason):
    if deployment not in run['failed']:
        run['failed'][deployment] = reason


def _note_down(run, host, problem, step):
    run['down'][host] = '%s %s' % (step, problem)


def after_pulls(plan, run, results):
    """results: {app host: app_images result}. Failed pulls fail the deployments
    that would start that image there; digests are kept for the revision records."""
    for host, pulls in sorted(plan['pulls'].items()):
        result = results.get(host)
        problem = _host_problem(result)
        if problem:
            _note_down(run, host, problem, 'pull')
        for image, info in sorted(((result or {}).get('images') or {}).items()):
            if info.get('digest') and image not in run['digests']:
                run['digests'][image] = info['digest']
                run['pinned'][image] = info.get('pinned') or image
        failed_images = {} if problem else dict((result or {}).get('failures') or {})
        for wave in plan['waves']:
            for start in wave['start'].get(host, []):
                if problem:
                    _fail(run, start['deployment'], 'app host %s %s while pulling %s' % (host, problem, start['image']))
                elif start['image'] in failed_images:
                    _fail(run, start['deployment'], 'pulling %s on %s failed: %s'
                          % (start['image'], host, failed_images[start['image']]))
    pulled = len(plan['pulls'])
    run['lines'].append('pull: %d host(s), %d image(s); %s' % (
        pulled, sum(len(v) for v in plan['pulls'].values()), _failures_text(run)))
    return run


def record_arguments(plan, run):
    """control_state step=prepare: revisions with the digests pulled, statuses
    (failed for what already failed), pins and scale events."""
    record = plan['record']
    revisions = []
    for revision in record['revisions']:
        revision = dict(revision)
        # A rollback's new revision keeps the digest of the one it copies; a new image has its pull's.
        revision['image_digest'] = revision.get('image_digest') or run['digests'].get(revision['image'])
        revisions.append(revision)
    statuses = []
    for status in record['statuses']:
        if status['deployment'] in run['failed']:
            statuses.append(dict(status, status='failed', reason=run['failed'][status['deployment']][:500]))
        else:
            statuses.append(status)
    return dict(revisions=revisions, statuses=statuses, assignments=record['assignments'],
                scale_events=_scale_events(plan) if _applies(plan) else [])


def _applies(plan):
    """Whether a scale decision of the run changes a count (then prepare records the decisions, for their ids)."""
    return any(e['apply'] for e in plan['record']['scale_events'])


def _scale_events(plan):
    return [dict((k, v) for k, v in e.items() if k != 'apply') for e in plan['record']['scale_events']]


def stores_arguments(plan, run):
    return [s for s in plan['stores'] if s['name'] not in run['failed']]


def after_stores(plan, run, result):
    if not run['stores']:
        return run
    problem = _host_problem(result)
    for store in plan['stores']:
        if problem:
            _fail(run, store['name'], 'allocating its stores on the control host %s' % problem)
        elif store['name'] in ((result or {}).get('failures') or {}):
            _fail(run, store['name'], 'its stores: %s' % result['failures'][store['name']])
    return run


def after_instances(plan, run, result):
    """Fold the dedicated Redis instances' step (one looped call per Redis host, items {key: host, value:
    [instances]}) in: every deployment of a host whose call failed or did not answer fails."""
    for item in (result or {}).get('results') or []:
        problem = _host_problem(item)
        if not problem:
            continue
        host = (item.get('item') or {}).get('key')
        for instance in (item.get('item') or {}).get('value') or []:
            _fail(run, instance['name'], 'its dedicated Redis on %s %s' % (host, problem))
    return run


def after_migrations(plan, run, results):
    for host, migrations in sorted(plan['migrations'].items()):
        result = results.get(host)
        problem = _host_problem(result)
        if problem:
            _note_down(run, host, problem, 'migrate')
        for migration in migrations:
            name = migration['deployment']
            if problem:
                _fail(run, name, 'app host %s %s during the migration' % (host, problem))
            elif name in ((result or {}).get('failures') or {}):
                _fail(run, name, 'the migration of revision %d failed on %s: %s'
                      % (migration['revision'], host, result['failures'][name]))
    if plan['migrations']:
        run['lines'].append('migrate: %d revision(s); %s' % (
            sum(len(v) for v in plan['migrations'].values()), _failures_text(run)))
    return run


def after_start(plan, run, wave_index, results):
    wave = plan['waves'][wave_index]
    started = 0
    for host, entries in sorted(wave['start'].items()):
        result = results.get(host)
        problem = _host_problem(result)
        if host in run['down'] and result is None:
            problem = 'is down (%s)' % run['down'][host]
        if problem:
            _note_down(run, host, problem, 'start')
        for entry in entries:
            name = entry['deployment']
            if name not in run['touched']:
                run['touched'].append(name)
            if problem:
                _fail(run, name, 'app host %s %s while starting its containers' % (host, problem))
            elif name in ((result or {}).get('failures') or {}):
                _fail(run, name, 'on %s: %s' % (host, result['failures'][name]))
        started += len((result or {}).get('started') or [])
        for container, moved in sorted(((result or {}).get('moved_ports') or {}).items()):
            parsed = parse_container_name(container)
            if parsed:
                # Another run took the planned port meanwhile: the load balancers get the one it runs on.
                name, revision, replica = parsed
                run['ports']['%s/%s' % (name, server_name(host, revision, replica))] = moved['port']
    run['started'] += started
    run['lines'].append('wave %d/%d: started %d container(s) on %d host(s); %s' % (
        wave_index + 1, len(plan['waves']), started, len(wave['start']), _failures_text(run)))
    return run


def with_pinned(per_host, pinned):
    """{host: [entry]} with each new revision's image by the digest its pull reported."""
    if not pinned:
        return per_host
    return dict((host, [dict(e, image=pinned.get(e['image'], e['image'])) for e in entries])
                for host, entries in per_host.items())


def with_ports(backends, ports):
    """Backend entries with each server on the port its container really runs on."""
    if not ports:
        return backends
    fixed = []
    for backend in backends:
        servers = [dict(s, port=ports.get('%s/%s' % (backend['deployment'], s['name']), s['port']))
                   for s in backend.get('servers') or []]
        fixed.append(dict(backend, servers=servers))
    return fixed


def after_switch(plan, run, wave_index, results, lb_hosts):
    """A load balancer that fails is down for the rest of the run (the others
    serve); a deployment whose new servers one LB refused is failed."""
    wave = plan['waves'][wave_index]
    names = [b['deployment'] for b in wave['lb'] if b['deployment'] not in run['failed']]
    for lb in lb_hosts:
        result = results.get(lb)
        problem = _host_problem(result)
        if problem:
            _note_down(run, lb, problem, 'switch')
            continue
        for name, reason in sorted(((result or {}).get('failures') or {}).items()):
            _fail(run, name, 'load balancer %s: %s' % (lb, reason))
    switched_now = [n for n in names if n not in run['failed']]
    switched = len(switched_now)
    run['switched'] += switched
    run['switched_deployments'] = sorted(set(run.get('switched_deployments', [])) | set(switched_now))
    run['lines'].append('wave %d/%d: switched %d deployment(s) on %d load balancer(s); %s' % (
        wave_index + 1, len(plan['waves']), switched,
        len([lb for lb in lb_hosts if lb not in run['down']]), _failures_text(run)))
    return run


def kept(plan, run):
    """Failed deployments left as they failed: deploy_on_failure is keep and some wave had switched them."""
    if plan.get('on_failure') != 'keep':
        return []
    return sorted(n for n in run['failed'] if n in run.get('switched_deployments', []))


def undo_backends(plan, run):
    """LB entries that put the failed deployments' old servers back, but for those of hosts that
    went down (they could never answer the health wait; a reconcile deals with them)."""
    down = set(address for host, address in (plan.get('addresses') or {}).items() if host in run['down'])
    entries = []
    left_as_they_failed = kept(plan, run)
    for name in sorted(run['failed']):
        if name in plan['undo'] and name in run['touched'] and name not in left_as_they_failed:
            entry = plan['undo'][name]['lb']
            entries.append(dict(entry, servers=[s for s in entry['servers'] if s['address'] not in down]))
    return entries


def stop_lists(plan, run):
    """{app host: [container]}: old containers of what succeeded, new ones of what failed."""
    stops = {}
    failed = set(run['failed'])
    for host, names in plan['stop'].items():
        for name in names:
            if (parse_container_name(name) or (None,))[0] not in failed:
                stops.setdefault(host, []).append(name)
    for name in sorted(failed - set(kept(plan, run))):
        if name in run['touched'] and name in plan['undo']:
            for host, containers in plan['undo'][name]['stop'].items():
                stops.setdefault(host, []).extend(containers)
    return dict((h, sorted(set(v))) for h, v in stops.items() if h not in run['down'])


def finish_arguments(plan, run):
    """control_state step=finish: deployed or failed, the counts that now hold, which hosts
    answered, and what was done (audit)."""
    statuses = []
    for status in plan['finish']['statuses']:
        name = status['deployment']
        if name in run['failed']:
            statuses.append(dict(status, status='failed', reason=run['failed'][name][:500]))
        else:
            statuses.append(status)
    audit = []
    for entry in plan.get('audit') or []:
        details = dict(entry['details'])
        name = entry['deployment']
        details['outcome'] = 'failed' if name in run['failed'] else 'done'
        if name in run['failed']:
            details['failure'] = run['failed'][name][:500]
        audit.append(dict(entry, details=details))
    replicas = [r for r in plan['finish'].get('replicas') or [] if r['deployment'] not in run['failed']]
    hosts = [dict(name=host, up=host not in run['down'], problem=run['down'].get(host))
             for host in plan.get('hosts') or []]
    return dict(statuses=statuses, replicas=replicas, hosts=hosts, audit=audit,
                scale_events=[] if _applies(plan) else _scale_events(plan))


def applied_counts(plan, run, event_ids):
    """[{deployment, decision_id, applied}] of the autoscale decisions that were applied."""
    applied = []
    for event in plan['record']['scale_events']:
        name = event['deployment']
        if event['apply'] and name not in run['failed'] and name in (event_ids or {}):
            applied.append(dict(deployment=name, decision_id=event_ids[name], applied=event['desired']))
    return applied


def failure_message(plan, run):
    """The play's closing failure: every deployment that failed and why, or None."""
    busy = [(n, e['reason']) for n, e in sorted(plan['deployments'].items()) if e['kind'] == 'busy'
            and plan['action'] != 'autoscale']
    if not run['failed'] and not busy:
        return None
    lines = []
    left_as_they_failed = kept(plan, run)
    for name, reason in sorted(run['failed'].items()):
        entry = plan['deployments'].get(name) or {}
        what = '%s of %s' % (plan['action'], name)
        if entry.get('kind') == 'roll-out':
            what += ' revision %s' % entry.get('revision')
        after = ('kept as it failed, as deploy_on_failure=keep asks: the hosts it had switched serve the new '
                 'revision, the others the old one, until the next deploy or reconcile'
                 if name in left_as_they_failed else 'its serving revision keeps serving')
        lines.append('%s failed: %s (%s)' % (what, reason, after))
    lines += ['%s: not acted on: %s' % (n, r) for n, r in busy]
    others = len([n for n, e in plan['deployments'].items() if e['kind'] not in ('busy', 'skipped', 'unchanged')
                  and n not in run['failed']])
    return '%s of %d deployment(s) failed; %d others completed:\n- %s' % (
        len(lines), len(plan['deployments']), others, '\n- '.join(lines))


def _failures_text(run):
    if not run['failed'] and not run['down']:
        return 'no failure'
    parts = ['%d deployment(s) failed (%s)' % (len(run['failed']), ', '.join(sorted(run['failed'])))] \
        if run['failed'] else []
    if run['down']:
        parts.append('down: %s' % ', '.join(sorted(run['down'])))
    return '; '.join(parts)
