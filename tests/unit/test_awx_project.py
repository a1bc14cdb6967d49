# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AWX project shape: every job template's playbook imports the
collection's playbook of the same name, and every survey variable is one that
playbook (its roles' argument specs and defaults, the plays, the wrapper)
accepts, with a type that agrees, so that surveys and playbooks cannot drift."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import glob
import os
import re

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
# A variable a play or role reads from outside: `name | default(...)`, `name is defined`.
READ = re.compile(r'\b([a-z_][a-z0-9_]*)\s*(?:\|\s*default\(|is\s+defined\b)')
# A role default that takes its value from a short extra var: deploy_replicas: "{{ replicas | default(0) }}".
ALIAS = re.compile(r'^([a-z_][a-z0-9_]*):\s*"\{\{\s*([a-z_][a-z0-9_]*)\s*\|\s*default\(', re.M)
SURVEY_TYPES = {'integer': 'int', 'float': 'float', 'text': 'str', 'textarea': 'str', 'password': 'str',
                'multiplechoice': 'str', 'multiselect': 'list'}


def read(*parts):
    with open(os.path.join(ROOT, *parts)) as f:
        return f.read()


def load(*parts):
    return yaml.safe_load(read(*parts))


TEMPLATES = load('awx', 'job_templates.yml')['awx_job_templates']


def imported(wrapper):
    """The collection playbook a wrapper imports."""
    names = [play['ansible.builtin.import_playbook'] for play in load(wrapper) if 'ansible.builtin.import_playbook' in play]
    assert len(names) == 1, '%s must import exactly one collection playbook' % wrapper
    assert names[0].startswith('selfhost.langgraph.')
    return names[0].split('.', 2)[2]


def roles_of(playbook_text):
    return sorted(set(re.findall(r'selfhost\.langgraph\.([a-z_]+)', playbook_text)))


def role_options(role):
    """{option: type} of every entry point of a role's argument specs."""
    specs = load('roles', role, 'meta', 'argument_specs.yml')['argument_specs']
    options = {}
    for spec in specs.values():
        for name, option in (spec.get('options') or {}).items():
            options[name] = option.get('type', 'str')
    return options


def accepted(wrapper):
    """{variable: type or None} a job template's playbook accepts."""
    playbook = imported(wrapper)
    texts = [read(wrapper), read('playbooks', playbook + '.yml')]
    variables = {}
    for role in roles_of(texts[1]):
        if not os.path.isdir(os.path.join(ROOT, 'roles', role)):
            continue
        options = role_options(role)
        variables.update(options)
        defaults = read('roles', role, 'defaults', 'main.yml')
        for option, short in ALIAS.findall(defaults):
            variables.setdefault(short, options.get(option))
        for path in [os.path.join(ROOT, 'roles', role, 'defaults', 'main.yml')] + \
                glob.glob(os.path.join(ROOT, 'roles', role, 'tasks', '*.yml')):
            with open(path) as f:
                texts.append(f.read())
    for text in texts:
        for name in READ.findall(text):
            variables.setdefault(name, None)
    if 'survey_deployments' in texts[0]:
        doc = yaml.safe_load(re.search(r"DOCUMENTATION = r'''(.*?)'''", read('plugins', 'filter', 'survey_deployments.py'),
                                       re.S).group(1))
        for name, option in doc['options'].items():
            if name != '_input':
                variables[name] = option['type']
    return variables


def test_every_wrapper_has_a_job_template_and_the_reverse():
    wrappers = sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, 'awx', 'playbooks', '*.yml')))
    assert sorted(t['playbook'] for t in TEMPLATES) == wrappers


@pytest.mark.parametrize('template', TEMPLATES, ids=[t['name'] for t in TEMPLATES])
def test_wrapper_imports_the_collection_playbook_of_its_name(template):
    playbook = imported(template['playbook'])
    assert playbook == os.path.splitext(os.path.basename(template['playbook']))[0]
    assert os.path.isfile(os.path.join(ROOT, 'playbooks', playbook + '.yml'))


