# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Grafana dashboard and the alert rules shipped in docs/monitoring/ use only metrics the ticks write
(plugins/module_utils/fleet_metrics.py), and docs/monitoring.md shows the rules as shipped.

promtool is not available here (no Prometheus package can be installed in this environment), so the PromQL
is not compiled: these tests check the structure, the metric and label names, and balanced brackets."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import re

import pytest
import yaml

from ansible_collections.selfhost.langgraph.plugins.module_utils.fleet_metrics import LABELS, NAMES

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
DASHBOARD = os.path.join(ROOT, 'docs', 'monitoring', 'langgraph-dashboard.json')
RULES = os.path.join(ROOT, 'docs', 'monitoring', 'langgraph-rules.yml')
PAGE = os.path.join(ROOT, 'docs', 'monitoring.md')
# PromQL words that look like names: functions, aggregations, keywords.
PROMQL_WORDS = {'by', 'on', 'and', 'or', 'unless', 'max', 'min', 'sum', 'count', 'avg', 'time', 'vector',
                'absent', 'ignoring', 'group_left', 'group_right', 'bool', 'label_values', 'rate', 'offset'}


def metric_names(expr):
    """Every langgraph_ name an expression uses (inside a selector's braces, only label names follow)."""
    return set(re.findall(r'\blanggraph_[a-z0-9_]+\b', expr))


def selectors(expr):
    """(metric, {label names}) of each selector with matchers: name{label=~"..."}."""
    found = []
    for name, body in re.findall(r'\b(langgraph_[a-z0-9_]+)\{([^}]*)\}', expr):
        found.append((name, set(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)', body))))
    return found


def grouping_labels(expr):
    """Labels named in by (...) and on (...)."""
    found = set()
    for group in re.findall(r'\b(?:by|on)\s*\(([^)]*)\)', expr):
        found.update(label.strip() for label in group.split(',') if label.strip())
    return found


def balanced(expr):
    depth = []
    pairs = {')': '(', '}': '{', ']': '['}
    for char in re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr):
        if char in '({[':
            depth.append(char)
        elif char in pairs:
            if not depth or depth.pop() != pairs[char]:
                return False
    return not depth


def check_expr(expr, where):
    used = metric_names(expr)
    assert used, '%s uses none of our metrics: %s' % (where, expr)
    assert used <= set(NAMES), '%s uses metrics nobody writes: %s' % (where, sorted(used - set(NAMES)))
    assert balanced(expr), '%s has unbalanced brackets: %s' % (where, expr)
    for name, labels in selectors(expr):
        assert labels <= set(LABELS[name]), '%s selects %s by labels it does not have: %s' % (
            where, name, sorted(labels - set(LABELS[name])))
    every_label = set(label for name in used for label in LABELS[name])
    assert grouping_labels(expr) <= every_label, '%s groups by labels none of its metrics has: %s' % (where, expr)


def all_panels(panels):
    for panel in panels:
        yield panel
        yield from all_panels(panel.get('panels') or [])


@pytest.mark.parametrize('expr, ok', [
    ('langgraph_host_up == 0', True),
    ('max by (deployment) (langgraph_deployment_servers_up) == 0', True),
    ('langgraph_deployment_replicas', False),  # not ours
    ('langgraph_host_up{zone="a"}', False),  # no such label
    ('sum by (zone) (langgraph_host_up)', False),
    ('sum(langgraph_host_up', False),
    ('up == 0', False),  # none of ours
])
def test_the_checker_itself_tells_good_from_bad(expr, ok):
    try:
        check_expr(expr, 'case')
    except AssertionError:
        assert not ok
    else:
        assert ok


def test_every_dashboard_panel_queries_only_metrics_we_export():
    with open(DASHBOARD) as handle:
        dashboard = json.load(handle)
    panels = list(all_panels(dashboard['panels']))
    ids = [p['id'] for p in panels]
    assert len(ids) == len(set(ids)), 'panel ids repeat'
    queried = set()
    for panel in panels:
        assert panel['title'] and set(panel['gridPos']) == {'x', 'y', 'w', 'h'}, panel
        if panel['type'] == 'row':
            continue
        assert panel['targets'], '%s has no query' % panel['title']
        assert panel['datasource'] == {'type': 'prometheus', 'uid': '${datasource}'}, panel['title']
        ref_ids = [t['refId'] for t in panel['targets']]
        assert len(ref_ids) == len(set(ref_ids)), panel['title']
        for target in panel['targets']:
            check_expr(target['expr'], 'panel %r' % panel['title'])
            queried |= metric_names(target['expr'])
    for variable in dashboard['templating']['list']:
        if variable['type'] == 'query':
            check_expr(variable['definition'], 'variable %s' % variable['name'])
    # Everything we write is on the dashboard (the lock's expiry and the decision's count are in the alerts
    # and the control database; the dashboard shows what a person reads).
    assert set(NAMES) - queried <= {'langgraph_deployment_scale_decision_desired_replicas'}, sorted(set(NAMES) - queried)


def test_the_alert_rules_use_only_metrics_we_export_and_say_what_to_do():
    with open(RULES) as handle:
        rules = yaml.safe_load(handle)
    alerts = {}
    for group in rules['groups']:
        assert group['name'] and group['rules']
        for rule in group['rules']:
            assert set(rule) == {'alert', 'expr', 'for', 'labels', 'annotations'}, rule
            assert rule['alert'] not in alerts
            assert re.match(r'^[0-9]+[smh]$', rule['for']), rule['for']
            assert rule['labels']['severity'] in ('critical', 'warning')
            assert rule['annotations']['summary'] and rule['annotations']['description']
            check_expr(rule['expr'], 'alert %s' % rule['alert'])
            alerts[rule['alert']] = rule
    # The set the issue asks for: deployment down, replicas below desired, lock held past its lease, host down.
    assert {'LangGraphDeploymentDown', 'LangGraphReplicasBelowDesired', 'LangGraphDeployLockPastLease',
            'LangGraphHostDown'} <= set(alerts)


def test_the_monitoring_page_shows_the_rules_as_shipped():
    with open(PAGE) as handle:
        page = handle.read()
    with open(RULES) as handle:
        shipped = handle.read()
    blocks = re.findall(r'```yaml\n(.*?)```', page, re.S)
    assert shipped in blocks, 'docs/monitoring.md must show docs/monitoring/langgraph-rules.yml verbatim'
    for name in NAMES:
        assert '`%s`' % name in page, '%s is not documented in docs/monitoring.md' % name
