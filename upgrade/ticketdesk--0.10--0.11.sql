-- ticketdesk 0.10 -> 0.11. Each section names the change it brings; the
-- result must equal a fresh install of 0.11 (test/t/004_upgrade.pl compares
-- the two, object by object).
\echo Use "ALTER EXTENSION ticketdesk UPDATE TO '0.11'" to load this file. \quit

-- Open work per assignee leaves out the tickets nobody holds: every look-up
-- names an assignee, and an opening without one no longer writes an entry
-- that nothing reads.
DROP INDEX ticket_assignee_open_idx;
CREATE INDEX ticket_assignee_open_idx ON ticket (tenant_id, assignee_id)
    WHERE phase = 'open' AND assignee_id IS NOT NULL;

-- The load counters' pages hold about ten agents each, so that the pruning
-- that nearly every move's update does passes over ten rows, not a hundred.
-- Rows written from now on follow it; VACUUM FULL agent_load spreads the
-- existing ones at once.
ALTER TABLE agent_load SET (fillfactor = 10);

-- (the lead's sections end here; helpers' sections follow)
