-- ticketdesk 0.3 -> 0.4. Each section names the change it brings; the
-- result must equal a fresh install of 0.4 (test/t/004_upgrade.pl compares
-- the two, object by object).
\echo Use "ALTER EXTENSION ticketdesk UPDATE TO '0.4'" to load this file. \quit

-- The worker's claim: sequential scans off too (a rescan of a sequential
-- scan per claimed row asked the table's size each time).
ALTER FUNCTION outbox_claim(integer, interval, text[]) SET enable_seqscan = off;

