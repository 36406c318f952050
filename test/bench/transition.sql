-- A status transition through the lifecycle trigger: a random pre-opened
-- ticket moves in_progress -> waiting or waiting -> in_progress (both allowed
-- moves), and the history trigger records it in ticket_event.
-- Variables from test/bench/run (-D): tickets.
\set id random(1, :tickets)
UPDATE ticketdesk.ticket
   SET status = CASE status WHEN 'in_progress' THEN 'waiting'::ticketdesk.ticket_status
                            ELSE 'in_progress'::ticketdesk.ticket_status END
 WHERE tenant_id = 1 AND ticket_id = :id;
