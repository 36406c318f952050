#!/usr/bin/env bash
# test/bench/routing.sh: the routing benchmark of issue 4, on a throwaway cluster.
#
#   bash test/bench/routing.sh            (TD_BENCH_SECONDS, TD_BENCH_LATENCY_TX to tune)
#
# Setup: 1,000 agents holding 50 profiles (20 holders each, all members of one
# centre), 50 one-stage workflows (one per profile) and their ticket types,
# 10,000 customers. Two databases: "big" with 1,000,000 tickets of which 100,000
# open, and "small" with 10,000 tickets of which 1,000 open. Old tickets are
# generated set-based with session_replication_role = replica (no triggers),
# then the load counters are fixed with one rebuild_loads().
#
# Measured, in one run, as ratios:
#  1. throughput of open_ticket with automatic routing against open_ticket
#     with an explicit assignee (pgbench, 2 clients, alternating runs, big db);
#  2. median latency of an automatically routed open_ticket at 1,000,000
#     tickets against 10,000 tickets (pgbench, 1 client, per-transaction log).
set -euo pipefail
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

SECONDS_PER_RUN=${TD_BENCH_SECONDS:-15}
LATENCY_TX=${TD_BENCH_LATENCY_TX:-3000}
# Both databases fit in shared buffers: the comparison is about what routing
# does as tickets grow, not about how much of the table the OS cache holds.
TD_EXTRA_CONF=${TD_EXTRA_CONF:-"shared_buffers = 768MB"}
td_setup
PSQL=("$TD_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1)
PGBENCH=("$TD_PG_BIN/pgbench" -n -h 127.0.0.1 -p "$PGPORT" -U postgres)

# make_db NAME TICKETS: the organisation, then TICKETS old tickets, 10% open.
make_db() {
	local db=$1 n=$2 start=$SECONDS
	td_as_user "$TD_PG_BIN/createdb" "$db"
	td_as_user "${PSQL[@]}" -d "$db" <<-SQL
		CREATE EXTENSION ticketdesk;
		SET search_path = ticketdesk, public;
		INSERT INTO center (code, name) VALUES ('service', 'Field service');
		INSERT INTO agent (name) SELECT 'Agent ' || i FROM generate_series(1, 1000) AS i;
		INSERT INTO center_member (center_id, agent_id, role) SELECT 1, i, 'executor' FROM generate_series(1, 1000) AS i;
		INSERT INTO profile (kind, code, name) SELECT 'employee', 'p' || i, 'Profile ' || i FROM generate_series(1, 50) AS i;
		-- Agent i holds profile ((i - 1) % 50) + 1: agents p, p + 50, ..., p + 950 hold profile p.
		INSERT INTO agent_profile (agent_id, profile_id) SELECT i, ((i - 1) % 50) + 1 FROM generate_series(1, 1000) AS i;
		SELECT count(create_workflow('wf' || i, 'Workflow ' || i, ARRAY['p' || i])) FROM generate_series(1, 50) AS i;
		INSERT INTO ticket_type (code, name, workflow_id) SELECT 'wf' || i, 'Type ' || i, i FROM generate_series(1, 50) AS i;
		INSERT INTO customer (name) SELECT 'Customer ' || i FROM generate_series(1, 10000) AS i;

		SET session_replication_role = replica;
		INSERT INTO ticket (tenant_id, type_id, center_id, customer_id, subject, status, assignee_id,
		                    stage, resolution, created_at, assigned_at, resolved_at, closed_at)
		SELECT 1, t.type_id, 1, 1 + i % 10000, 'Old ticket',
		       CASE WHEN i % 10 = 0 THEN 'assigned' ELSE 'closed' END::ticket_status,
		       (i % 50) + 1 + 50 * ((i / 50) % 20), 1,
		       CASE WHEN i % 10 <> 0 THEN 'Done' END,
		       now() - interval '400 days', now() - interval '400 days',
		       CASE WHEN i % 10 <> 0 THEN now() - interval '399 days' END,
		       CASE WHEN i % 10 <> 0 THEN now() - interval '398 days' END
		  FROM generate_series(1, $n) AS i
		  JOIN ticket_type t ON t.tenant_id = 1 AND t.code = 'wf' || ((i % 50) + 1);
		SET session_replication_role = origin;
		SELECT rebuild_loads() AS counters_set;
		VACUUM ANALYZE;
	SQL
	td_say "$db: $(td_as_user "${PSQL[@]}" -d "$db" -Atc \
		"SELECT count(*) || ' tickets, ' || count(*) FILTER (WHERE status = 'assigned') || ' open' FROM ticketdesk.ticket") \
		in $((SECONDS - start)) s"
}

cat >"$TD_WORK/auto.sql" <<-'SQL'
	\set p random(1, 50)
	\set c random(1, 10000)
	SELECT ticket_id FROM ticketdesk.open_ticket(subject => 'Bench', center_id => 1, customer_id => :c, type => 'wf' || :p);
SQL
cat >"$TD_WORK/explicit.sql" <<-'SQL'
	\set p random(1, 50)
	\set k random(0, 19)
	\set c random(1, 10000)
	SELECT ticket_id FROM ticketdesk.open_ticket(subject => 'Bench', center_id => 1, customer_id => :c, type => 'wf' || :p, assignee_id => :p + 50 * :k);
SQL
chmod 644 "$TD_WORK"/*.sql

tps() { # db script clients
	td_as_user "${PGBENCH[@]}" -c "$3" -j "$3" -T "$SECONDS_PER_RUN" -f "$TD_WORK/$2" "$1" 2>&1 |
		awk '/^tps = / { print $3 }'
}

median_ms() { # db script: median latency of LATENCY_TX single-client transactions
	local dir=$TD_WORK/log_$1_$RANDOM
	td_as_user mkdir -p "$dir"
	(cd "$dir" && td_as_user "${PGBENCH[@]}" -c 1 -t "$LATENCY_TX" -f "$TD_WORK/$2" -l --log-prefix="$dir/tx" "$1" >/dev/null 2>&1)
	# Column 3 of pgbench's per-transaction log is the latency in microseconds.
	cat "$dir"/tx* | awk '{ print $3 }' | sort -n |
		awk '{ v[NR] = $1 } END { printf "%.3f\n", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) / 1000 }'
}

make_db small 10000
make_db big 1000000

td_say "warming up"
tps big auto.sql 2 >/dev/null
tps big explicit.sql 2 >/dev/null

td_say "throughput, big db, 2 clients, ${SECONDS_PER_RUN}s per run, alternating"
declare -a A=() E=()
for round in 1 2; do
	E+=("$(tps big explicit.sql 2)")
	A+=("$(tps big auto.sql 2)")
	echo "round $round: explicit ${E[-1]} tps, automatic ${A[-1]} tps"
done
awk -v a="${A[*]}" -v e="${E[*]}" 'BEGIN {
	split(a, x, " "); split(e, y, " "); sa = x[1] + x[2]; se = y[1] + y[2];
	printf "throughput: automatic %.0f tps, explicit %.0f tps, ratio %.2f (must be >= 0.70)\n", sa / 2, se / 2, sa / se }'

td_say "median latency of an automatically routed open, 1 client, $LATENCY_TX transactions each"
td_as_user "${PGBENCH[@]}" -c 1 -T 5 -f "$TD_WORK/auto.sql" small >/dev/null 2>&1 # warm-up
small=$(median_ms small auto.sql)
big=$(median_ms big auto.sql)
small2=$(median_ms small auto.sql)
big2=$(median_ms big auto.sql)
awk -v s="$small" -v b="$big" -v s2="$small2" -v b2="$big2" 'BEGIN {
	printf "latency: 10,000 tickets %.3f / %.3f ms, 1,000,000 tickets %.3f / %.3f ms, ratio %.2f (must be <= 1.20)\n",
		s, s2, b, b2, (b + b2) / (s + s2) }'
