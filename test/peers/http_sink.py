#!/usr/bin/python3
"""http_sink.py: a small HTTP server on 127.0.0.1 for the SMS gateway and
webhook tests. Every POST is appended to --out as one JSON line (arrival
time, path, the headers that matter, the body) and answered with --status (200).
Stops on SIGTERM.
"""
import argparse
import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--out", required=True)
parser.add_argument("--status", type=int, default=200)
args = parser.parse_args()

out = open(args.out, "a", encoding="utf-8")
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go in two writes: without this, Nagle and delayed ACKs
    # cap a keep-alive connection at about 25 requests a second.
    disable_nagle_algorithm = True

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        rec = {"t": time.time(), "path": self.path,
               "key": self.headers.get("Idempotency-Key"),
               "authorization": self.headers.get("Authorization"),
               "content_type": self.headers.get("Content-Type"),
               "x_extra": self.headers.get("X-Extra"),
               "body": json.loads(body or b"null")}
        with lock:
            out.write(json.dumps(rec, ensure_ascii=False) + "\n")
            out.flush()
        reply = b'{"ok": true}'
        self.send_response(args.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *a):
        pass


server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
server.daemon_threads = True
signal.signal(signal.SIGTERM, lambda *a: threading.Thread(target=server.shutdown).start())
print("ready", flush=True)
server.serve_forever()
sys.exit(0)
