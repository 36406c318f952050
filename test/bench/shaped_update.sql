-- For information: the UPDATE of transition.sql on bench.shaped_ticket, a copy
-- of the ticket table with its indexes, check constraints and generated
-- columns but without triggers, foreign keys or row-level security.
-- Variables from test/bench/run (-D): tickets.
\set id random(1, :tickets)
UPDATE bench.shaped_ticket
   SET status = CASE status WHEN 'in_progress' THEN 'waiting'::ticketdesk.ticket_status
                            ELSE 'in_progress'::ticketdesk.ticket_status END
 WHERE tenant_id = 1 AND ticket_id = :id;
