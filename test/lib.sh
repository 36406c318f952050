# shellcheck shell=bash disable=SC2016,SC2034  # (single-quoted td_on_exit commands expand later)
# test/lib.sh: shared steps for test/run and tour/run. Source it, don't run it.
#
#   td_setup          packages, build + install, a started throwaway cluster
#   td_as_user CMD    run CMD as the unprivileged user ($TD_USER)
#   td_run CMD        run a long CMD so that Ctrl-C / TERM stop it at once
#   td_on_exit CMD    run CMD when the script exits (last registered runs first)
#
# Environment knobs: TD_PRELOAD, TD_EXTRA_CONF, TD_PORT_BASE (below), TD_KEEP=1.
# After td_setup: cwd is $TD_WORK (a fresh temp dir owned by $TD_USER, removed on
# exit), and PGHOST/PGPORT/PGUSER point at the cluster, so psql/createdb just work.

TD_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# TD_PG_ROOT: a private copy of the PostgreSQL tree made by test/sandbox, so that
# several developers on one machine install and test without meeting each other.
TD_PG_ROOT=${TD_PG_ROOT:-}
TD_PG_BIN=$TD_PG_ROOT/usr/lib/postgresql/15/bin
TD_PG_CONFIG=$TD_PG_BIN/pg_config
TD_PGXS_TEST=$TD_PG_ROOT/usr/lib/postgresql/15/lib/pgxs/src/test

# Everything a fresh Debian 12 needs. Add new dependencies here (TD_PACKAGES+=(...)).
TD_PACKAGES=(
	postgresql-15 postgresql-server-dev-15 postgresql-15-cron
	libcurl4-openssl-dev libgmime-3.0-dev libical-dev
	python3-aiosmtpd dovecot-imapd openssl curl
	build-essential pkg-config libipc-run-perl perl
)
# The throwaway cluster's shared_preload_libraries (pg_cron goes here later).
TD_PRELOAD=${TD_PRELOAD:-ticketdesk}
# Extra postgresql.conf lines for the throwaway cluster (e.g. cron.database_name).
TD_EXTRA_CONF=${TD_EXTRA_CONF:-}
# First port to try; ours must never be 5432 (a packaged 'main' cluster may sit there).
TD_PORT_BASE=${TD_PORT_BASE:-54329}