@pytest.mark.parametrize('template', TEMPLATES, ids=[t['name'] for t in TEMPLATES])
def test_every_survey_variable_is_accepted_with_its_type(template):
    variables = accepted(template['playbook'])
    for question in template['survey']:
        name = question['variable']
        assert name in variables, '%s: survey variable %s is not read by %s' % (
            template['name'], name, template['playbook'])
        wanted = variables[name]
        if wanted is not None and wanted != 'raw':
            given = SURVEY_TYPES[question['type']]
            if wanted == 'bool':
                assert question['type'] == 'multiplechoice' and set(question['choices']) == {'true', 'false'}, name
            else:
                assert given == wanted, '%s: %s is %s in the survey, %s in the playbook' % (
                    template['name'], name, given, wanted)


@pytest.mark.parametrize('template', TEMPLATES, ids=[t['name'] for t in TEMPLATES])
def test_survey_questions_are_complete(template):
    seen = set()
    for question in template['survey']:
        assert question['variable'] not in seen
        seen.add(question['variable'])
        for key in ('question_name', 'variable', 'type', 'required'):
            assert key in question, (template['name'], question['variable'], key)
        assert question['type'] in SURVEY_TYPES
        if question['type'] in ('multiplechoice', 'multiselect'):
            assert question['choices'] and all(isinstance(c, str) for c in question['choices'])
            assert question.get('default', question['choices'][0]) in question['choices']


@pytest.mark.parametrize('template', TEMPLATES, ids=[t['name'] for t in TEMPLATES])
def test_what_a_playbook_demands_the_survey_requires(template):
    text = read('playbooks', imported(template['playbook']) + '.yml') + read(template['playbook'])
    demanded = set(re.findall(r'\b([a-z_]+) is defined and \1 \| length > 0', text))
    demanded |= set(re.findall(r'and ([a-z_]+) is defined', text))
    demanded |= set(re.findall(r"- ([a-z_]+) \| default\(''\) \| length > 0", text))
    required = set(q['variable'] for q in template['survey'] if q['required'])
    assert demanded <= required, template['name']


def test_deploy_type_choices_are_the_deployment_types():
    from ansible_collections.selfhost.langgraph.plugins.module_utils.deployment import TYPES
    deploy = [t for t in TEMPLATES if t['playbook'].endswith('/deploy.yml')][0]
    question = [q for q in deploy['survey'] if q['variable'] == 'type'][0]
    assert set(question['choices']) == set(TYPES) and not question['required'] and 'default' not in question


def test_delete_asks_for_a_confirmation_the_wrapper_checks():
    delete = [t for t in TEMPLATES if t['playbook'].endswith('/delete.yml')][0]
    assert [q['variable'] for q in delete['survey'] if q['required']] == ['deployment', 'purge', 'confirm_deployment']
    assert [q['default'] for q in delete['survey'] if q['variable'] == 'purge'] == ['false']
    assert "confirm_deployment | default('') == deployment | default('')" in read('awx', 'playbooks', 'delete.yml')


def test_reconcile_and_autoscale_run_every_minute():
    scheduled = dict((imported(t['playbook']), t['schedule']['rrule']) for t in TEMPLATES if 'schedule' in t)
    assert sorted(scheduled) == ['autoscale', 'reconcile']
    for rrule in scheduled.values():
        assert re.match(r'^DTSTART:\d{8}T\d{6}Z RRULE:FREQ=MINUTELY;INTERVAL=1$', rrule)


def test_project_requirements_install_this_collection():
    galaxy = load('galaxy.yml')
    requirements = load('collections', 'requirements.yml')['collections']
    assert [r['name'] for r in requirements] == [galaxy['repository'] + '.git']
    assert requirements[0]['type'] == 'git'
