-- ticketdesk 0.4 -> 0.5. Each section names the change it brings; the
-- result must equal a fresh install of 0.5 (test/t/004_upgrade.pl compares
-- the two, object by object).
\echo Use "ALTER EXTENSION ticketdesk UPDATE TO '0.5'" to load this file. \quit
