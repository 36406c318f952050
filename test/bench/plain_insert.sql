-- The statement of bare_insert.sql, into ticketdesk.ticket itself: no API
-- function, but the lifecycle and history triggers, the foreign keys, the
-- ticket's indexes and row-level security. Against bare_insert.sql it shows
-- what the table costs; against open_ticket.sql, what the plpgsql API adds.
-- Variables from test/bench/run (-D): centers, contacts, type.
\set center random(1, :centers)
\set category 3 * (:center - 1) + random(1, 3)
\set contact random(1, :contacts)
\set customer (:contact - 1) / 4 + 1
\set weight random(1, 5)
INSERT INTO ticketdesk.ticket
       (tenant_id, type_id, center_id, category_id, customer_id, contact_id, registered_by,
        channel, subject, description, requester_weight)
VALUES (1, :type, :center, :category, :customer, :contact, 1,
        'web', 'Printer on floor ' || :center || ' jams on every second page',
        'Since this morning the printer next to the kitchen jams; the display says E-204.', :weight);
