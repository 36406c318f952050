SELECT ticket_id, subject, status, created_at FROM ticketdesk.ticket ORDER BY created_at DESC LIMIT 20;
