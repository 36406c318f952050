-- Baseline for transition.sql: the same UPDATE on bench.bare_ticket, which
-- holds a copy of the same rows (status of the same enum type), with a
-- primary key and no triggers, foreign keys or row-level security.
-- Variables from test/bench/run (-D): tickets.
\set id random(1, :tickets)
UPDATE bench.bare_ticket
   SET status = CASE status WHEN 'in_progress' THEN 'waiting'::ticketdesk.ticket_status
                            ELSE 'in_progress'::ticketdesk.ticket_status END
 WHERE tenant_id = 1 AND ticket_id = :id;
