#!/usr/bin/python3
"""smtp_sink.py: a real SMTP server (aiosmtpd) on 127.0.0.1 for the tests.

Every accepted message is appended to --out as one JSON line: the time
it arrived, envelope sender and recipients, the Message-ID, and (unless
--count-only) the raw message. Options add STARTTLS (--tls-cert/--tls-key, then required) and
AUTH (--auth user:password, then required). Stops on SIGTERM.
"""
import argparse
import json
import re
import signal
import ssl
import sys
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--out", required=True)
parser.add_argument("--count-only", action="store_true")
parser.add_argument("--tls-cert")
parser.add_argument("--tls-key")
parser.add_argument("--auth")
parser.add_argument("--reject", help="answer 550 to recipients matching this regex")
args = parser.parse_args()

out = open(args.out, "a", encoding="utf-8")
lock = threading.Lock()
mid_re = re.compile(rb"^Message-ID:\s*(\S+)", re.I | re.M)


class Sink:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if args.reject and re.search(args.reject, address):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        data = envelope.original_content or envelope.content
        m = mid_re.search(data)
        rec = {"t": time.time(), "from": envelope.mail_from, "to": envelope.rcpt_tos,
               "message_id": m.group(1).decode() if m else None,
               "auth": session.authenticated}
        if not args.count_only:
            rec["data"] = data.decode("utf-8", "replace")
        with lock:
            out.write(json.dumps(rec) + "\n")
            out.flush()
        return "250 Message accepted"


def authenticator(server, session, envelope, mechanism, auth_data):
    user, password = args.auth.split(":", 1)
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user
          and auth_data.password.decode() == password)
    return AuthResult(success=ok)


params = {"decode_data": False, "enable_SMTPUTF8": True}
if args.tls_cert:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.tls_cert, args.tls_key)
    params.update(tls_context=ctx, require_starttls=True)
if args.auth:
    params.update(authenticator=authenticator, auth_required=True,
                  auth_require_tls=bool(args.tls_cert))

controller = Controller(Sink(), hostname="127.0.0.1", port=args.port, ready_timeout=10, **params)
controller.start()
print("ready", flush=True)
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *a: stop.set())
signal.signal(signal.SIGINT, lambda *a: stop.set())
stop.wait()
controller.stop()
sys.exit(0)
