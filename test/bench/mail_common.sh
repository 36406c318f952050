# shellcheck shell=bash
# test/bench/mail_common.sh: what the mail benchmarks (mail_ingest.sh,
# imap_poll.sh) share. Source it after test/lib.sh, call after td_setup.
#
#   bench_mail_mix     the fixtures without their Message-ID lines, in $TD_WORK/bench
#   bench_mail_desk    database "bench" with the extension and the desk the mix
#                      is addressed to: four centres with their mailboxes, an agent
#                      in each of the five languages, one known contact
#   psql_q ...         psql on database "bench" as the cluster's user

# shellcheck disable=SC2120  # the benchmarks pass arguments
psql_q() { td_as_user "$TD_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d bench "$@"; }

bench_mail_mix() {
	local f
	mkdir -p "$TD_WORK/bench"
	for f in "$TD_ROOT"/test/fixtures/*.eml; do
		sed '/^[Mm][Ee][Ss][Ss][Aa][Gg][Ee]-[Ii][Dd]:/d' "$f" >"$TD_WORK/bench/$(basename "$f")"
	done
	if [[ $EUID -eq 0 ]]; then chown -R "$TD_USER": "$TD_WORK/bench"; fi
}

bench_mail_desk() {
	td_as_user "$TD_PG_BIN/createdb" bench
	# shellcheck disable=SC2119
	psql_q <<-SQL
		CREATE EXTENSION ticketdesk;
		SET search_path = ticketdesk, public;
		INSERT INTO center (code, name, email)
		VALUES ('hq', 'Head office', 'help@desk.example'), ('heating', 'Heating', 'heating@desk.example'),
		       ('it', 'IT', 'it@desk.example'), ('sales', 'Sales', 'sales@desk.example');
		INSERT INTO agent (name, email, language)
		VALUES ('Dana', 'dana@desk.example', 'en'), ('Eli', 'eli@desk.example', 'lt'),
		       ('Fay', 'fay@desk.example', 'pl'), ('Noa', 'noa@desk.example', 'he'), ('Ion', 'ion@desk.example', 'ro');
		INSERT INTO contact (name, email, language) VALUES ('Rita Requester', 'rita@acme.test', 'lt');
	SQL
}
