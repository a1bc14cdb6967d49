# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""LangSmith tracing and the license key: the environment each combination of settings gives a server."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.selfhost.langgraph.plugins.module_utils.deployment import (
    DeploymentError, parse_deployments, secrets_of)
from ansible_collections.selfhost.langgraph.plugins.module_utils.fleet_status import status_lines
from ansible_collections.selfhost.langgraph.plugins.module_utils.tracing import (
    environment, fleet_settings, merge, summary, summary_text)

ON = {'LANGSMITH_TRACING': 'true', 'LANGCHAIN_TRACING_V2': 'true'}
OFF = {'LANGSMITH_TRACING': 'false', 'LANGCHAIN_TRACING_V2': 'false'}
ENDPOINT = 'http://langsmith.internal:1984'
AT = {'LANGSMITH_ENDPOINT': ENDPOINT, 'LANGCHAIN_ENDPOINT': ENDPOINT}


def project(name):
    return {'LANGSMITH_PROJECT': name, 'LANGCHAIN_PROJECT': name}


def key(value):
    return {'LANGSMITH_API_KEY': value, 'LANGCHAIN_API_KEY': value}


def both(*dicts):
    merged = {}
    for d in dicts:
        merged.update(d)
    return merged


FLEET_KEY = {'api_key': 'lsv2-fleet'}
FLEET_ON = {'tracing': True, 'api_key': 'lsv2-fleet'}

# (fleet settings, entry overrides (tracing, project, api_key), env, secrets)
CASES = [
    # Nothing set: nothing added, so fingerprints of fleets without tracing stay as they were.
    ({}, {}, {}, {}),
    ({'tracing': False, 'api_key': '', 'endpoint': '', 'license_key': ''}, {}, {}, {}),
    ({}, {'tracing': False}, {}, {}),
    # The fleet's key and switch; the project is the deployment's name.
    (FLEET_ON, {}, both(ON, project('bot')), key('lsv2-fleet')),
    ({'tracing': 'yes', 'api_key': 'lsv2-fleet'}, {}, both(ON, project('bot')), key('lsv2-fleet')),  # AWX surveys
    # A self-hosted LangSmith.
    (dict(FLEET_ON, endpoint=ENDPOINT), {}, both(ON, project('bot'), AT), key('lsv2-fleet')),
    (dict(FLEET_ON, endpoint=ENDPOINT + '/'), {}, both(ON, project('bot'), AT), key('lsv2-fleet')),
    # A key with tracing off: the switch is written out (langgraph-api would turn tracing on by itself).
    (FLEET_KEY, {}, OFF, key('lsv2-fleet')),
    (dict(FLEET_KEY, endpoint=ENDPOINT), {}, both(OFF, AT), key('lsv2-fleet')),
    (FLEET_ON, {'tracing': False}, OFF, key('lsv2-fleet')),
    # Per deployment: another project, its own key, tracing on where the fleet's is off.
    (FLEET_ON, {'project': 'support'}, both(ON, project('support')), key('lsv2-fleet')),
    (FLEET_ON, {'api_key': 'lsv2-own'}, both(ON, project('bot')), key('lsv2-own')),
    ({}, {'tracing': True, 'api_key': 'lsv2-own'}, both(ON, project('bot')), key('lsv2-own')),
    (FLEET_KEY, {'tracing': True}, both(ON, project('bot')), key('lsv2-fleet')),
    ({'tracing': True}, {'api_key': 'lsv2-own'}, both(ON, project('bot')), key('lsv2-own')),
    # A project without tracing says nothing.
    (FLEET_KEY, {'project': 'support'}, OFF, key('lsv2-fleet')),
    # The license key, with or without tracing; an endpoint alone does nothing.
    ({'license_key': 'lic-1'}, {}, {}, {'LANGGRAPH_CLOUD_LICENSE_KEY': 'lic-1'}),
    (dict(FLEET_ON, license_key='lic-1'), {}, both(ON, project('bot')),
     dict(key('lsv2-fleet'), LANGGRAPH_CLOUD_LICENSE_KEY='lic-1')),
    ({'endpoint': ENDPOINT}, {}, {}, {}),
]


@pytest.mark.parametrize('fleet, entry, env, secrets', CASES)
def test_environment(fleet, entry, env, secrets):
    settings, problems = fleet_settings(fleet)
    assert problems == []
    got_env, got_secrets, problems = environment('bot', settings, entry.get('tracing'), entry.get('project'),
                                                 entry.get('api_key'))
    assert (got_env, got_secrets, problems) == (env, secrets, [])


