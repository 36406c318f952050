SELECT ticket_id, subject, status, created_at FROM ticketdesk.ticket WHERE contact_id = (SELECT ticketdesk.session_contact()) ORDER BY created_at DESC LIMIT 20;
