#!/usr/bin/env bash
# test/bench/notify_instructions.sh: instructions of the notify worker per
# message, counted by callgrind (doc/benchmarks.md, notifications, session 7).
#
#   TD_PG_ROOT=/opt/td-sandbox/<name> BENCH_PORT=<port> \
#     flock /tmp/td-bench.lock bash test/bench/notify_instructions.sh [sms|email]
#
# Installs the extension of this tree into TD_PG_ROOT and makes a template
# cluster (one worker x 2 connections, autovacuum and the jobs off, 3,000
# tickets as test/bench/notify makes them). Run a: a copy of it under
# valgrind --tool=callgrind, 1,600 messages queued in one transaction (one
# per ticket) and waited for until recorded sent. Run b: the same, then
# 1,000 more. (b - a) / 1,000 is one message of the worker process; its
# profiles stay in $WORK/cg-a and $WORK/cg-b for callgrind_annotate.
# Needs root (the clusters run as postgres), valgrind and python3-aiosmtpd.
# Ports: BENCH_PORT (cluster), +1 (HTTP sink), +2 (SMTP sink).
set -euo pipefail
CH=${1:-sms}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${TD_PG_ROOT:?TD_PG_ROOT names the sandbox}/usr/lib/postgresql/15/bin
PORT=${BENCH_PORT:?BENCH_PORT names a free port}
WORK=$(mktemp -d /tmp/td-notify-instr.XXXXXX)
chown postgres: "$WORK"
as_pg() { runuser -u postgres -- "$@"; }
PIDS=()
cleanup() {
	# The template's cluster too: a failure while it is made leaves it running on the port.
	for d in "$WORK"/tmpl "$WORK"/d-*; do [[ -f $d/postmaster.pid ]] && as_pg "$BIN/pg_ctl" -D "$d" -m immediate stop >/dev/null 2>&1; done
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

make -C "$ROOT" -s PG_CONFIG="$BIN/pg_config" install >/dev/null
as_pg "$BIN/initdb" -D "$WORK/tmpl" -A trust -U postgres >/dev/null
cat >>"$WORK/tmpl/postgresql.conf" <<C
port = $PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$WORK'
shared_preload_libraries = 'ticketdesk'
ticketdesk.notify_workers = 1
ticketdesk.notify_concurrency = 2
ticketdesk.jobs_interval = 0
ticketdesk.notify_poll_interval = '10min'
autovacuum = off
fsync = off
ticketdesk.sms_url = 'http://127.0.0.1:$((PORT + 1))/sms'
ticketdesk.smtp_url = 'smtp://127.0.0.1:$((PORT + 2))'
C
as_pg "$BIN/pg_ctl" -D "$WORK/tmpl" -l "$WORK/tmpl.log" -w start >/dev/null
PSQL=(runuser -u postgres -- "$BIN/psql" -X -q -A -t -h 127.0.0.1 -p "$PORT" -v ON_ERROR_STOP=1)
"${PSQL[@]}" -d postgres -c 'CREATE DATABASE bench'
"${PSQL[@]}" -d bench >/dev/null <<S
CREATE EXTENSION ticketdesk;
SET search_path = ticketdesk;
INSERT INTO center (code, name) VALUES ('it', 'IT support');
INSERT INTO agent (name, email, phone) VALUES ('Eli Engineer', 'eli@desk.test', '+37060000011');
INSERT INTO contact (name, email) VALUES ('Rita Requester', 'rita@acme.test');
SELECT open_ticket('Boiler knocks', 1, contact_id => 1, description => 'Since Monday, loudest in the morning.');
SELECT assign(1, 1);
SELECT count(*) FROM (SELECT assign((open_ticket('Boiler knocks', 1, contact_id => 1,
       description => 'Since Monday, loudest in the morning.')).ticket_id, 1) FROM generate_series(2, 3000)) t;
UPDATE ticketdesk.outbox SET status = 'cancelled', next_attempt_at = NULL;
CREATE TABLE public.sample AS SELECT min(outbox_id) AS outbox_id FROM ticketdesk.outbox
 WHERE event = 'assigned' AND channel = 'email';
VACUUM ANALYZE;
S
as_pg "$BIN/pg_ctl" -D "$WORK/tmpl" -w stop >/dev/null

# The sinks' own process ids (runuser would not pass a TERM on to them).
PIDS+=("$(as_pg bash -c "python3 '$ROOT/test/peers/http_sink.py' --port $((PORT + 1)) --out '$WORK/http.jsonl' >/dev/null 2>&1 & echo \$!")")
PIDS+=("$(as_pg bash -c "python3 '$ROOT/test/peers/smtp_sink.py' --port $((PORT + 2)) --out '$WORK/smtp.jsonl' --count-only >/dev/null 2>&1 & echo \$!")")
sleep 1
if [[ $CH == sms ]]; then REC='+37060000011'; else REC='eli@desk.test'; fi

# run NAME COUNT...: a copy of the template under callgrind; prints the worker's total
run() {
	local name=$1 d=$WORK/d-$1 off=0 total=0 k n pid file
	shift
	cp -a "$WORK/tmpl" "$d"
	as_pg mkdir "$WORK/cg-$name"
	as_pg bash -c "cd '$WORK' && nohup valgrind --tool=callgrind --trace-children=yes \
		--callgrind-out-file='$WORK/cg-$name/cg.%p' '$BIN/postgres' -D '$d' >'$WORK/vg-$name.log' 2>&1 &"
	for _ in $(seq 120); do "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" && break; sleep 1; done
	sleep 3
	pid=$("${PSQL[@]}" -d bench -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'ticketdesk notify worker'")
	for k in "$@"; do
		"${PSQL[@]}" -d bench -c "BEGIN;
INSERT INTO ticketdesk.outbox (ticket_id, event, channel, recipient, recipient_name, agent_id, language, thread, note)
SELECT k.ticket_id, s.event, '$CH', '$REC', s.recipient_name, s.agent_id, s.language, k.reference, 'instr'
  FROM ticketdesk.outbox s, public.sample p, generate_series($off, $off + $k - 1) g
  JOIN ticketdesk.ticket k ON k.ticket_id = 1 + g % 3000
 WHERE s.outbox_id = p.outbox_id ORDER BY g;
SELECT ticketdesk.notify_wake(); COMMIT;" >/dev/null
		off=$((off + k)); total=$((total + k))
		for _ in $(seq 600); do
			n=$("${PSQL[@]}" -d bench -c "SELECT count(*) FROM ticketdesk.outbox WHERE note = 'instr' AND status = 'sent'")
			[[ $n -ge $total ]] && break
			grep -q SIGSEGV "$WORK/vg-$name.log" && { echo "the worker crashed (see $WORK/vg-$name.log)" >&2; exit 1; }
			sleep 0.5
		done
		[[ $n -ge $total ]] || { echo "run $name: only $n of $total sent" >&2; exit 1; }
	done
	as_pg "$BIN/pg_ctl" -D "$d" -m fast -w stop >/dev/null
	sleep 1
	file=$WORK/cg-$name/cg.$pid
	sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$file" | tail -1
}
a=$(run a 1600)
b=$(run b 1600 1000)
echo "$CH: $(((b - a) / 1000)) instructions a message in the worker (profiles: $WORK/cg-a, $WORK/cg-b)"
