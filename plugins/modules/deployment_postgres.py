#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: deployment_postgres
short_description: Ensure a LangGraph deployment's own Postgres database and role
version_added: 0.1.0
description:
  - Ensures database and owner role C(lg_<name>) for deployment O(name) (C(-) becomes C(_)), e.g.
    C(lg_support_bot) for C(support-bot). The role can log in and has no superuser, createdb,
    createrole, replication or bypassrls; C(CONNECT) on the database is revoked from C(PUBLIC), so no
    other deployment's role can connect to it.
  - Records the database and role of the deployment in the control database (table C(deployments)),
    migrating its schema first if needed.
  - With O(state=absent) and O(purge=true), terminates the database's connections, then drops
    database and role. Without O(purge=true) it fails and changes nothing.
  - The name is validated before any system is touched; so are the connections (server reachable,
    admin password right).
  - The password never reaches the output. RV(database_uri_masked) is always returned;
    RV(database_uri), the URI the server needs, only when the task sets C(no_log=true).
  - Every character of the password is percent-encoded in RV(database_uri), so the URI is right for
    any password.
  - O(login_user) needs C(CREATEDB) and C(CREATEROLE) (or superuser). A non-superuser admin is made a
    member of the deployment role, which it needs to create the database owned by it, drop it and
    terminate its connections.
author:
  - selfhost.langgraph maintainers (@selfhost)
requirements:
  - psycopg2 (Debian package C(python3-psycopg2)) on the host where the module runs
extends_documentation_fragment:
  - selfhost.langgraph.postgres
attributes:
  check_mode:
    support: full
    description: Reads the catalogs and reports the actions it would take, changing nothing.
  diff_mode:
    support: full
    description: Shows whether role and database exist, their owner and PUBLIC's CONNECT, before and after.
  idempotent:
    support: full
    description: >-
      A second run with the same inputs changes nothing. To know whether the password changed, the
      module compares it with the stored verifier when O(login_user) is a superuser, otherwise it logs in
      as the role; when neither is possible (C(pg_hba.conf) has no entry for this host and the role) it
      sets the password again and warns, see O(update_password).
options:
  name:
    description: Name of the deployment, matching C([a-z][a-z0-9-]{1,38}[a-z0-9]); not a reserved name.
    type: str
    required: true
  state:
    description: Whether the database and role should exist.
    type: str
    default: present
    choices: [present, absent]
  purge:
    description:
      - Must be V(true) with O(state=absent); dropping a deployment's data is never implicit.
    type: bool
    default: false
  password:
    description:
      - Password of the deployment role, from Ansible Vault or an C(ansible.builtin.password) lookup.
      - Required with O(state=present).
    type: str
  update_password:
    description:
      - V(always) sets the password when it differs from the current one (rotation by changing the vault).
      - V(on_create) sets it only when the role is created and never changes it afterwards.
    type: str
    default: always
    choices: [always, on_create]
  deployment_type:
    description: Type recorded for the deployment in the control database; left as recorded when omitted.
    type: str
    choices: [development, production]
  uri_host:
    description: Host the LangGraph server reaches Postgres at, for RV(database_uri). Defaults to O(login_host).
    type: str
  uri_port:
    description: Port for RV(database_uri). Defaults to O(login_port).
    type: int
  uri_sslmode:
    description: C(sslmode) added to RV(database_uri) (set it when the server has TLS, V(verify-full) with O(uri_sslrootcert)).
    type: str
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
  uri_sslrootcert:
    description:
      - C(sslrootcert) added to RV(database_uri), the CA certificate file as the LangGraph server finds it (for example
        C(/etc/selfhost-langgraph/tls/ca.crt), which the deploy role mounts into the containers). Only with
        O(uri_sslmode=verify-ca) or O(uri_sslmode=verify-full).
    type: path
seealso:
  - module: selfhost.langgraph.deployment_redis
  - module: selfhost.langgraph.control_db
'''

EXAMPLES = r'''
- name: Ensure the database of support-bot
  selfhost.langgraph.deployment_postgres:
    name: support-bot
    password: "{{ vault_support_bot_postgres_password }}"
    login_host: "{{ langgraph_private_address }}"
    login_password: "{{ postgres_admin_password }}"
    uri_host: "{{ langgraph_private_address }}"
  delegate_to: "{{ groups['langgraph_postgres'][0] }}"
  no_log: true  # without it, database_uri is not returned
  register: __support_bot_db

