-- ticketdesk 0.7 -> 0.8. Each section names the change it brings; the
-- result must equal a fresh install of 0.8 (test/t/004_upgrade.pl compares
-- the two, object by object).
\echo Use "ALTER EXTENSION ticketdesk UPDATE TO '0.8'" to load this file. \quit

-- (the lead's sections end here; helpers' sections follow)

-- (branch opening8) An opening remembers which types have no checklist
-- template (src/checklist_copy.c) until checklist_template changes: its
-- changes empty every backend's answers, as holders_changed does for the
-- routing caches.
CREATE TRIGGER holders_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON checklist_template
    FOR EACH STATEMENT EXECUTE FUNCTION holders_changed();
