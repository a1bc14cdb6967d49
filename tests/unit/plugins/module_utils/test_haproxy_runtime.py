# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import socket
import tempfile
import threading

import pytest

from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_config import HAProxyError
from ansible_collections.selfhost.langgraph.plugins.module_utils.haproxy_runtime import (
    MasterCLI,
    RuntimeAPI,
    CommandRefused,
    RuntimeUnreachable,
    backend_view,
    deployment_of_proxy,
    fleet_view,
    normalise_status,
    parse_servers_state,
    parse_show_proc,
    parse_show_stat,
)

# Shortened answers of HAProxy 2.6.12 (the columns the module reads, in their order).
SHOW_STAT = """# pxname,svname,qcur,scur,stot,status,weight,check_status,addr,
fe_app,FRONTEND,,2,10,OPEN,,,,
be_app,a,0,1,7,UP,1,L7OK,10.0.0.1:8000,
be_app,b,0,1,3,DRAIN,1,L7OK,10.0.0.2:8000,
be_app,c,0,0,0,UP,0,L7OK,10.0.0.3:8000,
be_app,d,0,0,0,MAINT,1,,10.0.0.4:8000,
be_app,e,0,0,0,DOWN,1,L7STS,10.0.0.5:8000,
be_app,BACKEND,0,2,10,UP,2,,,
be_other,x,0,0,0,UP,1,L7OK,10.0.0.9:8000,
be_other,BACKEND,0,0,0,UP,1,,,

"""

SERVERS_STATE = (
    "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight "
    "srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state "
    "srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord\n") + """4 be_app 1 a 10.0.0.1 2 0 1 1 2 15 3 2 6 0 0 0 - 8000 -
4 be_app 2 b 10.0.0.2 2 8 1 1 2 15 3 2 6 0 0 0 - 8000 -
"""


@pytest.mark.parametrize('raw, weight, status', [
    ('UP', 1, 'UP'), ('UP 1/2', 1, 'UP'), ('NOLB', 1, 'UP'), ('no check', 1, 'UP'),
    ('DOWN', 1, 'DOWN'), ('DOWN 1/2', 1, 'DOWN'),
    ('MAINT', 1, 'MAINT'), ('MAINT (via be/x)', 1, 'MAINT'), ('MAINT (resolution)', 1, 'MAINT'),
    ('DRAIN', 1, 'DRAIN'), ('DRAIN (agent)', 1, 'DRAIN'), ('UP', 0, 'DRAIN'), ('DOWN', 0, 'DOWN'),
])
def test_normalise_status(raw, weight, status):
    assert normalise_status(raw, weight) == status


def test_parse_show_stat():
    rows = parse_show_stat(SHOW_STAT)
    assert len(rows) == 9
    assert rows[1]['svname'] == 'a' and rows[1]['scur'] == '1'


def test_parse_show_stat_rejects_garbage():
    with pytest.raises(HAProxyError, match='unexpected answer'):
        parse_show_stat('Unknown command\n')


def test_backend_view():
    view = backend_view(parse_show_stat(SHOW_STAT), parse_servers_state(SERVERS_STATE), 'fe_app', 'be_app')
    assert view['frontend'] and view['backend']
    assert sorted(view['servers']) == ['a', 'b', 'c', 'd', 'e']
    a = view['servers']['a']
    assert (a['address'], a['port'], a['status'], a['check_status'], a['scur'], a['stot'], a['weight']) == \
        ('10.0.0.1', 8000, 'UP', 'L7OK', 1, 7, 1)
    assert view['servers']['b']['admin_state'] == 8
    assert [view['servers'][n]['status'] for n in 'bcde'] == ['DRAIN', 'DRAIN', 'MAINT', 'DOWN']


def test_backend_view_of_missing_deployment():
    view = backend_view(parse_show_stat(SHOW_STAT), [], 'fe_new', 'be_new')
    assert view == dict(frontend=False, backend=False, servers={})


# Two deployments, the statistics frontend and proxies that are not ours.
FLEET_STAT = """# pxname,svname,qcur,scur,stot,status,weight,check_status,addr,
stats,FRONTEND,,0,0,OPEN,,,,
fe_support-bot,FRONTEND,,3,40,OPEN,,,,
be_support-bot,app1-r3-1,0,2,30,UP,1,L7OK,10.0.0.1:20001,
be_support-bot,app2-r3-1,0,1,10,UP,0,L7OK,10.0.0.2:20001,
be_support-bot,BACKEND,4,3,40,UP,1,,,
be_faq-bot,app1-r1-1,0,0,0,MAINT,1,,10.0.0.1:20002,
be_faq-bot,BACKEND,0,0,0,DOWN,0,,,
fe_only-front,FRONTEND,,0,0,OPEN,,,,
be_Not_Ours,x,0,5,5,UP,1,L7OK,10.0.0.9:1,
be_Not_Ours,BACKEND,0,5,5,UP,1,,,
be_postgres,BACKEND,0,0,0,UP,1,,,
"""

FLEET_STATE = (
    "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight "
    "srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state "
    "srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord\n"
    "4 be_support-bot 1 app1-r3-1 10.0.0.11 2 0 1 1 2 15 3 2 6 0 0 0 - 21001 -\n"
    "5 be_faq-bot 1 app1-r1-1 10.0.0.1 0 1 1 1 2 15 3 2 6 0 0 0 - 20002 -\n")


