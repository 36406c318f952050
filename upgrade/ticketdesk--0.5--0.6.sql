-- ticketdesk 0.5 -> 0.6. Each section names the change it brings; the
-- result must equal a fresh install of 0.6 (test/t/004_upgrade.pl compares
-- the two, object by object).
\echo Use "ALTER EXTENSION ticketdesk UPDATE TO '0.6'" to load this file. \quit
