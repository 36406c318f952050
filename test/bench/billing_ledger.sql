-- Second, informative baseline: what billing_run.sql writes, written
-- plainly: one ledger row per billable entry (INSERT ... SELECT into a copy
-- of billed_item with its primary key only), then the lines from it. No
-- queue, no fees, no corrections, no rate lookup per line. Rolled back.
\set QUIET on
BEGIN;
SELECT clock_timestamp() AS t0 \gset
INSERT INTO bench.bare_item (tenant_id, billed_id, run_id, line_no, ticket_id, entry_id, kind, work_type, minutes, unit_price)
SELECT 1, e.entry_id, 1, 0, e.ticket_id, e.entry_id, 'work', e.work_type,
       greatest(30, ceil(e.minutes / 15.0)::integer * 15), 40
  FROM ticketdesk.time_entry e
  JOIN ticketdesk.ticket k ON k.tenant_id = e.tenant_id AND k.ticket_id = e.ticket_id
 WHERE e.tenant_id = 1 AND upper(e.period) <= '2025-04-01'
   AND k.status IN ('resolved', 'confirmed', 'closed') AND e.confirmed_at IS NOT NULL;
INSERT INTO bench.bare_line (tenant_id, run_id, line_no, customer_id, kind, work_type, item, quantity, unit,
                             unit_price, amount, minutes, tickets, entries)
SELECT 1, 1, row_number() OVER (ORDER BY k.customer_id, i.work_type), k.customer_id, 'work', i.work_type,
       'work: ' || i.work_type, round(sum(i.minutes) / 60.0, 2), 'h', 40, round(sum(i.minutes) * 40 / 60.0, 2),
       sum(i.minutes), count(DISTINCT i.ticket_id), count(*)
  FROM bench.bare_item i JOIN ticketdesk.ticket k ON k.tenant_id = 1 AND k.ticket_id = i.ticket_id
 GROUP BY k.customer_id, i.work_type;
SELECT extract(epoch FROM clock_timestamp() - :'t0') AS secs,
       (SELECT count(*) FROM bench.bare_item) AS ledger_rows, (SELECT count(*) FROM bench.bare_line) AS lines;
ROLLBACK;