@pytest.mark.parametrize('fleet, entry, words', [
    ({'tracing': True}, {}, ['deploy_langsmith_tracing is true', 'deploy_langsmith_api_key']),
    ({}, {'tracing': True}, ["the entry's tracing is true", 'deploy_langsmith_api_key', 'langsmith_api_key']),
    ({'tracing': True, 'api_key': '  '}, {}, ['deploy_langsmith_api_key']),
])
def test_tracing_without_a_key_is_refused(fleet, entry, words):
    settings = fleet_settings(fleet)[0]
    problems = environment('bot', settings, entry.get('tracing'))[2]
    assert len(problems) == 1
    for word in words:
        assert word in problems[0]


@pytest.mark.parametrize('fleet, word', [
    ({'tracing': 'maybe'}, 'deploy_langsmith_tracing must be true or false'),
    ({'endpoint': 'langsmith.internal'}, 'deploy_langsmith_endpoint must be the http(s) URL'),
    ('on', 'must be a mapping'),
])
def test_bad_fleet_settings(fleet, word):
    assert word in ' '.join(fleet_settings(fleet)[1])


def test_problems_never_show_a_key():
    settings = fleet_settings({'tracing': 'maybe', 'api_key': 'lsv2-secret', 'license_key': 'lic-secret'})
    assert 'secret' not in repr(settings[1])


def test_the_entry_s_own_variables_win():
    env, secrets = merge({'LANGSMITH_PROJECT': 'mine'}, {'LANGCHAIN_API_KEY': 'own'},
                         both(ON, project('bot')), key('fleet'))
    assert env == dict(ON, LANGSMITH_PROJECT='mine', LANGCHAIN_PROJECT='bot')
    assert secrets == {'LANGSMITH_API_KEY': 'fleet', 'LANGCHAIN_API_KEY': 'own'}
    # A name the entry keeps secret is not also given in the clear, and the other way round.
    env, secrets = merge({'LANGSMITH_API_KEY': 'x'}, {'LANGSMITH_TRACING': 'true'}, OFF, key('fleet'))
    assert env == {'LANGSMITH_API_KEY': 'x', 'LANGCHAIN_TRACING_V2': 'false'}
    assert secrets == {'LANGSMITH_TRACING': 'true', 'LANGCHAIN_API_KEY': 'fleet'}


@pytest.mark.parametrize('env, secret_names, expected', [
    ({}, [], 'tracing off'),
    (both(ON, project('bot'), AT), ['LANGSMITH_API_KEY'], 'tracing on: project bot at ' + ENDPOINT),
    (both(ON, project('bot')), ['LANGSMITH_API_KEY'], 'tracing on: project bot at https://api.smith.langchain.com'),
    (OFF, ['LANGSMITH_API_KEY'], 'tracing off'),
    # As langgraph-api reads it: a key and no switch traces, to project "default".
    ({}, ['LANGCHAIN_API_KEY'], 'tracing on: project default at https://api.smith.langchain.com'),
    ({'LANGCHAIN_TRACING_V2': 'true', 'LANGCHAIN_PROJECT': 'p'}, [],
     'tracing on: project p at https://api.smith.langchain.com'),
])
def test_summary(env, secret_names, expected):
    assert summary_text(env, secret_names) == expected
    assert summary(env, secret_names)['tracing'] == expected.startswith('tracing on')


# --- through the deployment entry -----------------------------------------------------------------

def entry(**over):
    base = dict(name='trace-a', image='registry.example.com/bot:1', lb_port=8123)
    base.update(over)
    return base


def parse(*entries, **tracing):
    return parse_deployments(list(entries), {'secrets_key': 'fleet-key', 'tracing': tracing})


def test_entries_carry_the_names_never_the_keys():
    one = parse(entry(secrets={'OPENAI_API_KEY': 'sk-1'}),
                entry(name='trace-b', lb_port=8124, tracing=False, tracing_project='ignored'),
                entry(name='trace-c', lb_port=8125, tracing_project='support', langsmith_api_key='lsv2-own'),
                tracing=True, api_key='lsv2-fleet', endpoint=ENDPOINT, license_key='lic-1')
    assert one[0]['env'] == both(ON, project('trace-a'), AT)
    assert one[0]['secret_names'] == ['LANGCHAIN_API_KEY', 'LANGGRAPH_CLOUD_LICENSE_KEY', 'LANGSMITH_API_KEY',
                                      'OPENAI_API_KEY']
    assert one[1]['env'] == both(OFF, AT)
    assert one[2]['env'] == both(ON, project('support'), AT)
    assert 'lsv2' not in repr(one) and 'lic-1' not in repr(one)


