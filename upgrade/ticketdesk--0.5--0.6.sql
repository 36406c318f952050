-- ticketdesk 0.5 -> 0.6. Each section names the change it brings; the
-- result must equal a fresh install of 0.6 (test/t/004_upgrade.pl compares
-- the two, object by object).
\echo Use "ALTER EXTENSION ticketdesk UPDATE TO '0.6'" to load this file. \quit

-- One index on ticket_event instead of two: the primary key leads with the
-- ticket, (tenant_id, ticket_id, event_id), and ticket_event_ticket_idx,
-- which had those columns, goes. Rebuilds the key's index: on a large
-- history this takes a while and blocks writes to ticket_event (and so every
-- ticket change) until it is done.
ALTER TABLE ticket_event DROP CONSTRAINT ticket_event_pkey;
DROP INDEX ticket_event_ticket_idx;
ALTER TABLE ticket_event ADD PRIMARY KEY (tenant_id, ticket_id, event_id);

-- (the lead's sections end here; helpers' sections follow)
