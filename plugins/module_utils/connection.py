# -*- coding: utf-8 -*-
# Copyright: selfhost.langgraph contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection options shared by the store modules, and the connections themselves.

The argument specs are merged into each module's own spec, as
community.postgresql's postgres_common_argument_spec() is.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import traceback

from ansible_collections.selfhost.langgraph.plugins.module_utils.errors import StoreError
from ansible_collections.selfhost.langgraph.plugins.module_utils.naming import DEFAULT_CONTROL_DATABASE

PSYCOPG2_IMPORT_ERROR = None
try:
    import psycopg2
    import psycopg2.extensions
except ImportError:
    psycopg2 = None
    PSYCOPG2_IMPORT_ERROR = traceback.format_exc()

REDIS_IMPORT_ERROR = None
try:
    import redis
except ImportError:
    redis = None
    REDIS_IMPORT_ERROR = traceback.format_exc()


def postgres_common_argument_spec():
    """Options for the admin connection to Postgres and the control database."""
    return dict(
        login_host=dict(type='str', default='localhost'),
        login_port=dict(type='int', default=5432),
        login_user=dict(type='str', default='langgraph_admin'),
        login_password=dict(type='str', no_log=True),
        maintenance_db=dict(type='str', default='postgres'),
        control_database=dict(type='str', default=DEFAULT_CONTROL_DATABASE),
        ssl_mode=dict(type='str', default='prefer',
                      choices=['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full']),
        ca_cert=dict(type='path'),
        connect_timeout=dict(type='int', default=10),
    )


def redis_common_argument_spec():
    """Options for the connection to a Redis instance."""
    return dict(
        redis_host=dict(type='str', required=True),
        redis_port=dict(type='int', default=6379),
        redis_user=dict(type='str'),
        redis_password=dict(type='str', no_log=True),
        redis_tls=dict(type='bool', default=False),
        redis_ca_cert=dict(type='path'),
        redis_validate_certs=dict(type='bool', default=True),
    )


def check_libraries(module, need_postgres=True, need_redis=False):
    """fail_json with the standard missing-library message when one is missing."""
    from ansible.module_utils.basic import missing_required_lib
    if need_postgres and psycopg2 is None:
        module.fail_json(msg=missing_required_lib('psycopg2 (python3-psycopg2)'),
                         exception=PSYCOPG2_IMPORT_ERROR)
    if need_redis and redis is None:
        module.fail_json(msg=missing_required_lib('redis (python3-redis)'),
                         exception=REDIS_IMPORT_ERROR)


def postgres_connect(params, database, autocommit=False):
    """Connect as the admin to database; StoreError with a clear reason on failure."""
    kwargs = dict(
        host=params['login_host'],
        port=params['login_port'],
        user=params['login_user'],
        dbname=database,
        sslmode=params['ssl_mode'],
        connect_timeout=params['connect_timeout'],
        application_name='selfhost.langgraph',
    )
    if params.get('login_password') is not None:
        kwargs['password'] = params['login_password']
    if params.get('ca_cert'):
        kwargs['sslrootcert'] = params['ca_cert']
    try:
        conn = psycopg2.connect(**kwargs)
    except psycopg2.OperationalError as e:
        reason = str(e).strip()
        raise StoreError(
            "cannot connect to Postgres at %s:%s database %s as %s: %s"
            % (params['login_host'], params['login_port'], database, params['login_user'],
               reason.splitlines()[-1] if reason else 'unknown error'))
    conn.autocommit = autocommit
    return conn


def postgres_try_login(host, port, user, password, database, sslmode, connect_timeout, sslrootcert=None):
    """Try to log in as a deployment role.

    Returns True (authenticated), False (password rejected) or None (the
    server did not let us try, e.g. no pg_hba.conf entry from this host).
    """
    kwargs = dict(sslrootcert=sslrootcert) if sslrootcert and sslmode in ('verify-ca', 'verify-full') else {}
    try:
        conn = psycopg2.connect(host=host, port=port, user=user, password=password,
                                dbname=database, sslmode=sslmode,
                                connect_timeout=connect_timeout,
                                application_name='selfhost.langgraph', **kwargs)
    except psycopg2.OperationalError as e:
        text = str(e)
        if 'password authentication failed' in text:
            return False
        return None
    conn.close()
    return True


def redis_connect(params, db=0):
    """Connect to Redis and PING it; StoreError with a clear reason on failure."""
    kwargs = dict(
        host=params['redis_host'],
        port=params['redis_port'],
        db=db,
        password=params.get('redis_password'),
        socket_connect_timeout=params.get('connect_timeout') or 10,
        socket_timeout=30,
    )
    if params.get('redis_user'):
        kwargs['username'] = params['redis_user']
    if params.get('redis_tls'):
        kwargs['ssl'] = True
        verify = params.get('redis_validate_certs', True)
        kwargs['ssl_cert_reqs'] = 'required' if verify else 'none'
        # Older redis-py (Debian 12 ships 4.3) does not check the host name by default.
        kwargs['ssl_check_hostname'] = bool(verify)
        if params.get('redis_ca_cert'):
            kwargs['ssl_ca_certs'] = params['redis_ca_cert']
    client = redis.Redis(**kwargs)
    where = '%s:%s' % (params['redis_host'], params['redis_port'])
    try:
        client.ping()
    except redis.exceptions.AuthenticationError as e:
        raise StoreError("Redis at %s refused the credentials: %s; check redis_password" % (where, e))
    except redis.exceptions.ResponseError as e:
        # NOAUTH / WRONGPASS arrive as ResponseError in some redis-py versions.
        raise StoreError("Redis at %s refused the connection: %s; check redis_password" % (where, e))
    except redis.exceptions.ConnectionError as e:
        raise StoreError("cannot connect to Redis at %s: %s" % (where, e))
    return client
