SELECT ticket_id, subject, status, created_at FROM ticketdesk.ticket WHERE tenant_id = 1 AND contact_id = 4244 ORDER BY created_at DESC LIMIT 20;
