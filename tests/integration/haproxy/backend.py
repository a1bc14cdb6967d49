# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A tiny HTTP backend for the haproxy tests (standard library only).

GET /ok          200 "ok" (the health check)
GET /sleep/<s>   waits s seconds (at most 120), then answers like /
GET /fail-ok     makes /ok answer 503 from now on; /heal-ok undoes it
anything else    200 "<name>\n", so a test can tell which server answered

Usage: python3 backend.py PORT NAME
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATE = {'healthy': True}


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def answer(self, status, body):
        data = body.encode()
        self.send_response(status)
        self.send_header('Content-Type', 'text/plain')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        path = self.path.split('?')[0]
        if path == '/ok':
            self.answer(200 if STATE['healthy'] else 503, 'ok\n' if STATE['healthy'] else 'unhealthy\n')
            return
        if path == '/fail-ok':
            STATE['healthy'] = False
        elif path == '/heal-ok':
            STATE['healthy'] = True
        elif path.startswith('/sleep/'):
            time.sleep(min(float(path[len('/sleep/'):] or 0), 120))
        self.answer(200, self.server.name + '\n')

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    # Python's default listen backlog (5) drops the first health checks of dozens of servers added at
    # once (L4TOUT); a real LangGraph server (uvicorn) has 2048.
    request_queue_size = 512


def main():
    server = Server(('0.0.0.0', int(sys.argv[1])), Handler)
    server.daemon_threads = True
    server.name = sys.argv[2]
    server.serve_forever()


if __name__ == '__main__':
    main()
