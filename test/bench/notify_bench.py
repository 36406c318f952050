#!/usr/bin/python3
"""notify_bench.py: the notification benchmark (test/bench/notify runs it).

Throughput: N mails through the worker into a local aiosmtpd sink, against
a plain parallel SMTP client (smtplib, one reused connection per thread,
as many threads as the worker's connections) sending the same message N
times into the same sink. Then N SMS POSTs through the worker into a local
HTTP sink (nginx, or test/peers/http_sink.py with BENCH_HTTP_SINK=python),
against curl --parallel with the same cap and body. Both sides are timed
by the sink: arrival of the first to arrival of the last.

Latency: with no backlog, one mail per transaction; commit to arrival in
the sink, p50 and p99, next to the worker's fallback poll interval.

Also the workers' CPU per message (user + system time of every worker
process over its side of a round, read from /proc), with the system's
part apart: less at the mercy of the machine's load than the rates.

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
WORKERS = int(os.environ.get("BENCH_WORKERS", "4"))
# The HTTP sink: nginx (a real server that takes little of the two cores
# both sides share), or "python", test/peers/http_sink.py, the sink of
# sessions 9-12 and of the TAP tests.
HTTP_SINK = os.environ.get("BENCH_HTTP_SINK", "nginx")
NGINX = os.environ.get("BENCH_NGINX", "/usr/sbin/nginx")


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


def start_nginx(port, out):
    """nginx as the HTTP sink (test/peers/nginx_sink.conf.in): one process,
    whose CPU time is the sink's."""
    if not (os.path.exists(NGINX) and os.path.exists("/usr/lib/nginx/modules/ngx_http_echo_module.so")):
        raise SystemExit("nginx or its echo module is missing: apt-get install nginx libnginx-mod-http-echo "
                         "(the bench does as root), or BENCH_HTTP_SINK=python")
    conf_dir = os.path.join(WORK, "nginx")
    os.makedirs(conf_dir, exist_ok=True)
    with open(os.path.join(PEERS, "nginx_sink.conf.in")) as f:
        conf = f.read().replace("@PORT@", str(port)).replace("@DIR@", conf_dir).replace("@LOG@", out)
    conf_file = os.path.join(conf_dir, "nginx.conf")
    with open(conf_file, "w") as f:
        f.write(conf)
    p = subprocess.Popen([NGINX, "-p", conf_dir, "-e", os.path.join(conf_dir, "error.log"), "-c", conf_file],
                         stderr=open(os.path.join(WORK, "nginx.err"), "w"))
    SINKS.append(p)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return p
        except OSError:
            if p.poll() is not None:
                raise SystemExit(f"nginx did not start: see {conf_dir}/error.log")
            time.sleep(0.05)
    raise SystemExit("nginx did not listen")


# What each sink file held at the last look: the byte offset read up to and
# the records parsed so far. Only what was appended since is read, so that
# watching the sinks costs next to no CPU while the worker is measured (a
# full re-read of a growing file at every look took a core of this 2-core
# machine away from the worker in later rounds).
SEEN = {}


def records(path):
    off, recs = SEEN.get(path, (0, []))
    if os.path.exists(path):
        with open(path, "rb") as f:
            f.seek(off)
            data = f.read()
        # A line the sink is still writing has no newline yet: not counted.
        end = data.rfind(b"\n") + 1
        recs = recs + [json.loads(l) for l in data[:end].decode("utf-8").splitlines() if l.strip()]
        SEEN[path] = (off + end, recs)
    return recs


def wait_count(path, n, timeout=600):
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = records(path)
        if len(r) >= n:
            return r
        time.sleep(0.1)
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
http = start_nginx(http_port, http_out) if HTTP_SINK == "nginx" else \
    start("http_sink.py", "--port", str(http_port), "--out", http_out)

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
# The backlog a side queues belongs to many tickets, one message each (as a
# real backlog does), not to the sample's ticket alone: nothing the worker
# does once per ticket can make a round cheaper than it would be. The
# tickets differ from the sample only in their reference (same length), so
# every message has the sample's size (checked after each worker side).
TICKETS = max(1, min(N, int(os.environ.get("BENCH_TICKETS", str(N)))))
psql(f"""SET search_path = ticketdesk;
SELECT count(*) FROM (SELECT assign((open_ticket('Boiler knocks', 1, contact_id => 1,
                                                 description => 'Since Monday, loudest in the morning.')).ticket_id, 1)
                        FROM generate_series(2, {TICKETS})) t;""")
