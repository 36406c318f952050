SELECT ticketdesk.open_ticket('Bench', 1, contact_id => 4243, customer_id => (SELECT customer_id FROM ticketdesk.contact WHERE contact_id = 4243));
