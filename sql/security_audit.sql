-- Security audit (issue 8): the catalog itself shows that every SECURITY
-- DEFINER function pins its search_path, that PUBLIC can run only the short
-- list of functions policies and defaults call as the querying role, and that
-- every table has forced row-level security. A new function or table that
-- breaks a rule shows up here as a difference.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS ticketdesk CASCADE;
CREATE EXTENSION ticketdesk;
RESET client_min_messages;
SET search_path = ticketdesk, public;

--
-- 1. SECURITY DEFINER functions without SET search_path: none.
--
SELECT p.oid::regprocedure AS offender
  FROM pg_proc p
 WHERE p.pronamespace = 'ticketdesk'::regnamespace AND p.prosecdef
   AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%')
 ORDER BY p.oid::regprocedure::text;

-- Those whose path does not end in pg_temp let a caller's temporary table
-- shadow an unqualified table name (pg_temp is searched first unless named).
-- None: the role_* helpers, the last ones, are C now (src/principal.c).
SELECT p.oid::regprocedure AS temp_tables_first
  FROM pg_proc p
 WHERE p.pronamespace = 'ticketdesk'::regnamespace AND p.prosecdef
   AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c ~ '^search_path=.*pg_temp$')
 ORDER BY p.oid::regprocedure::text;

--
-- 2. What PUBLIC may execute: the functions row-level security policies,
--    column defaults and triggers call as the querying role. Nothing else.
--
SELECT p.oid::regprocedure AS public_may_execute, p.prosecdef AS definer
  FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
 WHERE p.pronamespace = 'ticketdesk'::regnamespace AND a.grantee = 0 AND a.privilege_type = 'EXECUTE'
 ORDER BY p.oid::regprocedure::text;

-- PUBLIC has no right on any table, sequence or on the schema itself.
SELECT c.relname, a.privilege_type
  FROM pg_class c, aclexplode(c.relacl) a
 WHERE c.relnamespace = 'ticketdesk'::regnamespace AND a.grantee = 0;
SELECT a.privilege_type AS public_on_schema
  FROM pg_namespace n, aclexplode(n.nspacl) a
 WHERE n.nspname = 'ticketdesk' AND a.grantee = 0;

--
-- 3. The intake runs two functions of its own (besides PUBLIC's) and reads
--    no table.
--
SELECT p.oid::regprocedure AS intake_may_execute
  FROM pg_proc p
 WHERE p.pronamespace = 'ticketdesk'::regnamespace
   AND has_function_privilege('ticketdesk_intake', p.oid, 'EXECUTE')
   AND NOT EXISTS (SELECT 1 FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                    WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE')
 ORDER BY p.oid::regprocedure::text;
SELECT c.relname AS intake_may_read
  FROM pg_class c
 WHERE c.relnamespace = 'ticketdesk'::regnamespace AND c.relkind IN ('r', 'v')
   AND (has_table_privilege('ticketdesk_intake', c.oid, 'SELECT')
        OR has_any_column_privilege('ticketdesk_intake', c.oid, 'SELECT'));

-- Only administrators purge the history.
SELECT r AS may_purge_history
  FROM unnest(ARRAY['ticketdesk_admin', 'ticketdesk_dispatcher', 'ticketdesk_agent',
                    'ticketdesk_requester', 'ticketdesk_intake']) r
 WHERE has_function_privilege(r, 'ticketdesk.purge_history(interval)', 'EXECUTE');

--
-- 4. Every table has row-level security, forced (owners obey it too).
--
SELECT c.relname AS without_forced_rls
  FROM pg_class c
 WHERE c.relnamespace = 'ticketdesk'::regnamespace AND c.relkind IN ('r', 'p')
   AND NOT (c.relrowsecurity AND c.relforcerowsecurity);

--
-- 5. The history tables refuse UPDATE, DELETE and TRUNCATE by trigger.
--
SELECT c.relname AS history_table,
       bool_or(t.tgtype & 16 <> 0 AND t.tgtype & 8 <> 0) AS guards_update_delete,
       bool_or(t.tgtype & 32 <> 0) AS guards_truncate
  FROM pg_class c JOIN pg_trigger t ON t.tgrelid = c.oid
 WHERE c.relnamespace = 'ticketdesk'::regnamespace
   AND t.tgfoid IN ('ticketdesk.forbid_history_change'::regproc, 'ticketdesk.history_purge_guard'::regproc)
 GROUP BY c.relname ORDER BY c.relname;
