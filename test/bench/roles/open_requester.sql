SELECT ticketdesk.open_my_ticket('Bench', 1);
