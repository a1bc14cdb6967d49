#!/usr/bin/env python3
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small SMTP server for the lab, which has no mail relay: it accepts what
smtplib sends (EHLO/HELO, AUTH PLAIN and LOGIN, MAIL, RCPT, DATA, RSET, NOOP,
QUIT; no STARTTLS, so a client that insists on it is refused as by a server
without it) and records every message: time, the user it logged in as, the
envelope sender and recipients, and the message as received. With --user and
--password a login is required and checked. Python's standard library only.

  receiver.py [--port 18925] [--log /var/lib/smtp-receiver/messages.jsonl] [--user U --password P]

The records are appended to the log file, one JSON per line.
"""

import argparse
import base64
import json
import socketserver
import time


class Session(socketserver.StreamRequestHandler):
    """One SMTP conversation."""

    def reply(self, line):
        self.wfile.write((line + "\r\n").encode("utf-8"))
        self.wfile.flush()

    def read(self):
        line = self.rfile.readline(65536)
        if not line:
            return None
        return line.decode("utf-8", "replace").rstrip("\r\n")

    def login(self, user, password):
        wanted = self.server.credentials
        if wanted and (user, password) != wanted:
            self.reply("535 5.7.8 authentication failed")
            return None
        self.reply("235 2.7.0 authenticated")
        return user

    def handle(self):
        self.reply("220 lab-smtp-receiver ready")
        user, sender, recipients = None, None, []
        while True:
            line = self.read()
            if line is None:
                return
            verb, _, rest = line.partition(" ")
            verb = verb.upper()
            if verb in ("EHLO", "HELO"):
                if verb == "EHLO":
                    self.reply("250-lab-smtp-receiver")
                    self.reply("250-AUTH PLAIN LOGIN")
                    self.reply("250 8BITMIME")
                else:
                    self.reply("250 lab-smtp-receiver")
            elif verb == "AUTH":
                kind, _, initial = rest.partition(" ")
                if kind.upper() == "PLAIN":
                    if not initial:
                        self.reply("334 ")
                        initial = self.read() or ""
                    try:
                        _, name, password = base64.b64decode(initial).decode("utf-8").split("\0")
                    except ValueError:
                        self.reply("501 5.5.2 cannot decode")
                        continue
                    user = self.login(name, password)
                elif kind.upper() == "LOGIN":
                    self.reply("334 " + base64.b64encode(b"Username:").decode())
                    name = base64.b64decode(self.read() or "").decode("utf-8")
                    self.reply("334 " + base64.b64encode(b"Password:").decode())
                    password = base64.b64decode(self.read() or "").decode("utf-8")
                    user = self.login(name, password)
                else:
                    self.reply("504 5.5.4 unknown mechanism")
            elif verb == "MAIL":
                if self.server.credentials and user is None:
                    self.reply("530 5.7.0 authentication required")
                    continue
                sender, recipients = rest.partition(":")[2].split()[0].strip("<>"), []
                self.reply("250 2.1.0 ok")
            elif verb == "RCPT":
                recipients.append(rest.partition(":")[2].strip().strip("<>"))
                self.reply("250 2.1.5 ok")
            elif verb == "DATA":
                self.reply("354 end with <CR><LF>.<CR><LF>")
                lines = []
                while True:
                    data = self.read()
                    if data is None or data == ".":
                        break
                    lines.append(data[1:] if data.startswith("..") else data)
                self.server.record(dict(at=time.time(), user=user, mail_from=sender, rcpt_to=recipients,
                                        message="\n".join(lines)))
                sender, recipients = None, []
                self.reply("250 2.0.0 queued")
            elif verb == "RSET":
                sender, recipients = None, []
                self.reply("250 2.0.0 ok")
            elif verb == "NOOP":
                self.reply("250 2.0.0 ok")
            elif verb == "QUIT":
                self.reply("221 2.0.0 bye")
                return
            else:
                self.reply("502 5.5.2 command not implemented")


class Receiver(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, address, log, credentials):
        socketserver.ThreadingTCPServer.__init__(self, address, Session)
        self.log = log
        self.credentials = credentials
        self.records = []

    def record(self, entry):
        self.records.append(entry)
        if self.log:
            with open(self.log, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=18925)
    parser.add_argument("--log", default="")
    parser.add_argument("--user", default="")
    parser.add_argument("--password", default="")
    args = parser.parse_args()
    credentials = (args.user, args.password) if args.user else None
    with Receiver((args.address, args.port), args.log, credentials) as server:
        server.serve_forever()


if __name__ == "__main__":
    main()
