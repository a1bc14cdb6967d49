# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deployment entry: defaults, coercion, validation, one message for every problem."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.selfhost.langgraph.plugins.module_utils.deployment import (
    DeploymentError, parse_deployments, replica_bounds, secrets_of, select)

IMAGE = 'registry.example.com/bot:1'


def entry(**over):
    base = dict(name='support-bot', image=IMAGE, lb_port=8123)
    base.update(over)
    return base


def parse(*entries, **context):
    context.setdefault('image_required', True)
    context.setdefault('secrets_key', 'test-key')
    return parse_deployments(list(entries), context)


@pytest.mark.parametrize('over, key, value', [
    ({}, 'type', 'production'),
    ({}, 'min_replicas', 1),
    ({}, 'max_replicas', 10),
    ({'type': 'development'}, 'max_replicas', 1),
    ({'type': 'development'}, 'cpus', 1),
    ({}, 'memory_mb', 2048),
    ({'min_replicas': '2'}, 'min_replicas', 2),          # AWX surveys give strings
    ({'autoscale': 'no'}, 'autoscale', False),
    ({'scale_down_delay': '1h30m'}, 'scale_down_delay', 5400.0),
    ({}, 'scale_down_delay', 1800.0),
    ({'env': {'A': 1, 'B': True}}, 'env', {'A': '1', 'B': 'True'}),
    ({'secrets': {'KEY': 's3cret'}}, 'secret_names', ['KEY']),
    ({}, 'target_concurrency', 10.0),
    ({}, 'keep', False),
    ({'keep': 'yes'}, 'keep', True),
    ({}, 'redis_isolation', 'shared'),
    ({}, 'redis_maxmemory', None),
    ({'redis_isolation': 'instance'}, 'redis_maxmemory', '256mb'),
    ({'redis_isolation': 'instance', 'redis_maxmemory': 1073741824}, 'redis_maxmemory', '1073741824'),
    ({'redis_isolation': 'instance', 'redis_maxmemory': ' 1gb '}, 'redis_maxmemory', '1gb'),
])
def test_defaults_and_coercion(over, key, value):
    assert parse(entry(**over))[0][key] == value


def test_fleet_autoscale_defaults_apply_unless_the_entry_sets_its_own():
    parsed = parse(entry(), entry(name='other', lb_port=9000, target_concurrency=3),
                   autoscale_defaults={'target_concurrency': 5})
    assert [d['target_concurrency'] for d in parsed] == [5.0, 3.0]


def test_no_secret_value_in_the_normalized_entry():
    parsed = parse(entry(secrets={'KEY': 'hunter2-value'}, postgres_password='pw-value-9'))[0]
    assert 'hunter2-value' not in repr(parsed) and 'pw-value-9' not in repr(parsed)


def test_a_source_stands_in_for_the_image():
    parsed = parse(entry(image=None, source={'path': 'lab/sample-app'}))[0]
    assert parsed['image'] is None and parsed['fingerprint'] is None


def test_fingerprint_follows_image_env_and_secret_names():
    a = parse(entry())[0]['fingerprint']
    assert parse(entry(env={'X': '1'}))[0]['fingerprint'] != a
    assert parse(entry(secrets={'K': 'v'}))[0]['fingerprint'] != a
    assert parse(entry(image='registry.example.com/bot:2'))[0]['fingerprint'] != a
    assert parse(entry())[0]['fingerprint'] == a


