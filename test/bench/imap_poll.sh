#!/usr/bin/env bash
# test/bench/imap_poll.sh: the mail worker taking mail from a real IMAP server
# against mail_take of the same mails with no IMAP, in one run.
#
#   TD_PG_ROOT=... TD_PORT_BASE=... bash test/bench/imap_poll.sh [mails]
#
# N mails of the fixture mix, each with a fresh Message-ID, are written into
# the maildir of a private dovecot (test/lib.sh td_start_dovecot). The mail
# worker polls them: for each UID a fetch, mail_take in its own transaction,
# then UID STORE \Seen. The baseline takes the same N raw mails (other
# Message-IDs) with mail_take from a table, one transaction each, in a
# procedure. Both rates are measured the same way, from the intake rows'
# received_at (first to last), and printed with their ratio: the price of
# IMAP and of the worker's own transactions.
set -euo pipefail
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
N=${1:-1000}

# shellcheck disable=SC2034  # read by td_setup (test/lib.sh)
TD_EXTRA_CONF="ticketdesk.mail_poll = on
ticketdesk.mail_poll_batch = 1000000"
# shellcheck source=test/bench/mail_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/mail_common.sh"

td_setup
td_start_dovecot

bench_mail_mix
mapfile -t mix < <(ls "$TD_WORK/bench")
maildir=$TD_IMAP_DIR/mail/desk
mkdir -p "$maildir/tmp" "$maildir/new" "$maildir/cur"
for ((i = 1; i <= N; i++)); do
	f=${mix[$(((i - 1) % ${#mix[@]}))]}
	{
		printf 'Message-ID: <imap-bench-%d@bench.test>\r\n' "$i"
		cat "$TD_WORK/bench/$f"
	} >"$maildir/tmp/$i.bench"
	mv "$maildir/tmp/$i.bench" "$maildir/new/$i.bench"
done
if [[ $EUID -eq 0 ]]; then chown -R "$TD_USER": "$TD_IMAP_DIR"; fi

bench_mail_desk
psql_q <<SQL
SET search_path = ticketdesk, public;
INSERT INTO mail_config (rate_limit, rate_window) VALUES (1000000, '1 second');

-- The baseline's mails: the same mix, the same order, other Message-IDs.
CREATE TABLE public.bench_raw (i integer PRIMARY KEY, raw bytea);
INSERT INTO public.bench_raw (i, raw)
SELECT i, convert_to('Message-ID: <direct-bench-' || i || E'@bench.test>\r\n', 'UTF8')
          || pg_read_binary_file('$TD_WORK/bench/' || f.name)
  FROM generate_series(1, $N) i
  JOIN (SELECT row_number() OVER (ORDER BY name) - 1 AS k, name
          FROM pg_ls_dir('$TD_WORK/bench') name) f ON f.k = (i - 1) % ${#mix[@]};
CREATE PROCEDURE public.take_all(box bigint) LANGUAGE plpgsql AS \$\$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT i, raw FROM public.bench_raw ORDER BY i LOOP
        PERFORM ticketdesk.mail_take(box, 1, r.i, r.raw);
        COMMIT;
    END LOOP;
END \$\$;
-- The baseline's mailbox is never due for the worker.
INSERT INTO mail_mailbox (center_id, url, username, poll_interval, last_poll_at)
VALUES (1, 'imap://127.0.0.1:1/INBOX', 'nobody', '1 day', now());
VACUUM ANALYZE;
SQL

td_say "baseline: mail_take of $N mails, one transaction each"
psql_q -c 'CALL public.take_all(1)'

td_say "the mail worker polls $N mails from dovecot"
psql_q <<SQL
SELECT ticketdesk.set_secret('imap.2.password', '$TD_IMAP_PASSWORD');
INSERT INTO ticketdesk.mail_mailbox (center_id, url, username, poll_interval)
VALUES (1, 'imap://127.0.0.1:$TD_IMAP_PORT/INBOX', 'desk', '1 second');
SQL
for _ in $(seq 3000); do
	[[ $(psql_q -Atc "SELECT last_uid >= $N FROM ticketdesk.mail_mailbox WHERE mailbox_id = 2") == t ]] && break
	sleep 0.2
done

psql_q -A -F ' ' <<SQL
SELECT 'mails', $N, 'bytes', (SELECT sum(octet_length(raw)) FROM public.bench_raw);
SELECT 'last_error', coalesce((SELECT last_error FROM ticketdesk.mail_mailbox WHERE mailbox_id = 2), 'none');
WITH s AS (
    SELECT split_part(mail_id, '-', 1) AS way, count(*) AS n,
           extract(epoch FROM max(received_at) - min(received_at)) AS secs
      FROM ticketdesk.mail_intake WHERE mail_id LIKE '%-bench-%@bench.test' GROUP BY 1)
SELECT d.n AS direct_mails, round((d.n - 1) / d.secs) AS direct_per_s,
       p.n AS imap_mails, round((p.n - 1) / p.secs) AS imap_per_s,
       round(((p.n - 1) / p.secs) / ((d.n - 1) / d.secs), 2) AS ratio
  FROM s d, s p WHERE d.way = 'direct' AND p.way = 'imap';
SQL
