#!/usr/bin/env python3
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A stand-in for LangSmith in the lab, which cannot reach the real one.

Accepts what the langsmith client library (and langgraph-api's metadata loop)
sends: GET /info, POST /runs, /runs/batch, /runs/multipart, PATCH /runs/ID,
POST /v1/metadata/submit, and answers anything else with an empty 200. Records
every request: time, method, path, the API key it carried (x-api-key) and the
projects (session_name) of the runs in it. Python's standard library only.

  receiver.py [--port 18990] [--log /var/lib/trace-receiver/requests.jsonl]

GET /records returns what was recorded (a JSON list; ?since=N skips the first N).
The records are kept in memory and appended to the log file, one JSON per line.
"""

import argparse
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

SESSION_RE = re.compile(rb'"session_name"\s*:\s*"((?:[^"\\]|\\.)*)"')
RUN_PART_RE = re.compile(rb'name="(post|patch)\.[0-9a-f-]+"')
INFO = {"version": "0.0.0-lab-trace-receiver", "instance_flags": {}, "license_expiration_time": None}


class Recorder:
    def __init__(self, log):
        self.lock = threading.Lock()
        self.records = []
        self.log = log

    def add(self, record):
        with self.lock:
            self.records.append(record)
            if self.log:
                with open(self.log, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(record) + "\n")

    def since(self, start):
        with self.lock:
            return list(self.records[start:])


def describe(method, path, headers, body):
    """The record of one request: who sent it (the key), which projects its runs belong to, how many runs."""
    projects = sorted(set(m.decode("utf-8", "replace") for m in SESSION_RE.findall(body)))
    runs = len(RUN_PART_RE.findall(body))
    if not runs and body[:1] == b"{":
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if isinstance(payload, dict):  # /runs/batch {post: [...], patch: [...]}, or one run (POST /runs)
            runs = len(payload.get("post") or []) + len(payload.get("patch") or []) or int("session_name" in payload)
    key = headers.get("x-api-key")
    if key is None and path.endswith("/metadata/submit"):  # langgraph-api's usage metadata has its key in the body
        try:
            key = json.loads(body).get("api_key")
        except (ValueError, AttributeError):
            key = None
    return {"time": time.time(), "method": method, "path": path, "api_key": key,
            "license_key": headers.get("x-langchain-license-key"), "user_agent": headers.get("user-agent"),
            "content_type": headers.get("content-type"), "bytes": len(body), "projects": projects, "runs": runs}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "lab-trace-receiver"

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass

    def _body(self):
        length = int(self.headers.get("content-length") or 0)
        if length:
            return self.rfile.read(length)
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if not size:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return b""

    def _answer(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self):
        url = urlsplit(self.path)
        body = self._body()
        if self.command == "GET" and url.path == "/records":
            since = int((parse_qs(url.query).get("since") or ["0"])[0])
            return self._answer(200, self.server.recorder.since(since))
        if self.command == "GET" and url.path == "/healthz":
            return self._answer(200, {"ok": True})
        headers = dict((k.lower(), v) for k, v in self.headers.items())
        self.server.recorder.add(describe(self.command, url.path, headers, body))
        if self.command == "GET" and url.path.rstrip("/").endswith("/info"):
            return self._answer(200, INFO)
        return self._answer(202 if self.command == "POST" else 200, {})

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=18990)
    parser.add_argument("--address", default="0.0.0.0")
    parser.add_argument("--log", default="")
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.address, args.port), Handler)
    server.daemon_threads = True
    server.recorder = Recorder(args.log)
    server.serve_forever()


if __name__ == "__main__":
    main()