@pytest.mark.parametrize('over, words', [
    ({'max_replica': 3}, ['unknown key max_replica (did you mean max_replicas?)', 'valid keys: name, image']),
    ({'secret': {}}, ['unknown key secret (did you mean secrets?)']),
    ({'min_replicas': 'two'}, ['min_replicas must be a whole number, not \'two\'']),
    ({'min_replicas': 0}, ['1 <= min_replicas <= max_replicas <= 10']),
    ({'max_replicas': 11}, ['<= 10 for a production deployment (got 1..11)']),
    ({'type': 'development', 'max_replicas': 2}, ['<= 1 for a development deployment']),
    ({'min_replicas': 4, 'max_replicas': 3}, ['(got 4..3)']),
    ({'type': 'staging'}, ["type must be development or production, not 'staging'"]),
    ({'name': 'Bad_Name'}, ['invalid deployment name']),
    ({'name': 'postgres'}, ['is reserved']),
    ({'image': None}, ['image is missing']),
    ({'source': {'path': 'app'}}, ['has both image and source: give image (a ready image) or source']),
    ({'image': None, 'source': {'git': 'https://example.com/app.git'}}, ['source.ref is missing']),
    ({'image': None, 'source': 'app'}, ["source must be a mapping, not 'app'"]),
    ({'image': 'UPPER/Case:x'}, ['invalid image reference']),
    ({'lb_port': None}, ['has neither lb_port nor a host name: set lb_port (plain HTTP on a port of its own), or '
                         'hostname (or langgraph_domain, for <name>.<domain>) to serve it on the HTTPS edge']),
    ({'lb_port': 70000}, ['lb_port must be a port from 1 to 65535']),
    ({'lb_port': 8404}, ['lb_port 8404 is taken by the HAProxy statistics page']),
    ({'hostname': 'Bot_1.example.com'}, ["hostname 'Bot_1.example.com' is not a valid DNS name"]),
    ({'hostname': 'bot'}, ['needs a domain']),
    ({'env': {'1BAD': 'x'}}, ["env name '1BAD' is not a valid environment variable name"]),
    ({'env': {'DATABASE_URI': 'x'}}, ['env must not set DATABASE_URI']),
    ({'secrets': {'REDIS_URI': 'x'}}, ['secret must not set REDIS_URI']),
    ({'secrets': {'API-TOKEN': 'x'}}, ["secret name 'API-TOKEN' is not a valid environment variable name"]),
    ({'secrets': {'API_TOKEN': None}}, ['secret API_TOKEN must be a string or a number']),
    ({'secrets': {'API_TOKEN': ''}}, ['secret API_TOKEN must not be empty']),
    ({'env': {'A': {'nested': 1}}}, ['env A must be a string or a number']),
    ({'migrate_command': 'migrate'}, ['migrate_command must be a list']),
    ({'migrate_command': []}, ['migrate_command must be a non-empty list']),
    ({'postgres_host': 'pg9'}, ['postgres_host pg9 is not a host of group langgraph_postgres (its hosts: pg1, pg2)']),
    ({'redis_host': 'r9'}, ['redis_host r9 is not a host of group langgraph_redis']),
    ({'scale_down_delay': 'soon'}, ['scale_down_delay must be a duration']),
    ({'target_concurrency': 0}, ['target_concurrency must be greater than 0']),
    ({'autoscale_tolerance': 1.5}, ['autoscale_tolerance must be a fraction']),
    ({'secrets': 'KEY=value'}, ['secrets must be a mapping, not (hidden)']),
    ({'redis_isolation': 'dedicated'}, ["redis_isolation must be shared or instance, not 'dedicated'"]),
    ({'redis_maxmemory': '1gb'}, ['redis_maxmemory applies only to a dedicated Redis: set redis_isolation: instance']),
    ({'redis_isolation': 'instance', 'redis_maxmemory': 'lots'},
     ["redis_maxmemory must be a memory size such as 256mb or 1gb (units k, kb, m, mb, g, gb), not 'lots'"]),
    ({'redis_isolation': 'instance', 'redis_maxmemory': '1mb'}, ['redis_maxmemory must be at least 8mb']),
])
def test_bad_entries_are_named_with_what_to_fix(over, words):
    with pytest.raises(DeploymentError) as caught:
        parse(entry(**over), postgres_hosts=['pg1', 'pg2'], redis_hosts=['r1'],
              reserved_ports={8404: 'the HAProxy statistics page'})
    message = str(caught.value)
    assert 'nothing was changed' in message
    for word in words:
        assert word in message, message


def test_every_problem_of_every_entry_in_one_message():
    with pytest.raises(DeploymentError) as caught:
        parse(entry(max_replica=3, min_replicas='two'), entry(name='b', secret={}, lb_port=8123), 'nonsense')
    message = str(caught.value)
    assert message.startswith('langgraph_deployments has 6 problems')
    for words in ('entry 1 (support-bot): unknown key max_replica', 'entry 1 (support-bot): min_replicas must be',
                  'entry 2 (b): invalid deployment name', 'entry 2 (b): unknown key secret',
                  'entry 3: must be a mapping', 'support-bot and b have the same lb_port 8123'):
        assert words in message, message


def test_duplicate_names():
    with pytest.raises(DeploymentError, match='have the same name support-bot'):
        parse(entry(), entry(lb_port=9000))


@pytest.mark.parametrize('over, domain, hostname', [
    ({}, '', None),
    ({}, 'agents.example.com', 'support-bot.agents.example.com'),
    ({'hostname': 'chat.example.org'}, 'agents.example.com', 'chat.example.org'),
    ({'hostname': 'chat.example.org'}, '', 'chat.example.org'),
])
def test_hostname_is_its_own_or_name_dot_domain(over, domain, hostname):
    assert parse(entry(**over), domain=domain)[0]['hostname'] == hostname


def test_duplicate_host_names_and_a_bad_domain():
    with pytest.raises(DeploymentError, match='support-bot and other have the same host name support-bot.a.example'):
        parse(entry(), entry(name='other', lb_port=9000, hostname='support-bot.a.example'), domain='a.example')
    with pytest.raises(DeploymentError, match="langgraph_domain 'Agents' needs a domain"):
        parse(entry(), domain='Agents')


def test_lb_port_not_needed_for_stores_only():
    assert parse(entry(lb_port=None), lb_port_required=False)[0]['lb_port'] is None


NO_EDGE = "the load balancers have no HTTPS edge (haproxy_edge_enabled is off on lb2)"


