# Instruction counts per transaction, for test/bench/run (BENCH_INSTRUCTIONS=1).
#
# CPU time per transaction moves by 15-20% on a shared machine; the number of
# instructions a backend runs for one transaction does not (it repeats to
# about 1%). The cluster is restarted under valgrind's callgrind; one prepared
# client runs a workload WARM times and then WARM + N times, each in a backend
# of its own, and the difference of the two backends' totals divided by N is
# the cost of one transaction: connection, warm-up and exit cancel out. User
# space only: the kernel's part (send, recv, the WAL write) is not counted.
# Each backend's profile is kept in $TD_WORK/callgrind/ for callgrind_annotate.
#
# Sourced by test/bench/run after its smoke test; uses its PGB_CONN, PGBENCH,
# BENCH_DIR, TD_* variables and td_* functions.

INSTR_WARM=${BENCH_WARM:-60}
INSTR_N=${BENCH_N:-200}
# BENCH_WORKLOADS="bare_insert open_ticket": only these (a benchmark whose two
# workloads are not both measured is left out of the table).
read -ra INSTR_WORKLOADS <<<"${BENCH_WORKLOADS:-${WORKLOADS[*]}}"

# Restart the cluster under callgrind (the postmaster and every child it forks).
instructions_start() {
	command -v valgrind >/dev/null || td_die "BENCH_INSTRUCTIONS needs valgrind (apt-get install valgrind)"
	td_as_user "$TD_PG_BIN/pg_ctl" -D "$TD_PGDATA" -m fast -w stop >/dev/null
	td_as_user mkdir -p "$TD_WORK/callgrind"
	td_say "restarting the cluster under callgrind (slow: about 50 times)"
	td_as_user bash -c "cd '$TD_WORK' && nohup valgrind --tool=callgrind --trace-children=yes \
		--callgrind-out-file='$TD_WORK/callgrind/cg.%p' '$TD_PG_BIN/postgres' -D '$TD_PGDATA' \
		>'$TD_WORK/callgrind.log' 2>&1 &"
	for _ in $(seq 120); do "$TD_PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT" && return 0; sleep 1; done
	td_die "the cluster did not come up under callgrind (see $TD_WORK/callgrind.log)"
}

# Run workload $1 for $2 transactions in one backend; print that backend's total.
instructions_of_run() {
	local before file best=0 total
	before=$(ls "$TD_WORK/callgrind")
	"$PGBENCH" "${PGB_CONN[@]}" -f "$BENCH_DIR/$1.sql" -c 1 -j 1 -t "$2" bench >"$TD_WORK/instr_$1_$2.log" 2>&1 ||
		{ cat "$TD_WORK/instr_$1_$2.log" >&2; td_die "pgbench failed on $1.sql"; }
	sleep 2 # the backend writes its profile as it exits
	# The new file with the largest total is the pgbench backend (not an autovacuum worker).
	for file in $(ls "$TD_WORK/callgrind"); do
		grep -qx "$file" <<<"$before" && continue
		total=$(sed -n 's/^\(summary\|totals\): *\([0-9]*\).*/\2/p' "$TD_WORK/callgrind/$file" | head -n 1)
		[[ -n $total && $total -gt $best ]] && best=$total
	done
	[[ $best -gt 0 ]] || td_die "no callgrind profile for $1.sql"
	echo "$best"
}

# The table: instructions per transaction of every workload, and the ratios.
instructions_report() {
	local w small big b title td base target
	declare -A INSTR=()
	settle >/dev/null
	instructions_start
	for w in "${INSTR_WORKLOADS[@]}"; do
		small=$(instructions_of_run "$w" "$INSTR_WARM")
		big=$(instructions_of_run "$w" $((INSTR_WARM + INSTR_N)))
		INSTR[$w]=$(((big - small) / INSTR_N))
		printf '    %-14s %10d instructions per transaction\n' "$w" "${INSTR[$w]}"
	done
	echo
	echo "ticketdesk benchmarks in instructions (callgrind, user space, one prepared client," \
		"($INSTR_WARM + $INSTR_N) - $INSTR_WARM transactions, $TICKETS pre-opened tickets)"
	echo
	crow benchmark "ticketdesk" "baseline" ratio
	crow "$(printf -- '-%.0s' $(seq $W))" --------------- --------------- -----
	for b in "${BENCHMARKS[@]}"; do
		IFS='|' read -r title td base target <<<"$b"
		[[ -n ${INSTR[$td]:-} && -n ${INSTR[$base]:-} ]] || continue
		crow "$title: $td.sql / $base.sql" "${INSTR[$td]}" "${INSTR[$base]}" \
			"$(awk -v a="${INSTR[$td]}" -v b="${INSTR[$base]}" 'BEGIN {printf "%.0f%%", 100 * b / a}')"
	done
	echo
	echo "profiles: $TD_WORK/callgrind (TD_KEEP=1 keeps them; callgrind_annotate --inclusive=yes FILE)"
}
