#!/usr/bin/python3
"""notify_bench.py: the notification benchmark (test/bench/notify runs it).

Throughput: N mails through the worker into a local aiosmtpd sink, against
a plain parallel SMTP client (smtplib, one reused connection per thread,
as many threads as the worker's connections) sending the same message N
times into the same sink. Then N SMS POSTs through the worker into a local
HTTP sink, against curl --parallel with the same cap and body. Both sides
are timed by the sink: arrival of the first to arrival of the last.

Latency: with no backlog, one mail per transaction; commit to arrival in
the sink, p50 and p99, next to the worker's fallback poll interval.

Prints a summary; exits 2 when a ratio is below 0.8.
"""
import atexit
import json
import os
import smtplib
import socket
import subprocess
import sys
import threading
import time
import uuid

PSQL = os.environ["BENCH_PSQL"]
PEERS = os.environ["BENCH_PEERS"]
WORK = os.environ["BENCH_WORK"]
N = int(os.environ.get("BENCH_MAILS", "5000"))
LATENCY_SAMPLES = int(os.environ.get("BENCH_LATENCY", "200"))
CONC = int(os.environ.get("BENCH_CONCURRENCY", "8"))


def psql(sql):
    out = subprocess.run([PSQL, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", "bench", "-c", sql],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip()


SINKS = []


def stop_sinks():
    for p in SINKS:
        p.terminate()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start(script, *args):
    p = subprocess.Popen([sys.executable, os.path.join(PEERS, script), *args],
                         stdout=subprocess.PIPE, stderr=open(os.path.join(WORK, script + ".err"), "w"),
                         text=True)
    SINKS.append(p)
    assert p.stdout.readline().strip() == "ready"
    return p


def records(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def wait_count(path, n, timeout=600):
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = records(path)
        if len(r) >= n:
            return r
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {n} records in {path}")


def rate(recs):
    ts = sorted(r["t"] for r in recs)
    return (len(ts) - 1) / (ts[-1] - ts[0])


def reload(**settings):
    for k, v in settings.items():
        psql(f"ALTER SYSTEM SET ticketdesk.{k} = '{v}'")
    psql("SELECT pg_reload_conf()")
    time.sleep(0.5)


atexit.register(stop_sinks)
load_before = os.getloadavg()[0]
smtp_port, http_port = free_port(), free_port()
smtp_out, http_out = os.path.join(WORK, "smtp.jsonl"), os.path.join(WORK, "http.jsonl")
smtp = start("smtp_sink.py", "--port", str(smtp_port), "--out", smtp_out, "--count-only")
# Rows queued before e-mail is configured wait; the baseline runs meanwhile.
http = start("http_sink.py", "--port", str(http_port), "--out", http_out)

# A real rendered mail: a ticket assigned to an agent.
psql("""
CREATE EXTENSION ticketdesk;
SET search_path = ticketdesk;
INSERT INTO center (code, name) VALUES ('it', 'IT support');
INSERT INTO agent (name, email, phone) VALUES ('Eli Engineer', 'eli@desk.test', '+37060000011');
INSERT INTO contact (name, email) VALUES ('Rita Requester', 'rita@acme.test');
SELECT open_ticket('Boiler knocks', 1, contact_id => 1, description => 'Since Monday, loudest in the morning.');
SELECT assign(1, 1);
""")
sample = psql("SELECT outbox_id FROM ticketdesk.outbox WHERE event = 'assigned' AND channel = 'email'")
psql("UPDATE ticketdesk.outbox SET status = 'cancelled', next_attempt_at = NULL")
mail = psql(f"SELECT ticketdesk.outbox_mail(o) FROM ticketdesk.outbox_message o WHERE outbox_id = {sample}")
size = len(mail.encode())
results = {}

# --- SMTP: the plain client ----------------------------------------------------
def client(count, out):
    conn = smtplib.SMTP("127.0.0.1", smtp_port)
    for _ in range(count):
        msg = mail.replace("Message-ID: <", f"Message-ID: <base-{uuid.uuid4()}-", 1)
        # A str (the mail is ASCII): smtplib restores its CRLF line ends.
        conn.sendmail("desk@desk.test", ["eli@desk.test"], msg)
    conn.quit()

threads = [threading.Thread(target=client, args=(N // CONC, None)) for _ in range(CONC)]
for t in threads:
    t.start()
for t in threads:
    t.join()
base = [r for r in wait_count(smtp_out, N // CONC * CONC) if r["message_id"].startswith("<base-")]
results["smtp_baseline"] = rate(base)

# --- SMTP: the worker ------------------------------------------------------------
# Copies of the sample row as the trigger queues them: no text, so the worker
# renders each from its template in the claim, as in production.
psql(f"""
INSERT INTO ticketdesk.outbox (ticket_id, event, channel, recipient, recipient_name, agent_id, language, thread, note)
SELECT ticket_id, event, channel, recipient, recipient_name, agent_id, language, thread, 'bench'
  FROM ticketdesk.outbox, generate_series(1, {N}) WHERE outbox_id = {sample}""")
reload(smtp_url=f"smtp://127.0.0.1:{smtp_port}", mail_from="desk@desk.test")
keys = set(f"<{k}@desk.test>" for k in psql("SELECT message_key FROM ticketdesk.outbox WHERE note = 'bench' AND channel = 'email'").split())
recs = wait_count(smtp_out, len(base) + N)
ours = [r for r in recs if r["message_id"] in keys]
results["smtp_worker"] = rate(ours)
results["smtp_dups"] = len(ours) - len(set(r["message_id"] for r in ours))

# --- HTTP: curl --parallel, then the worker --------------------------------------
# An SMS as the trigger queues it (rendered at claim); the baseline POSTs its rendered body.
psql(f"""
INSERT INTO ticketdesk.outbox (ticket_id, event, channel, recipient, recipient_name, agent_id, language, thread, note)
SELECT ticket_id, event, 'sms', '+37060000011', recipient_name, agent_id, language, thread, 'bench_sms'
  FROM ticketdesk.outbox, generate_series(1, {N}) WHERE outbox_id = {sample}""")
payload = psql("SELECT payload::text FROM ticketdesk.outbox_message WHERE note = 'bench_sms' LIMIT 1")
with open(os.path.join(WORK, "payload.json"), "w") as f:
    f.write(payload)
subprocess.run(["curl", "-s", "-o", "/dev/null", "--parallel", "--parallel-max", str(CONC),
                "-H", "Content-Type: application/json", "-d", "@" + os.path.join(WORK, "payload.json"),
                f"http://127.0.0.1:{http_port}/base[1-{N}]"], check=True)
hbase = [r for r in wait_count(http_out, N) if r["path"].startswith("/base")]
results["http_baseline"] = rate(hbase)
reload(sms_url=f"http://127.0.0.1:{http_port}/sms")
hrecs = wait_count(http_out, 2 * N)
hours = [r for r in hrecs if r["path"] == "/sms"]
results["http_worker"] = rate(hours)

# --- Latency: commit to arrival, no backlog --------------------------------------
poll = psql("SHOW ticketdesk.notify_poll_interval")
before = len(records(smtp_out))
for i in range(LATENCY_SAMPLES):
    psql(f"""BEGIN;
INSERT INTO ticketdesk.outbox (event, channel, recipient, language, sender_name, subject, body_text, created_at)
VALUES ('latency', 'email', 'eli@desk.test', 'en', 'IT support', 'Latency {i}', 'x', clock_timestamp());
SELECT ticketdesk.notify_wake();
COMMIT;""")
    time.sleep(0.1)
recs = wait_count(smtp_out, before + LATENCY_SAMPLES)
committed = dict(l.split("|") for l in psql(
    "SELECT '<' || message_key || '@desk.test>|' || extract(epoch FROM created_at) "
    "FROM ticketdesk.outbox WHERE event = 'latency'").split("\n"))
lat = sorted((r["t"] - float(committed[r["message_id"]])) * 1000 for r in recs if r["message_id"] in committed)
results["latency_p50_ms"] = lat[len(lat) // 2]
results["latency_p99_ms"] = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
results["poll_interval"] = poll


r = results
smtp_ratio = r["smtp_worker"] / r["smtp_baseline"]
http_ratio = r["http_worker"] / r["http_baseline"]
print(f"mail size {size} bytes, {N} messages per side, {CONC} connections; "
      f"load average (1 min) {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
print(f"SMTP  plain client (smtplib, {CONC} threads): {r['smtp_baseline']:8.0f} mails/s")
print(f"SMTP  ticketdesk worker:                 {r['smtp_worker']:8.0f} mails/s   ratio {smtp_ratio:.2f}"
      f"   (duplicates: {r['smtp_dups']})")
print(f"HTTP  curl --parallel-max {CONC}:               {r['http_baseline']:8.0f} posts/s")
print(f"HTTP  ticketdesk worker:                 {r['http_worker']:8.0f} posts/s   ratio {http_ratio:.2f}")
print(f"commit to delivery, {len(lat)} single mails: p50 {r['latency_p50_ms']:.1f} ms, "
      f"p99 {r['latency_p99_ms']:.1f} ms (fallback poll interval {poll})")
sys.exit(0 if smtp_ratio >= 0.8 and http_ratio >= 0.8 else 2)
