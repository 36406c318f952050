-- One billing run of March over the benchmark month, rolled back so that
-- every round starts from the same data. Prints the seconds it took.
\set QUIET on
BEGIN;
SELECT clock_timestamp() AS t0 \gset
SELECT lines, total FROM ticketdesk.billing_run('2025-03-01') \gset
SELECT extract(epoch FROM clock_timestamp() - :'t0') AS secs,
       (SELECT count(*) FROM ticketdesk.billed_item) AS ledger_rows,
       :lines AS lines, :total AS total;
ROLLBACK;