- name: Drop the database and role of an old deployment
  selfhost.langgraph.deployment_postgres:
    name: old-bot
    state: absent
    purge: true
    login_password: "{{ postgres_admin_password }}"
'''

RETURN = r'''
deployment:
  description: Name of the deployment.
  returned: always
  type: str
  sample: support-bot
database:
  description: Name of the deployment's database.
  returned: always
  type: str
  sample: lg_support_bot
user:
  description: Name of the deployment's role.
  returned: always
  type: str
  sample: lg_support_bot
database_uri:
  description:
    - The C(DATABASE_URI) for the LangGraph server, every password character percent-encoded.
    - Returned only when the task sets C(no_log=true), so that it never reaches the output.
  returned: state is present and the task has no_log
  type: str
  sample: postgresql://lg_support_bot:%73%65%63%72%65%74@172.30.213.11:5432/lg_support_bot
database_uri_masked:
  description: RV(database_uri) with the password replaced by C(********), safe to show.
  returned: state is present
  type: str
  sample: postgresql://lg_support_bot:********@172.30.213.11:5432/lg_support_bot
actions:
  description: What was done (in check mode, what would be done), in words.
  returned: always
  type: list
  elements: str
  sample: ["create role lg_support_bot (LOGIN, no superuser, createdb or createrole)"]
queries:
  description: SQL statements run; password verifiers are shown as C(********).
  returned: always
  type: list
  elements: str
  sample: ["CREATE DATABASE \"lg_support_bot\" OWNER \"lg_support_bot\" ENCODING 'UTF8' TEMPLATE template0"]
recorded:
  description: Whether the deployment's record in the control database changed.
  returned: always
  type: bool
  sample: true
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.selfhost.langgraph.plugins.module_utils.connection import (
    check_libraries,
    postgres_common_argument_spec,
    postgres_connect,
    postgres_try_login,
)
from ansible_collections.selfhost.langgraph.plugins.module_utils.control_schema import migrate
from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError
from ansible_collections.selfhost.langgraph.plugins.module_utils.naming import (
    postgres_name,
    validate_deployment_name,
)
from ansible_collections.selfhost.langgraph.plugins.module_utils import postgres_store
from ansible_collections.selfhost.langgraph.plugins.module_utils.uris import database_uri