def test_fleet_view_reports_every_deployment_in_one_pass():
    views = fleet_view(parse_show_stat(FLEET_STAT), parse_servers_state(FLEET_STATE))
    assert sorted(views) == ['faq-bot', 'only-front', 'support-bot']
    bot = views['support-bot']
    assert (bot['frontend'], bot['backend'], bot['queue']) == (True, True, 4)
    first = bot['servers']['app1-r3-1']
    assert (first['address'], first['port'], first['scur'], first['status']) == ('10.0.0.11', 21001, 2, 'UP')
    second = bot['servers']['app2-r3-1']
    assert (second['address'], second['port'], second['status']) == ('10.0.0.2', 20001, 'DRAIN')
    faq = views['faq-bot']
    assert (faq['frontend'], faq['backend'], faq['servers']['app1-r1-1']['status']) == (False, True, 'MAINT')
    assert faq['servers']['app1-r1-1']['admin_state'] == 1
    assert views['only-front'] == dict(frontend=True, backend=False, servers={}, queue=0)


def test_fleet_view_without_servers_state_takes_addresses_from_show_stat():
    views = fleet_view(parse_show_stat(FLEET_STAT))
    assert views['support-bot']['servers']['app1-r3-1']['address'] == '10.0.0.1'


@pytest.mark.parametrize('proxy, ours', [
    ('be_support-bot', ('support-bot', 'backend')),
    ('fe_support-bot', ('support-bot', 'frontend')),
    ('be_ab', None),                 # too short for a deployment name
    ('be_Support', None),
    ('be_postgres', None),           # reserved
    ('stats', None),
    ('support-bot', None),
    ('be_', None),
])
def test_deployment_of_proxy(proxy, ours):
    assert deployment_of_proxy(proxy) == ours


class FakeHAProxy(object):
    """A Unix socket answering one command per connection, like HAProxy's stats socket."""

    def __init__(self, answers):
        self.answers = answers
        self.received = []
        self.dir = tempfile.mkdtemp()
        self.path = os.path.join(self.dir, 'admin.sock')
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(5)
        self.thread = threading.Thread(target=self.serve)
        self.thread.daemon = True
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            data = b''
            while not data.endswith(b'\n'):
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            command = data.decode().strip()
            self.received.append(command)
            conn.sendall(self.answers.get(command.split(' ')[0] + ' ' + command.split(' ')[1], '').encode())
            conn.close()

    def close(self):
        self.sock.close()


def test_runtime_api_over_a_socket():
    fake = FakeHAProxy({'show info': 'Name: HAProxy\nVersion: 2.6.12\nPid: 42\n',
                        'show stat': SHOW_STAT,
                        'show servers': SERVERS_STATE,
                        'add server': 'New server registered.\n',
                        'del server': 'Server still has connections attached to it, cannot remove it.\n',
                        'set server': 'No such server.\n'})
    try:
        api = RuntimeAPI(fake.path, timeout=5)
        assert 'Pid: 42' in api.ping()
        view = api.view('fe_app', 'be_app')
        assert view['servers']['a']['scur'] == 1
        assert api.fleet()['app']['servers']['b']['admin_state'] == 8
        api.add_server('be_app', 'n', '10.0.0.7', 8000, ['check'])
        assert api.del_server('be_app', 'n') is False
        with pytest.raises(CommandRefused, match='HAProxy refused "set server be_app/x state drain": No such server'):
            api.set_state('be_app', 'x', 'drain')
        assert 'add server be_app/n 10.0.0.7:8000 check' in fake.received
        assert api.log == ['add server be_app/n 10.0.0.7:8000 check']
    finally:
        fake.close()


def test_unreachable_socket_is_a_clear_error(tmp_path):
    api = RuntimeAPI(str(tmp_path / 'nothing.sock'), timeout=1)
    with pytest.raises(RuntimeUnreachable, match='cannot talk to the HAProxy runtime API at .*nothing.sock'):
        api.ping()


def test_socket_that_is_not_haproxy():
    fake = FakeHAProxy({'show info': 'hello\n'})
    try:
        with pytest.raises(HAProxyError, match='does not answer like an HAProxy'):
            RuntimeAPI(fake.path, timeout=5).ping()
    finally:
        fake.close()


SHOW_PROC = """#<PID>          <type>          <reloads>       <uptime>        <version>
395             master          52 [failed: 0]  0d00h31m26s     2.6.12-1+deb12u4
# workers
2606            worker          0               0d00h00m01s     2.6.12-1+deb12u4
# old workers
2590            worker          1               0d00h00m08s     2.6.12-1+deb12u4
2541            worker          2               0d00h01m46s     2.6.12-1+deb12u4
# programs

"""


def test_parse_show_proc():
    assert parse_show_proc(SHOW_PROC) == [2590, 2541]
    assert parse_show_proc(SHOW_PROC.replace('# old workers', '# programs')) == []


def test_master_cli_sums_old_workers_sessions():
    class Fake(MasterCLI):
        def execute(self, command):
            if command == 'show proc':
                return SHOW_PROC
            if command == '@!2590 show stat':
                return SHOW_STAT
            return "Can't find the target PID matching the prefix '@!2541'\n"
    servers = [('be_app', 'a'), ('be_app', 'b'), ('be_app', 'z'), ('be_other', 'x')]
    assert Fake('/nowhere').old_sessions(servers) == {('be_app', 'a'): 1, ('be_app', 'b'): 1, ('be_app', 'z'): 0,
                                                      ('be_other', 'x'): 0}


def test_master_cli_with_no_servers_asks_nothing():
    class Fake(MasterCLI):
        def execute(self, command):
            raise AssertionError(command)
    assert Fake('/nowhere').old_sessions([]) == {}