def test_secrets_of_gives_the_containers_the_keys():
    entries = [entry(secrets={'OPENAI_API_KEY': 'sk-1'}), entry(name='trace-b', langsmith_api_key='lsv2-own'),
               entry(name='plain')]
    found = secrets_of(entries, {'tracing': 'true', 'api_key': 'lsv2-fleet', 'license_key': 'lic-1'})
    assert found['trace-a'] == dict(key('lsv2-fleet'), OPENAI_API_KEY='sk-1', LANGGRAPH_CLOUD_LICENSE_KEY='lic-1')
    assert found['trace-b'] == dict(key('lsv2-own'), LANGGRAPH_CLOUD_LICENSE_KEY='lic-1')
    assert found['plain'] == dict(key('lsv2-fleet'), LANGGRAPH_CLOUD_LICENSE_KEY='lic-1')
    # Without fleet settings: the entries' own secrets and keys.
    assert secrets_of(entries) == {'trace-a': {'OPENAI_API_KEY': 'sk-1'}, 'trace-b': key('lsv2-own')}
    # An entry that turns tracing off keeps the key (langgraph-api's license and metadata use it) but not the switch.
    assert secrets_of([entry(tracing='no')], {'api_key': 'k'})['trace-a'] == key('k')


@pytest.mark.parametrize('change', [
    dict(api_key='lsv2-rotated'), dict(license_key='lic-2'), dict(tracing=False), dict(endpoint=ENDPOINT)])
def test_a_change_of_any_setting_makes_a_new_revision(change):
    settings = dict(tracing=True, api_key='lsv2-fleet', license_key='lic-1')
    before = parse(entry(), **settings)[0]['fingerprint']
    assert parse(entry(), **dict(settings, **change))[0]['fingerprint'] != before
    assert parse(entry(), **settings)[0]['fingerprint'] == before


def test_an_entry_s_own_key_change_makes_a_new_revision():
    before = parse(entry(langsmith_api_key='one'), tracing=True)[0]['fingerprint']
    assert parse(entry(langsmith_api_key='two'), tracing=True)[0]['fingerprint'] != before


def test_no_settings_leave_fingerprints_alone():
    assert parse(entry())[0]['fingerprint'] == parse_deployments([entry()], {'secrets_key': 'fleet-key'})[0]['fingerprint']


def test_tracing_on_without_a_key_fails_naming_the_setting():
    with pytest.raises(DeploymentError) as error:
        parse(entry(), entry(name='trace-b', lb_port=8124, langsmith_api_key='lsv2-own'), tracing=True)
    text = str(error.value)
    assert 'nothing was changed' in text and '1 problem' in text
    assert 'entry 1 (trace-a): tracing is on (deploy_langsmith_tracing is true)' in text
    assert 'deploy_langsmith_api_key' in text


def test_a_bad_fleet_setting_is_named_once():
    with pytest.raises(DeploymentError) as error:
        parse(entry(), entry(name='trace-b', lb_port=8124), endpoint='ftp://x')
    assert str(error.value).count('deploy_langsmith_endpoint') == 1


def test_a_key_of_the_wrong_type_is_hidden():
    with pytest.raises(DeploymentError) as error:
        parse(entry(langsmith_api_key={'v': 'lsv2-secret'}))
    assert 'langsmith_api_key must be a non-empty string, not (hidden)' in str(error.value)
    assert 'lsv2-secret' not in str(error.value)


def test_status_shows_tracing_project_and_endpoint_never_the_key():
    parsed = parse(entry(), entry(name='trace-b', lb_port=8124, tracing=False),
                   tracing=True, api_key='lsv2-fleet', endpoint=ENDPOINT)
    control = dict(deployments={}, hosts={})
    text = '\n'.join(status_lines(parsed, [], [], control))
    assert 'trace-a (production, lb port 8123): serving revision none\n  tracing on: project trace-a at %s' % ENDPOINT in text
    assert 'trace-b (production, lb port 8124): serving revision none\n  tracing off' in text
    assert 'lsv2' not in text
