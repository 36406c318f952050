#!/usr/bin/python3
"""http_sink.py: a small HTTP/1.1 server on 127.0.0.1 for the SMS gateway and
webhook tests and the notification benchmark. Every POST is appended to --out
as one JSON line (arrival time, path, the headers that matter, the body) and
answered with --status (200; a status of 300 or more comes with an error
body that echoes the Authorization header); other methods get 405. Stops on SIGTERM.

One asyncio event loop serves every connection (keep-alive). Until session 9
this was http.server's ThreadingHTTPServer: a thread per connection, and
with eight connections the threads' hand-offs of the interpreter lock made
the sink's own rate jump between about 2,800 and 5,500 requests a second for
the same curl run, and cost some 150 us of CPU a request; as soon as another
process took a core from the thread holding the lock, every connection
waited. An event loop has no hand-offs: about 35 us a request, and a rate
that does not depend on how the client spreads its connections over
processes. The headers are parsed by the standard library's parser
(http.client.parse_headers), the one http.server used.
"""
import argparse
import asyncio
import http.client
import io
import json
import signal
import time

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--out", required=True)
parser.add_argument("--status", type=int, default=200)
args = parser.parse_args()

out = open(args.out, "a", encoding="utf-8")


def answer(status, body):
    reason = http.client.responses.get(status, "Status")
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode("ascii") + body


REPLY = answer(args.status, b'{"ok": true}')


def refusal(headers):
    """The answer of a refusing gateway (--status 300 or more). It echoes
    the request's credentials, as careless gateways do, so that a test can
    check the worker masks them."""
    said = json.dumps({"ok": False, "error": "refused: " + (headers.get("Authorization") or "no token")})
    return answer(args.status, said.encode())
NOT_ALLOWED = answer(405, b'{"ok": false}')


async def serve(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, _, rest = head.partition(b"\r\n")
            method, path, _ = request_line.decode("latin-1").split(" ", 2)
            headers = http.client.parse_headers(io.BytesIO(rest))
            body = await reader.readexactly(int(headers.get("Content-Length", 0)))
            if method != "POST":
                writer.write(NOT_ALLOWED)
                continue
            rec = {"t": time.time(), "path": path,
                   "key": headers.get("Idempotency-Key"),
                   "authorization": headers.get("Authorization"),
                   "content_type": headers.get("Content-Type"),
                   "x_extra": headers.get("X-Extra"),
                   "body": json.loads(body or b"null")}
            out.write(json.dumps(rec, ensure_ascii=False) + "\n")
            out.flush()
            writer.write(REPLY if args.status < 300 else refusal(headers))
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        pass  # the client closed the connection (or sent no HTTP)
    finally:
        writer.close()


async def main():
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    server = await asyncio.start_server(serve, "127.0.0.1", args.port)
    print("ready", flush=True)
    async with server:
        await stop.wait()


asyncio.run(main())