psql("UPDATE ticketdesk.outbox SET status = 'cancelled', next_attempt_at = NULL")
mail = psql(f"SELECT ticketdesk.outbox_mail(o) FROM ticketdesk.outbox_message o WHERE outbox_id = {sample}")
mail_sizes = psql(f"SELECT concat_ws('/', length(subject), length(body_text), length(body_html), "
                  f"length(payload::text)) FROM ticketdesk.outbox_message WHERE outbox_id = {sample}")
size = len(mail.encode())
results = {}

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


def client(count):
    conn = smtplib.SMTP("127.0.0.1", smtp_port)
    for _ in range(count):
        msg = mail.replace("Message-ID: <", f"Message-ID: <base-{uuid.uuid4()}-", 1)
        # A str (the mail is ASCII): smtplib restores its CRLF line ends.
        conn.sendmail("desk@desk.test", ["eli@desk.test"], msg)
    conn.quit()


def smtp_baseline(rnd):
    """The plain client: CONC threads, one reused connection each."""
    before = len(records(smtp_out))
    threads = [threading.Thread(target=client, args=(N // CONC,)) for _ in range(CONC)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    recs = wait_count(smtp_out, before + N // CONC * CONC)[before:]
    return rate([r for r in recs if r["message_id"].startswith("<base-")]), 0


def queue(channel, recipient, marker):
    """N messages like the sample as the trigger queues them: no text, so the
    worker renders each from its template when it claims it; message i is
    about ticket 1 + i mod TICKETS. One commit, which wakes the workers as
    the trigger's would."""
    psql(f"""BEGIN;
INSERT INTO ticketdesk.outbox (ticket_id, event, channel, recipient, recipient_name, agent_id, language, thread, note)
SELECT k.ticket_id, s.event, '{channel}', '{recipient}', s.recipient_name, s.agent_id, s.language, k.reference, '{marker}'
  FROM ticketdesk.outbox s, generate_series(0, {N} - 1) g
  JOIN ticketdesk.ticket k ON k.ticket_id = 1 + g % {TICKETS}
 WHERE s.outbox_id = {sample}
 ORDER BY g;
SELECT ticketdesk.notify_wake();
COMMIT;""")


def same_size(marker, sizes):
    """The texts the worker stored for a side's messages all have the sizes
    of the baseline's message (both sides send the same bytes a message)."""
    for _ in range(100):  # the last batch's results are recorded by the next claim
        if psql(f"SELECT count(*) FROM ticketdesk.outbox WHERE note = '{marker}' AND status <> 'sent'") == "0":
            break
        time.sleep(0.1)
    got = psql(f"SELECT DISTINCT concat_ws('/', length(subject), length(body_text), length(body_html), "
               f"length(payload::text)) FROM ticketdesk.outbox WHERE note = '{marker}'")
    if got != sizes:
        raise SystemExit(f"{marker}: text sizes {got!r}, the baseline's message {sizes!r}")


def worker_pids():
    return [int(p) for p in psql("SELECT pid FROM pg_stat_activity "
                                 "WHERE application_name = 'ticketdesk notify worker'").split()]


def cpu_ticks(pid, system_only=False):
    """User and system CPU of a process so far (system_only: the system's
    part), in clock ticks (0 once gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[12]) + (0 if system_only else int(fields[11]))
    except (OSError, IndexError, ValueError):
        return 0


TICK_US = 1e6 / os.sysconf("SC_CLK_TCK")
CPU = {}  # side -> CPU microseconds per message of the workers, per round
SYS_CPU = {}  # side -> the system's part of it (the kernel's work for the workers)
SINK_CPU = {}  # side -> CPU microseconds per message of the side's sink, per round
BUSY = {}  # side -> share of the machine's CPU time busy over the side, per round


def machine_ticks():
    """Busy and total CPU ticks of the whole machine so far (/proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return sum(fields) - idle, sum(fields)


def observed(side, sink, fn):
    """Run a side and note its sink's CPU per message and how busy the
    machine was: a side whose machine is not busy waits on something other
    than the CPU."""
    sink_before, (busy_before, total_before) = cpu_ticks(sink.pid), machine_ticks()
    result = fn()
    busy, total = machine_ticks()
    SINK_CPU.setdefault(side, []).append((cpu_ticks(sink.pid) - sink_before) * TICK_US / N)
    BUSY.setdefault(side, []).append((busy - busy_before) / max(1, total - total_before))
    return result


def measured(side, fn):
    """Run fn (a worker side) and note the workers' CPU per message it took."""
    pids = worker_pids()
    before = {p: (cpu_ticks(p), cpu_ticks(p, True)) for p in pids}
    result = fn()
    ticks = sum(cpu_ticks(p) - before[p][0] for p in pids)
    sys_ticks = sum(cpu_ticks(p, True) - before[p][1] for p in pids)
    CPU.setdefault(side, []).append(ticks * TICK_US / N)
    SYS_CPU.setdefault(side, []).append(sys_ticks * TICK_US / N)
    return result


def smtp_worker(rnd):
    return measured("smtp", lambda: smtp_worker_run(rnd))


def smtp_worker_run(rnd):
    before = len(records(smtp_out))
    marker = f"bench_mail_{rnd}"
    queue("email", "eli@desk.test", marker)
    keys = set(f"<{k}@desk.test>" for k in psql(
        f"SELECT message_key FROM ticketdesk.outbox WHERE note = '{marker}'").split())
    recs = wait_count(smtp_out, before + N)[before:]
    ours = [r for r in recs if r["message_id"] in keys]
    same_size(marker, mail_sizes)
    return rate(ours), len(ours) - len(set(r["message_id"] for r in ours))


def curl_posts(parallel, path):
    """curl POSTing the SMS body to the sink's path (a curl URL glob, one
    request per value), at most parallel at once."""
    return ["curl", "-s", "--no-progress-meter", "-o", "/dev/null", "--parallel", "--parallel-max", str(parallel),
            "-H", "Content-Type: application/json", "-d", "@" + os.path.join(WORK, "payload.json"),
            f"http://127.0.0.1:{http_port}{path}"]


def http_baseline(rnd):
    before = len(records(http_out))
    subprocess.run(curl_posts(CONC, f"/base{rnd}_[1-{N}]"), check=True)
    recs = wait_count(http_out, before + N)[before:]
    return rate([r for r in recs if r["path"].startswith(f"/base{rnd}_")]), 0


def http_split(rnd):
    """Information, not the target: curl in the workers' layout, WORKERS
    processes of CONC / WORKERS connections each, the messages shared out.
    On two cores the sink answers one client process of eight connections
    far faster than four of two (a sink's turn serves whatever is ready):
    this side tells what the layout alone costs."""
    before = len(records(http_out))
    per = N // WORKERS
    procs = [subprocess.Popen(curl_posts(max(1, CONC // WORKERS), f"/split{rnd}_{w}_[1-{per}]"))
             for w in range(WORKERS)]
    for p in procs:
        if p.wait() != 0:
            raise SystemExit("curl failed on the split side")
    recs = wait_count(http_out, before + per * WORKERS)[before:]
    return rate([r for r in recs if r["path"].startswith(f"/split{rnd}_")]), 0


def http_worker(rnd):
    return measured("http", lambda: http_worker_run(rnd))


def http_worker_run(rnd):
    before = len(records(http_out))
    queue("sms", "+37060000011", f"bench_sms_{rnd}")
    recs = wait_count(http_out, before + N)[before:]
    ours = [r for r in recs if r["path"] == "/sms"]
    same_size(f"bench_sms_{rnd}", sms_sizes)
    return rate(ours), len(ours) - len(set(r["key"] for r in ours))


# The SMS body the baseline POSTs: a rendered SMS of the sample (queued
# while no gateway is configured, read, then cancelled).
queue("sms", "+37060000011", "payload")
payload = psql("SELECT payload::text FROM ticketdesk.outbox_message WHERE note = 'payload' ORDER BY outbox_id LIMIT 1")
sms_sizes = psql("SELECT concat_ws('/', length(subject), length(body_text), length(body_html), length(payload::text)) "
                 "FROM ticketdesk.outbox_message WHERE note = 'payload' ORDER BY outbox_id LIMIT 1")
psql("UPDATE ticketdesk.outbox SET status = 'cancelled', next_attempt_at = NULL WHERE note = 'payload'")
with open(os.path.join(WORK, "payload.json"), "w") as f:
    f.write(payload)
reload(smtp_url=f"smtp://127.0.0.1:{smtp_port}", mail_from="desk@desk.test",
       sms_url=f"http://127.0.0.1:{http_port}/sms")

# The HTTP sink's first thousand or so requests cost it about three times
# what later ones do (seen as a first curl side at a third of its rate):
# one burst that neither side counts, so both meet a warm sink.
subprocess.run(curl_posts(CONC, "/warmup_[1-3000]"), check=True)

# Rounds take turns, so that a change of load on the machine hits both sides.
rounds = []
for rnd in range(1, ROUNDS + 1):
    row = {}
    for name, sink, fn in (("smtp_base", smtp, smtp_baseline), ("smtp_worker", smtp, smtp_worker),
                           ("http_base", http, http_baseline), ("http_split", http, http_split),
                           ("http_worker", http, http_worker)):
        row[name], row[name + "_dups"] = observed(name, sink, lambda: fn(rnd))
    row["load"] = os.getloadavg()[0]
    rounds.append(row)
    print(f"round {rnd}: SMTP {row['smtp_base']:.0f} vs {row['smtp_worker']:.0f} mails/s "
          f"({row['smtp_worker'] / row['smtp_base']:.2f}), HTTP {row['http_base']:.0f} vs "
          f"{row['http_worker']:.0f} posts/s ({row['http_worker'] / row['http_base']:.2f}; curl in the "
          f"workers' layout {row['http_split']:.0f}), "
          f"load {row['load']:.1f}; workers' CPU per message {CPU['smtp'][-1]:.0f} us (mail; "
          f"{SYS_CPU['smtp'][-1]:.0f} of it system), {CPU['http'][-1]:.0f} us (SMS; "
          f"{SYS_CPU['http'][-1]:.0f} system)", flush=True)
    print("    sink CPU per message (us) and machine busy: " + ", ".join(
        f"{side} {SINK_CPU[side][-1]:.0f} / {BUSY[side][-1]:.0%}"
        for side in ("smtp_base", "smtp_worker", "http_base", "http_split", "http_worker")), flush=True)


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2


results["smtp_baseline"] = median([r["smtp_base"] for r in rounds])
results["smtp_worker"] = median([r["smtp_worker"] for r in rounds])
results["smtp_dups"] = sum(r["smtp_worker_dups"] for r in rounds)
results["http_baseline"] = median([r["http_base"] for r in rounds])
results["http_worker"] = median([r["http_worker"] for r in rounds])
results["http_dups"] = sum(r["http_worker_dups"] for r in rounds)
results["http_split"] = median([r["http_split"] for r in rounds])
split_ratio = median([r["http_worker"] / r["http_split"] for r in rounds])
smtp_ratio = median([r["smtp_worker"] / r["smtp_base"] for r in rounds])
http_ratio = median([r["http_worker"] / r["http_base"] for r in rounds])

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
print(f"medians of {ROUNDS} rounds; mail size {size} bytes, {N} messages per side and round over {TICKETS} tickets, "
      f"{CONC} connections; "
      f"load average (1 min) {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
print(f"SMTP  plain client (smtplib, {CONC} threads): {r['smtp_baseline']:8.0f} mails/s")
print(f"SMTP  ticketdesk worker:                 {r['smtp_worker']:8.0f} mails/s   ratio {smtp_ratio:.2f}"
      f" (median of the rounds' ratios; duplicates: {r['smtp_dups']})")
print(f"HTTP  curl --parallel-max {CONC}:               {r['http_baseline']:8.0f} posts/s   (HTTP sink: {HTTP_SINK})")
print(f"HTTP  ticketdesk worker:                 {r['http_worker']:8.0f} posts/s   ratio {http_ratio:.2f}"
      f" (duplicates: {r['http_dups']})")
print(f"HTTP  curl in the workers' layout ({WORKERS} x --parallel-max {max(1, CONC // WORKERS)}): "
      f"{r['http_split']:8.0f} posts/s   the worker against it {split_ratio:.2f} (information, not the target)")
print(f"workers' CPU per message (user + system, all worker processes; median): "
      f"{median(CPU['smtp']):.0f} us a mail ({median(SYS_CPU['smtp']):.0f} of it system), "
      f"{median(CPU['http']):.0f} us an SMS ({median(SYS_CPU['http']):.0f} system)")
print("sinks' CPU per message and the machine's busy share (medians): " + ", ".join(
    f"{side} {median(SINK_CPU[side]):.0f} us / {median(BUSY[side]):.0%}"
    for side in ("smtp_base", "smtp_worker", "http_base", "http_split", "http_worker")))
print(f"commit to delivery, {len(lat)} single mails: p50 {r['latency_p50_ms']:.1f} ms, "
      f"p99 {r['latency_p99_ms']:.1f} ms (fallback poll interval {poll})")
sys.exit(0 if smtp_ratio >= 0.8 and http_ratio >= 0.8 else 2)
