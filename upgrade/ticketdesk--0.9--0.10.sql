-- ticketdesk 0.9 -> 0.10. Each section names the change it brings; the
-- result must equal a fresh install of 0.10 (test/t/004_upgrade.pl compares
-- the two, object by object).
\echo Use "ALTER EXTENSION ticketdesk UPDATE TO '0.10'" to load this file. \quit

-- The requester's message of every opening keeps the tenant's channel
-- policies per backend (src/notify_requester.c); a change of notify_policy
-- tells every backend to read them again, as the routing caches are told.
CREATE TRIGGER holders_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON notify_policy
    FOR EACH STATEMENT EXECUTE FUNCTION holders_changed();

-- (the lead's sections end here; helpers' sections follow)
