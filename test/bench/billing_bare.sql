-- Baseline for billing_run.sql: the same lines (per customer and work type,
-- billable entries of finished tickets, rounded, priced) made by one plain
-- INSERT ... SELECT into a table with a primary key only: no ledger, no
-- marking of the entries, no fees, no corrections. Rolled back as well.
\set QUIET on
BEGIN;
SELECT clock_timestamp() AS t0 \gset
WITH e AS (
    SELECT k.customer_id, e.work_type,
           greatest(30, ceil(e.minutes / 15.0)::integer * 15) AS minutes
      FROM ticketdesk.time_entry e
      JOIN ticketdesk.ticket k ON k.tenant_id = e.tenant_id AND k.ticket_id = e.ticket_id
     WHERE e.tenant_id = 1 AND upper(e.period) <= '2025-04-01'
       AND k.status IN ('resolved', 'confirmed', 'closed') AND e.confirmed_at IS NOT NULL
), g AS (
    SELECT e.customer_id, e.work_type, sum(e.minutes) AS minutes, count(*) AS entries,
           (SELECT r.hourly FROM ticketdesk.rate r
             WHERE r.tenant_id = 1 AND (r.customer_id = e.customer_id OR r.customer_id IS NULL)
               AND (r.work_type = e.work_type OR r.work_type IS NULL)
             ORDER BY r.customer_id IS NULL, r.work_type IS NULL LIMIT 1) AS price
      FROM e GROUP BY e.customer_id, e.work_type
)
INSERT INTO bench.bare_line (tenant_id, run_id, line_no, customer_id, kind, work_type, item, quantity, unit,
                             unit_price, amount, minutes, tickets, entries)
SELECT 1, 1, row_number() OVER (ORDER BY customer_id, work_type), customer_id, 'work', work_type,
       'work: ' || work_type, round(minutes / 60.0, 2), 'h', price, round(minutes * price / 60, 2),
       minutes, 0, entries
  FROM g;
SELECT extract(epoch FROM clock_timestamp() - :'t0') AS secs,
       (SELECT count(*) FROM bench.bare_line) AS lines;
ROLLBACK;