def run(module):
    p = module.params
    name = validate_deployment_name(p['name'], p['control_database'])
    if p['state'] == 'absent' and not p['purge']:
        raise StoreError(
            "refusing to drop database and role of deployment %s: state=absent deletes its data; "
            "set purge: true to confirm" % name)
    if p['state'] == 'present' and not p['password']:
        raise StoreError('password is required with state=present')
    if p['uri_sslrootcert'] and p['uri_sslmode'] not in ('verify-ca', 'verify-full'):
        raise StoreError('uri_sslrootcert is read only with uri_sslmode verify-ca or verify-full: set uri_sslmode')
    pg = postgres_name(name)
    uri_host = p['uri_host'] or p['login_host']
    uri_port = p['uri_port'] or p['login_port']

    # Connect to both databases before changing anything.
    admin = postgres_connect(p, p['maintenance_db'], autocommit=True)
    control = postgres_connect(p, p['control_database'])
    try:
        migrated = migrate(control, module.check_mode)[2]
        with control:
            control.cursor().execute('SELECT pg_advisory_lock(%s, hashtext(%s))',
                                     (postgres_store.DEPLOYMENT_LOCK_CLASS, name))
        cur = admin.cursor()
        before = postgres_store.observe(cur, pg, pg)
        password_ok = True
        if p['state'] == 'present' and before['role_exists'] and p['update_password'] == 'always':
            login_db = pg if before['database_exists'] else p['maintenance_db']

            def try_login():
                # First where the server connects (pg_hba.conf admits deployment roles from the
                # app network), then where the admin does.
                result = None
                for host, port, sslmode in ((uri_host, uri_port, p['uri_sslmode'] or 'prefer'),
                                            (p['login_host'], p['login_port'], p['ssl_mode'])):
                    result = postgres_try_login(host, port, pg, p['password'], login_db, sslmode,
                                                p['connect_timeout'], p['ca_cert'])
                    if result is not None:
                        break
                return result
            password_ok = postgres_store.check_password(cur, before, pg, p['password'], try_login)
            if password_ok is None:
                module.warn('could not verify the current password of role %s: pg_hba.conf does not '
                            'let it log in from this host at %s:%s or %s:%s, and %s is no superuser; '
                            'so the password is set again. Allow that login, or use '
                            'update_password=on_create, for runs that change nothing'
                            % (pg, uri_host, uri_port, p['login_host'], p['login_port'], before['admin']))
        actions = postgres_store.plan_postgres(before, p['state'], pg, password_ok)
        queries = []
        if actions and not module.check_mode:
            queries = postgres_store.apply_actions(admin, actions, pg, pg, p['password'])
        record_changed = False
        if module.check_mode:
            rec = postgres_store.recorded(control, name)
            if p['state'] == 'present':
                record_changed = rec is None or rec[1:] != (pg, pg) or \
                    (p['deployment_type'] is not None and rec[0] != p['deployment_type'])
            else:
                record_changed = rec is not None and rec[1:] != (None, None)
        else:
            record_changed = postgres_store.record(control, name, pg, pg, p['deployment_type'], p['state'])
        after = before if module.check_mode or not actions else postgres_store.observe(cur, pg, pg)
    finally:
        admin.close()
        control.close()  # also releases the advisory lock

    result = dict(
        changed=bool(actions) or record_changed or bool(migrated),
        deployment=name, database=pg, user=pg,
        actions=postgres_store.describe(actions, pg, pg, before['admin']),
        queries=queries, recorded=record_changed,
        diff=dict(before=_diff_view(before), after=_diff_view(after, actions if module.check_mode else None)),
    )
    if migrated:
        result['actions'].insert(0, 'migrate the control database to schema version %d' % migrated[-1].version)
    if p['state'] == 'present':
        result['database_uri_masked'] = database_uri(pg, p['password'], uri_host, uri_port, pg,
                                                     p['uri_sslmode'], mask=True, sslrootcert=p['uri_sslrootcert'])
        if module.no_log:
            uri = database_uri(pg, p['password'], uri_host, uri_port, pg, p['uri_sslmode'],
                               sslrootcert=p['uri_sslrootcert'])
            if p['password'] in uri:
                raise StoreError('the password is too short or too regular to be hidden in the URI; '
                                 'use a longer random password')
            result['database_uri'] = uri
        else:
            module.warn('database_uri is returned only when the task sets no_log: true, so that the '
                        'password never reaches the output; database_uri_masked is returned instead')
    return result


def _diff_view(state, predicted_actions=None):
    view = dict(role_exists=state['role_exists'], database_exists=state['database_exists'],
                database_owner=state.get('database_owner'),
                public_connect=state.get('public_connect'))
    if predicted_actions is not None:  # check mode: show the predicted end state
        if 'create_role' in predicted_actions:
            view['role_exists'] = True
        if 'drop_role' in predicted_actions:
            view['role_exists'] = False
        if 'create_database' in predicted_actions or 'fix_owner' in predicted_actions:
            view.update(database_exists=True, database_owner='(the deployment role)')
        if 'revoke_public_connect' in predicted_actions:
            view['public_connect'] = False
        if 'drop_database' in predicted_actions:
            view.update(database_exists=False, database_owner=None, public_connect=None)
    return view


def main():
    argument_spec = postgres_common_argument_spec()
    argument_spec.update(
        name=dict(type='str', required=True),
        state=dict(type='str', default='present', choices=['present', 'absent']),
        purge=dict(type='bool', default=False),
        password=dict(type='str', no_log=True),
        update_password=dict(type='str', default='always', choices=['always', 'on_create'], no_log=False),
        deployment_type=dict(type='str', choices=['development', 'production']),
        uri_host=dict(type='str'),
        uri_port=dict(type='int'),
        uri_sslmode=dict(type='str', choices=['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full']),
        uri_sslrootcert=dict(type='path'),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    try:
        # Validate the name first: nothing is touched for a bad one.
        validate_deployment_name(module.params['name'], module.params['control_database'])
        check_libraries(module)
        result = run(module)
    except StoreError as e:
        module.fail_json(msg=str(e))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
