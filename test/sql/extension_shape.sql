-- The shape of the installed ticketdesk extension, one line per fact, in a
-- stable order: what a fresh CREATE EXTENSION and an ALTER EXTENSION UPDATE
-- must agree on (test/t/004_upgrade.pl). Column order is left out on
-- purpose: ALTER TABLE appends columns, and no code depends on their order.
\pset format unaligned
\pset tuples_only on
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'ticketdesk'),
members AS (
    SELECT d.classid, d.objid, d.objsubid FROM pg_depend d, ext
     WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
),
rels AS (
    SELECT c.oid, c.relname, c.relkind FROM pg_class c
     WHERE c.relnamespace = 'ticketdesk'::regnamespace
),
acl AS (
    SELECT 'member ' || pg_describe_object(classid, objid, objsubid) AS fact FROM members
    UNION ALL
    SELECT format('relation %s kind %s rls %s force %s options %s acl %s', c.relname, c.relkind,
                  c.relrowsecurity, c.relforcerowsecurity, c.reloptions,
                  (SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(c.relacl) a))
      FROM pg_class c WHERE c.relnamespace = 'ticketdesk'::regnamespace
    UNION ALL
    SELECT format('column %s.%s %s notnull %s default %s identity %s generated %s acl %s',
                  r.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                  pg_get_expr(ad.adbin, ad.adrelid), a.attidentity, a.attgenerated,
                  (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(a.attacl) x))
      FROM rels r JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
      LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
    UNION ALL
    SELECT format('constraint %s.%s %s', r.relname, co.conname, pg_get_constraintdef(co.oid))
      FROM rels r JOIN pg_constraint co ON co.conrelid = r.oid
    UNION ALL
    SELECT format('domain constraint %s.%s %s', t.typname, co.conname, pg_get_constraintdef(co.oid))
      FROM pg_type t JOIN pg_constraint co ON co.contypid = t.oid
     WHERE t.typnamespace = 'ticketdesk'::regnamespace
    UNION ALL
    SELECT 'index ' || pg_get_indexdef(i.indexrelid) FROM rels r JOIN pg_index i ON i.indrelid = r.oid
    UNION ALL
    SELECT format('trigger %s enabled %s', pg_get_triggerdef(t.oid), t.tgenabled)
      FROM rels r JOIN pg_trigger t ON t.tgrelid = r.oid AND NOT t.tgisinternal
    UNION ALL
    SELECT format('policy %s.%s %s permissive %s roles %s using %s check %s', r.relname, p.polname,
                  p.polcmd, p.polpermissive,
                  (SELECT string_agg(CASE WHEN x = 0 THEN 'public' ELSE x::regrole::text END, ',' ORDER BY 1)
                     FROM unnest(p.polroles) x),
                  pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid))
      FROM rels r JOIN pg_policy p ON p.polrelid = r.oid
    UNION ALL
    SELECT format('function %s acl %s config %s', p.oid::regprocedure,
                  (SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(p.proacl) a), p.proconfig)
           || E'\n' || CASE WHEN p.prokind = 'a' THEN 'aggregate' ELSE pg_get_functiondef(p.oid) END
      FROM pg_proc p WHERE p.pronamespace = 'ticketdesk'::regnamespace
    UNION ALL
    SELECT format('enum %s %s', t.typname,
                  (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid))
      FROM pg_type t WHERE t.typnamespace = 'ticketdesk'::regnamespace AND t.typtype = 'e'
    UNION ALL
    SELECT format('view %s %s', r.relname, pg_get_viewdef(r.oid)) FROM rels r WHERE r.relkind IN ('v', 'm')
    UNION ALL
    SELECT format('comment %s %s', pg_describe_object(d.classoid, d.objoid, d.objsubid), d.description)
      FROM pg_description d JOIN members m ON m.classid = d.classoid AND m.objid = d.objoid AND m.objsubid = 0
    UNION ALL
    SELECT format('dumped %s where %s', c::regclass, w)
      FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS u(c, w) WHERE e.extname = 'ticketdesk'
    UNION ALL
    SELECT format('role %s', rolname) FROM pg_roles WHERE rolname LIKE 'ticketdesk\_%'
)
SELECT fact FROM acl ORDER BY fact COLLATE "C";
