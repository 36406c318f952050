-- ticketdesk 0.9 -> 0.10. Each section names the change it brings; the
-- result must equal a fresh install of 0.10 (test/t/004_upgrade.pl compares
-- the two, object by object).
\echo Use "ALTER EXTENSION ticketdesk UPDATE TO '0.10'" to load this file. \quit

-- (the lead's sections end here; helpers' sections follow)