td_say() { printf '==> %s\n' "$*"; }
td_die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# --- exit handling: a LIFO list of commands, run on any exit (error, Ctrl-C too) ---
TD_ON_EXIT=()
td_on_exit() { TD_ON_EXIT+=("$1"); }
td__exit() {
	local rc=$? i
	trap - EXIT INT TERM
	for ((i = ${#TD_ON_EXIT[@]} - 1; i >= 0; i--)); do
		eval "${TD_ON_EXIT[i]}" || true
	done
	exit "$rc"
}
trap td__exit EXIT
trap 'td__signal 130' INT
trap 'td__signal 143' TERM

# --- long commands: interruptible --------------------------------------------------
# Bash runs a trap only after the foreground child ends, ignores Ctrl-C when that child
# did not die of it, and runuser does not pass SIGINT on: a hung test would make Ctrl-C
# (or CI's TERM) useless. So long commands run in the background while we 'wait',
# which a signal interrupts at once; the handler then ends the command's whole tree.
TD_CHILD=
td_run() {
	"$@" &
	TD_CHILD=$!
	local rc=0
	wait "$TD_CHILD" || rc=$?
	TD_CHILD=
	return "$rc"
}

td__descendants() {
	local f line rest ppid
	for f in /proc/[0-9]*/stat; do
		{ read -r line <"$f"; } 2>/dev/null || continue # gone meanwhile
		rest=${line##*) } # fields after "pid (comm) "
		ppid=${rest#* } ppid=${ppid%% *}
		if [[ $ppid == "$1" ]]; then
			f=${f#/proc/} f=${f%/stat}
			echo "$f"
			td__descendants "$f"
		fi
	done
}

td__signal() {
	trap '' INT TERM
	if [[ -n $TD_CHILD ]]; then
		echo "interrupted: stopping the running command" >&2
		# Spare runuser: it would print "Session terminated" after our last line. It
		# exits by itself once its child is gone, and so does the subshell above it.
		local pid
		for pid in $(td__descendants "$TD_CHILD"); do
			[[ $(cat "/proc/$pid/comm" 2>/dev/null) == runuser ]] || kill -TERM "$pid" 2>/dev/null || true
		done
		wait "$TD_CHILD" 2>/dev/null || true
	fi
	exit "$1"
}

# --- packages -----------------------------------------------------------------
td__all_installed() {
	local status
	status=$(dpkg-query -W -f='${db:Status-Abbrev}\n' "${TD_PACKAGES[@]}" 2>/dev/null) || return 1
	[[ $(grep -c '^ii' <<<"$status") -eq ${#TD_PACKAGES[@]} ]]
}

td_install_packages() {
	if [[ $EUID -ne 0 ]]; then
		td_say "not root: skipping apt-get (needs: ${TD_PACKAGES[*]})"
		return 0
	fi
	# Developer reruns: nothing to do. CI on a fresh machine always installs.
	td__all_installed && return 0
	td_say "installing packages (apt-get)"
	local log rc=0
	log=$(mktemp)
	{
		DEBIAN_FRONTEND=noninteractive apt-get update -q &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${TD_PACKAGES[@]}"
	} >"$log" 2>&1 || rc=$?
	if [[ $rc -ne 0 ]]; then
		tail -n 60 "$log" >&2
		rm -f "$log"
		td_die "package installation failed (apt-get exit $rc)"
	fi
	rm -f "$log"
}

# --- who runs the server and the tests (initdb refuses root) ---------------------
td_pick_user() {
	if [[ $EUID -eq 0 ]]; then
		TD_USER=postgres
		id -u "$TD_USER" >/dev/null 2>&1 || td_die "user 'postgres' missing (is postgresql-15 installed?)"
	else
		TD_USER=$(id -un)
	fi
}

td_as_user() {
	if [[ $EUID -eq 0 ]]; then
		runuser -u "$TD_USER" -- "$@"
	else
		"$@"
	fi
}

# --- build + install -----------------------------------------------------------------
td_build_install() {
	[[ -x $TD_PG_CONFIG ]] || td_die "$TD_PG_CONFIG not found: install postgresql-server-dev-15 (or run as root)"
	local log rc=0
	log=$(mktemp)
	td_say "building ticketdesk"
	make -C "$TD_ROOT" -j"$(nproc)" PG_CONFIG="$TD_PG_CONFIG" >"$log" 2>&1 || rc=$?
	if [[ $rc -ne 0 ]]; then
		tail -n 150 "$log" >&2
		rm -f "$log"
		td_die "BUILD FAILED (make exit $rc); nothing was tested"
	fi
	td_say "installing ticketdesk into $("$TD_PG_CONFIG" --sharedir)/extension"
	make -C "$TD_ROOT" install PG_CONFIG="$TD_PG_CONFIG" >"$log" 2>&1 || rc=$?
	if [[ $rc -ne 0 ]]; then
		tail -n 40 "$log" >&2
		rm -f "$log"
		if [[ $EUID -ne 0 ]]; then
			td_die "make install failed: as $(id -un) you need write access to $("$TD_PG_CONFIG" --sharedir)/extension and $("$TD_PG_CONFIG" --pkglibdir); run as root (sudo bash $0) instead"
		fi
		td_die "make install failed (exit $rc)"
	fi
	rm -f "$log"
}

# --- work dir + throwaway cluster ------------------------------------------------
td_make_workdir() {
	# /tmp, not the repo: the clone may be root-owned and unreadable by postgres.
	TD_WORK=$(mktemp -d /tmp/ticketdesk.XXXXXX)
	# TD_KEEP=1 keeps it (logs, results/, tmp_check/) for a post-mortem.
	[[ -n ${TD_KEEP:-} ]] || td_on_exit 'cd / && rm -rf "$TD_WORK"'
	if [[ $EUID -eq 0 ]]; then chown "$TD_USER": "$TD_WORK"; fi
	chmod 755 "$TD_WORK"
	# Server tools complain if they start in a directory they cannot read (e.g. /root).
	cd "$TD_WORK" || exit
}

td__port_busy() { (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- a private IMAP server (tour/run, test/bench/imap_poll.sh) -------------------------
# td_start_dovecot: dovecot on 127.0.0.1, run as $TD_USER, one passwd-file user
# "desk" with a random password and a maildir (test/peers/dovecot.conf.in); stopped
# on exit. Exports TD_IMAP_PORT, TD_IMAP_PASSWORD and TD_IMAP_DIR (the mail is in
# $TD_IMAP_DIR/mail/desk).
td_start_dovecot() {
	local dir port=$((TD_PORT_BASE + 50)) group
	[[ -x /usr/sbin/dovecot ]] || td_die "dovecot is missing (Debian package dovecot-imapd)"
	dir=$(mktemp -d /tmp/td_imap.XXXXXX)
	td_on_exit "rm -rf '$dir'"
	mkdir -p "$dir/run" "$dir/state" "$dir/home" "$dir/mail"
	while td__port_busy "$port"; do port=$((port + 1)); done
	group=$(id -gn "$TD_USER")
	sed -e "s|@DIR@|$dir|g" -e "s|@PORT@|$port|g" -e "s|@USER@|$TD_USER|g" -e "s|@GROUP@|$group|g" \
		"$TD_ROOT/test/peers/dovecot.conf.in" >"$dir/dovecot.conf"
	TD_IMAP_PASSWORD=imap-$RANDOM$RANDOM
	echo "desk:{PLAIN}$TD_IMAP_PASSWORD" >"$dir/passwd"
	if [[ $EUID -eq 0 ]]; then chown -R "$TD_USER": "$dir"; fi
	td_as_user /usr/sbin/dovecot -c "$dir/dovecot.conf" || td_die "dovecot did not start (see $dir/dovecot.log)"
	td_on_exit "kill \$(cat '$dir/run/master.pid' 2>/dev/null) 2>/dev/null"
	for _ in $(seq 100); do td__port_busy "$port" && break; sleep 0.1; done
	td__port_busy "$port" || td_die "dovecot does not listen on 127.0.0.1:$port"
	export TD_IMAP_PORT=$port TD_IMAP_PASSWORD TD_IMAP_DIR=$dir
	td_say "dovecot (IMAP) on 127.0.0.1:$port"
}

td_start_cluster() {
	TD_PGDATA=$TD_WORK/data
	TD_PGHOST=$TD_WORK/sock
	TD_SERVER_LOG=$TD_WORK/server.log
	td_as_user mkdir "$TD_PGHOST"
	td_say "creating throwaway cluster in $TD_PGDATA"
	if ! td_as_user "$TD_PG_BIN/initdb" -D "$TD_PGDATA" -U postgres -A trust --no-sync \
		-E UTF8 --locale=C.UTF-8 >"$TD_WORK/initdb.log" 2>&1; then
		cat "$TD_WORK/initdb.log" >&2
		td_die "initdb failed"
	fi
	cat >>"$TD_PGDATA/postgresql.conf" <<-EOF

		# --- throwaway test cluster (test/lib.sh) ---
		fsync = off
		unix_socket_directories = '$TD_PGHOST'
		listen_addresses = '127.0.0.1'
		shared_preload_libraries = '$TD_PRELOAD'
		max_worker_processes = 16
		log_min_messages = warning
		# Tests move time with as_of; the worker's own run of the jobs would interfere.
		ticketdesk.jobs_interval = 0
		# Tests that poll IMAP start their own server and node (test/t/071_imap_poll.pl).
		ticketdesk.mail_poll = off
		$TD_EXTRA_CONF
	EOF
	td_on_exit 'td_stop_cluster'

	# Pick a free port; retry if someone grabs it between the check and the start.
	local port=$TD_PORT_BASE _
	for _ in 1 2 3 4 5; do
		while td__port_busy "$port"; do port=$((port + 1)); done
		echo "port = $port" >>"$TD_PGDATA/postgresql.conf" # the last 'port' line wins
		if td_as_user "$TD_PG_BIN/pg_ctl" -D "$TD_PGDATA" -l "$TD_SERVER_LOG" -w -t 60 start >/dev/null; then
			export PGHOST=$TD_PGHOST PGPORT=$port PGUSER=postgres
			td_say "cluster up on port $port (socket dir $TD_PGHOST)"
			return 0
		fi
		grep -q 'Address already in use' "$TD_SERVER_LOG" 2>/dev/null || break
		port=$((port + 1))
	done
	tail -n 30 "$TD_SERVER_LOG" >&2 || true
	td_die "could not start the throwaway cluster"
}

# Is the postmaster of data dir $1 alive? Not "pg_ctl status": where PID 1 does not reap
# orphans (as on these machines) a killed postmaster stays a zombie pg_ctl calls running.
td__postmaster_alive() {
	local pid state
	pid=$(head -n 1 "$1/postmaster.pid" 2>/dev/null) || return 1
	state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
	[[ -n $state && $state != Z ]]
}

# Between suites: a crashed server must not take the following suites down with it.
td_ensure_cluster() {
	local i
	if td__postmaster_alive "$TD_PGDATA"; then
		# After a backend crash the server is in recovery for a moment: wait it out.
		for ((i = 0; i < 60; i++)); do
			"$TD_PG_BIN/pg_isready" -q -h "$PGHOST" -p "$PGPORT" && return 0
			sleep 1
		done
		td_die "the cluster stopped accepting connections"
	fi
	td_say "cluster is not running (postmaster died); restarting it. Last server log lines:"
	tail -n 20 "$TD_SERVER_LOG" || true
	# The stale lock files name a PID that may still exist as a zombie: drop them.
	rm -f "$TD_PGDATA/postmaster.pid" "$TD_PGHOST/.s.PGSQL.$PGPORT.lock"
	td_as_user "$TD_PG_BIN/pg_ctl" -D "$TD_PGDATA" -l "$TD_SERVER_LOG" -w -t 60 start >/dev/null ||
		td_die "could not restart the cluster"
}

# Stop the server of data dir $1 (default: ours), quietly, if it is alive
# (pg_ctl stop would wait a minute for a dead, zombie postmaster to go away).
td_stop_cluster() {
	local data=${1:-$TD_PGDATA}
	td__postmaster_alive "$data" || return 0
	td_as_user "$TD_PG_BIN/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
}

# Server log lines that explain crashes; cheap to show under a failing suite.
td_server_trouble() {
	local lines
	lines=$(grep -E 'PANIC|TRAP:|terminated by signal|was terminated|exited with exit code' "$TD_SERVER_LOG" 2>/dev/null | tail -n 20) || true
	if [[ -n $lines ]]; then printf -- '----- server log: crashes -----\n%s\n' "$lines"; fi
}

# Everything both scripts need before they can talk to the cluster.
td_setup() {
	td_install_packages
	td_pick_user
	td_build_install
	td_make_workdir
	td_start_cluster
}
