-- Opening a ticket through the API, as a web form or an ERP would: every
-- reference is checked by ticketdesk.open_ticket, then the row passes the
-- lifecycle and history triggers, foreign keys and row-level security.
-- Variables from test/bench/run (-D): centers, contacts.
\set center random(1, :centers)
\set category 3 * (:center - 1) + random(1, 3)
\set contact random(1, :contacts)
\set weight random(1, 5)
SELECT ticketdesk.open_ticket(
    subject          => 'Printer on floor ' || :center || ' jams on every second page',
    center_id        => :center,
    description      => 'Since this morning the printer next to the kitchen jams; the display says E-204.',
    type             => 'incident',
    contact_id       => :contact,
    category_id      => :category,
    channel          => 'web',
    requester_weight => :weight);
