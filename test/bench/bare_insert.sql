-- Baseline for open_ticket.sql and plain_insert.sql: the same row (the values
-- open_ticket stores, the contact's customer included) inserted into
-- bench.bare_ticket, which has the ticket's columns and a primary key only.
-- Variables from test/bench/run (-D): centers, contacts, type.
\set center random(1, :centers)
\set category 3 * (:center - 1) + random(1, 3)
\set contact random(1, :contacts)
\set customer (:contact - 1) / 4 + 1
\set weight random(1, 5)
INSERT INTO bench.bare_ticket
       (tenant_id, type_id, center_id, category_id, customer_id, contact_id, registered_by,
        channel, subject, description, requester_weight)
VALUES (1, :type, :center, :category, :customer, :contact, 1,
        'web', 'Printer on floor ' || :center || ' jams on every second page',
        'Since this morning the printer next to the kitchen jams; the display says E-204.', :weight);