@pytest.mark.parametrize('over, context, lb_port, hostname', [
    # Served by host name only, through the edge (lb_port optional with a host name).
    ({'lb_port': None}, dict(domain='a.example'), None, 'support-bot.a.example'),
    ({'lb_port': None, 'hostname': 'chat.example.org'}, {}, None, 'chat.example.org'),
    ({'lb_port': None}, dict(domain='a.example', lb_without_edge=[], edge_required=True), None,
     'support-bot.a.example'),
    # Both: plain HTTP on its port and HTTPS by name.
    ({}, dict(domain='a.example', lb_without_edge=[], edge_required=True), 8123, 'support-bot.a.example'),
    # No edge on some load balancer: a host name from the domain is dropped, nothing routes it.
    ({}, dict(domain='a.example', lb_without_edge=['lb2'], edge_required=True), 8123, None),
    ({}, dict(domain='a.example', lb_without_edge=['lb2'], edge_required=False), 8123, None),
    # Status and delete runs do not refuse what the edge cannot serve; an explicit name stays (delete removes it).
    ({'hostname': 'chat.example.org'}, dict(lb_without_edge=['lb2'], edge_required=False), 8123, 'chat.example.org'),
    ({'lb_port': None}, dict(domain='a.example', lb_without_edge=['lb2'], edge_required=False), None, None),
    # Edge unknown (no lb_without_edge): nothing is dropped.
    ({}, dict(domain='a.example', edge_required=True), 8123, 'support-bot.a.example'),
])
def test_lb_port_or_host_name(over, context, lb_port, hostname):
    parsed = parse(entry(**over), **context)[0]
    assert (parsed['lb_port'], parsed['hostname']) == (lb_port, hostname)


@pytest.mark.parametrize('over, context, words', [
    ({'lb_port': None}, dict(domain='a.example', lb_without_edge=['lb2'], edge_required=True),
     'entry 1 (support-bot): has no lb_port and %s: set lb_port, or enable the edge' % NO_EDGE),
    ({'lb_port': None, 'hostname': 'chat.example.org'}, dict(lb_without_edge=['lb2'], edge_required=True),
     'entry 1 (support-bot): has no lb_port and %s: set lb_port, or enable the edge' % NO_EDGE),
    ({'hostname': 'chat.example.org'}, dict(lb_without_edge=['lb2'], edge_required=True),
     'entry 1 (support-bot): has hostname chat.example.org but %s: enable the edge, or remove hostname and serve it '
     'on its lb_port' % NO_EDGE),
    ({'lb_port': None}, dict(lb_without_edge=[], edge_required=True), 'has neither lb_port nor a host name'),
    ({'lb_port': None}, dict(edge_required=False), 'has neither lb_port nor a host name'),
])
def test_what_the_edge_cannot_serve_is_refused(over, context, words):
    with pytest.raises(DeploymentError) as caught:
        parse(entry(**over), **context)
    assert words in str(caught.value)
    assert 'has 1 problem; nothing was changed' in str(caught.value)


def test_image_not_needed_to_scale_or_delete():
    assert parse(entry(image=None), image_required=False)[0]['image'] is None


def test_not_a_list():
    with pytest.raises(DeploymentError, match='must be a list'):
        parse_deployments({'name': 'x'})


@pytest.mark.parametrize('kind, low, high, expected', [
    ('production', None, None, (1, 10)),
    ('production', 2, 4, (2, 4)),
    ('development', None, None, (1, 1)),
    ('production', 0, 4, None),
    ('production', 2, 12, None),
    ('development', 1, 2, None),
])
def test_replica_bounds(kind, low, high, expected):
    assert replica_bounds(kind, low, high)[0] == expected


def test_select():
    parsed = parse(entry(), entry(name='other-bot', lb_port=9000))
    assert [d['name'] for d in select(parsed, '')] == ['support-bot', 'other-bot']
    assert [d['name'] for d in select(parsed, 'other-bot')] == ['other-bot']
    with pytest.raises(DeploymentError, match='did you mean other-bot'):
        select(parsed, 'other-boot')


def test_secrets_of():
    assert secrets_of([entry(secrets={'K': 1}), entry(name='x')]) == {'support-bot': {'K': '1'}}


def test_changing_a_secret_value_changes_the_fingerprint_and_no_value_is_kept():
    one = parse(entry(secrets={'KEY': 'first-value'}), secrets_key='fleet-key')[0]
    two = parse(entry(secrets={'KEY': 'second-value'}), secrets_key='fleet-key')[0]
    again = parse(entry(secrets={'KEY': 'first-value'}), secrets_key='fleet-key')[0]
    assert one['fingerprint'] != two['fingerprint'] and one['fingerprint'] == again['fingerprint']
    assert 'first-value' not in repr(one)
    # Keyed: another key gives another fingerprint for the same value.
    assert parse(entry(secrets={'KEY': 'first-value'}), secrets_key='other-key')[0]['fingerprint'] != one['fingerprint']
    # Without secrets the fingerprint is what it always was.
    assert parse(entry(), secrets_key='fleet-key')[0]['fingerprint'] == parse(entry())[0]['fingerprint']


def test_secrets_without_a_key_are_refused():
    with pytest.raises(DeploymentError, match='secrets need a key'):
        parse(entry(secrets={'KEY': 'v'}), secrets_key='')
