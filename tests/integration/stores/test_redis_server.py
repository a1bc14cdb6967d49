# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The real LangGraph server through its Redis ACL user, in the lab: deployed
with playbooks/deploy.yml, a waited run, a streamed run and a background run
through HAProxy, no ACL denial; deleted with purge, which removes the user."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import asyncio
import json
import os
import uuid

import pytest

from conftest import REPO

# The lab registry as the app VMs reach it, and a port of lb1 no other lab test uses.
IMAGE = '172.30.213.5:5000/langgraph-demo:v1'
LB = '172.30.213.31'
PORT = 8196


def variables(target, name, **extra):
    entry = dict(name=name, image=IMAGE, type='development', min_replicas=1, max_replicas=1, lb_port=PORT,
                 migrate_command=['migrate'], env={'LOG_LEVEL': 'INFO'})
    values = dict(langgraph_deployments=[entry], deployment=name, deploy_health_timeout=150)
    values.update(extra)
    path = os.path.join(target.workdir, '%s-%s.json' % (name, uuid.uuid4().hex[:6]))
    with open(path, 'w') as f:
        json.dump(values, f)
    return ['-e', '@' + path]


async def exercise(url):
    from langgraph_sdk import get_client  # pylint: disable=import-outside-toplevel
    client = get_client(url=url)
    assistant = (await client.assistants.search())[0]['assistant_id']
    thread = (await client.threads.create())['thread_id']
    waited = await client.runs.wait(thread, assistant, input={'messages': [{'role': 'user', 'content': 'hi'}]})
    streamed = [part async for part in client.runs.stream(
        thread, assistant, input={'messages': [{'role': 'user', 'content': 'again'}]}, stream_mode='values')]
    run = await client.runs.create(thread, assistant, input={'messages': [{'role': 'user', 'content': 'bg'}]})
    joined = [part async for part in client.runs.join_stream(thread, run['run_id'])]
    background = await client.runs.get(thread, run['run_id'])
    return waited, streamed, joined, background


def _text(value):
    if isinstance(value, bytes):
        return value.decode('utf-8', 'replace')
    if isinstance(value, dict):
        return dict((_text(k), _text(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [_text(v) for v in value]
    return value


def acl_denials(admin, user):
    """How many ACL LOG entries name user (redis-py gives them as lists or dicts)."""
    return json.dumps(_text(admin.execute_command('ACL', 'LOG', 200)), default=str).count('"%s"' % user)


def test_the_server_works_through_its_acl_user(target):
    if target.name != 'lab':
        pytest.skip('needs the lab fleet (app hosts, HAProxy, the registry)')
    name = 'acl-it-' + uuid.uuid4().hex[:6]
    user = 'lg_' + name.replace('-', '_')
    admin = target.redis()
    before = acl_denials(admin, user)
    try:
        rc, output = target.playbook(os.path.join(REPO, 'playbooks', 'deploy.yml'), extra=variables(target, name))
        assert rc == 0, output[-5000:]
        assert admin.execute_command('ACL', 'GETUSER', user) is not None
        waited, streamed, joined, background = asyncio.run(exercise('http://%s:%d' % (LB, PORT)))
        assert waited and streamed and joined
        assert background['status'] == 'success', background
        # The server's connections log in as the deployment's user, and none was refused.
        clients = admin.execute_command('CLIENT', 'LIST')
        clients = clients.decode() if isinstance(clients, bytes) else clients
        assert ' user=%s ' % user in clients
        assert acl_denials(admin, user) == before
    finally:
        rc, output = target.playbook(os.path.join(REPO, 'playbooks', 'delete.yml'),
                                     extra=variables(target, name, purge=True))
        admin_user = admin.execute_command('ACL', 'GETUSER', user)
        admin.close()
    assert rc == 0, output[-5000:]
    assert admin_user is None
