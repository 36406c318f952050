-- Secrets are the administrator's alone. 95_roles.sql granted reading on
-- every table and the API to the staff and portal roles; take it back here.
-- Superusers (the worker) bypass grants and row-level security.
REVOKE ALL ON secret, secret_names FROM PUBLIC, ticketdesk_admin, ticketdesk_dispatcher, ticketdesk_agent,
    ticketdesk_requester, ticketdesk_intake;
REVOKE EXECUTE ON FUNCTION set_secret(text, text), drop_secret(text)
    FROM PUBLIC, ticketdesk_dispatcher, ticketdesk_agent, ticketdesk_requester, ticketdesk_intake;
GRANT SELECT, INSERT, UPDATE, DELETE ON secret TO ticketdesk_admin;
GRANT SELECT ON secret_names TO ticketdesk_admin;
GRANT EXECUTE ON FUNCTION set_secret(text, text), drop_secret(text) TO ticketdesk_admin;
