-- The shape every table of the schema keeps (issue 2's data model): tenant_id
-- is the first column of each table, part of its primary key and of every
-- foreign key, matched with the referenced table's tenant_id, so that the
-- schema can be distributed by tenant without redesign; and every table and
-- sequence is registered with pg_extension_config_dump, so that pg_dump keeps
-- its rows (test/t/001_dump_restore.pl shows the round trip). The checks read
-- the catalogue, so a table added later is held to them without being named.
-- (test/sql/extension_shape.sql is another thing: the facts a fresh install
-- and an upgrade must agree on, compared by test/t/004_upgrade.pl.)
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS ticketdesk CASCADE;
CREATE EXTENSION ticketdesk;
RESET client_min_messages;

-- Every breach of the rules, one row each. No exception is made: none is
-- needed today. Should one ever be, name it here with the reason.
CREATE TEMP VIEW shape_breach AS
WITH tabl AS (
    SELECT c.oid, c.relname FROM pg_class c
     WHERE c.relnamespace = 'ticketdesk'::regnamespace AND c.relkind IN ('r', 'p')
),
fk AS (
    SELECT t.relname, co.conname, co.conrelid, co.confrelid, co.conkey, co.confkey
      FROM pg_constraint co JOIN tabl t ON t.oid = co.conrelid
     WHERE co.contype = 'f'
       -- The tenant itself is referenced by its id: (tenant_id) REFERENCES tenant.
       AND co.confrelid <> 'ticketdesk.tenant'::regclass
)
-- 1. tenant_id comes first (dropped columns do not count).
SELECT 'first column is not tenant_id' AS rule, t.relname::text AS object
  FROM tabl t
 WHERE (SELECT a.attname FROM pg_attribute a
         WHERE a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
         ORDER BY a.attnum LIMIT 1) IS DISTINCT FROM 'tenant_id'
UNION ALL
-- 2. The primary key exists and holds tenant_id.
SELECT 'no primary key with tenant_id', t.relname
  FROM tabl t
 WHERE NOT EXISTS (SELECT 1 FROM pg_constraint p JOIN pg_attribute a
                       ON a.attrelid = p.conrelid AND a.attnum = ANY (p.conkey)
                    WHERE p.conrelid = t.oid AND p.contype = 'p' AND a.attname = 'tenant_id')
UNION ALL
-- 3. Each foreign key pairs tenant_id with tenant_id: a row can only point
--    at a row of its own tenant. (Lacking tenant_id on either side fails
--    this too.)
SELECT 'foreign key does not pair tenant_id with tenant_id', f.relname || '.' || f.conname
  FROM fk f
 WHERE NOT EXISTS (SELECT 1 FROM unnest(f.conkey, f.confkey) AS k(col, refcol)
                    WHERE (SELECT attname FROM pg_attribute WHERE attrelid = f.conrelid AND attnum = k.col) = 'tenant_id'
                      AND (SELECT attname FROM pg_attribute WHERE attrelid = f.confrelid AND attnum = k.refcol) = 'tenant_id')
UNION ALL
-- 4. Every table and sequence is dumped with the extension.
SELECT 'not in extconfig (pg_dump would lose its rows)', c.relname
  FROM pg_class c
 WHERE c.relnamespace = 'ticketdesk'::regnamespace AND c.relkind IN ('r', 'p', 'S')
   AND NOT EXISTS (SELECT 1 FROM pg_extension e
                    WHERE e.extname = 'ticketdesk' AND c.oid = ANY (e.extconfig));

-- The installed schema keeps every rule.
SELECT rule, object FROM shape_breach ORDER BY rule, object;

-- The checks looked at something: tables, foreign keys to tenant and to
-- other tables, and sequences (counted loosely: later issues add more).
SELECT count(*) FILTER (WHERE relkind IN ('r', 'p')) > 50 AS tables,
       count(*) FILTER (WHERE relkind = 'S') > 40 AS sequences
  FROM pg_class WHERE relnamespace = 'ticketdesk'::regnamespace;
SELECT count(*) FILTER (WHERE confrelid = 'ticketdesk.tenant'::regclass) > 50 AS to_tenant,
       count(*) FILTER (WHERE confrelid <> 'ticketdesk.tenant'::regclass) > 80 AS to_others
  FROM pg_constraint WHERE contype = 'f' AND connamespace = 'ticketdesk'::regnamespace;

-- And each rule catches a table that breaks it, here made in a transaction
-- that is rolled back:
BEGIN;
-- id first, a primary key without tenant_id, a serial (a sequence), and
-- none of them registered for the dump; a table with no primary key;
CREATE TABLE ticketdesk.shape_loner (id serial PRIMARY KEY, tenant_id integer NOT NULL);
CREATE TABLE ticketdesk.shape_heap (tenant_id integer NOT NULL);
-- foreign keys that miss tenant_id on the referencing side, on the
-- referenced side, or pair it with another column; the one to tenant and
-- the one that pairs tenant_id with tenant_id are fine.
CREATE TABLE ticketdesk.shape_links (
    tenant_id integer NOT NULL REFERENCES ticketdesk.tenant,
    other_tenant integer NOT NULL,
    ticket_id bigint NOT NULL,
    PRIMARY KEY (tenant_id, ticket_id),
    CONSTRAINT via_other_tenant FOREIGN KEY (other_tenant, ticket_id) REFERENCES ticketdesk.ticket,
    CONSTRAINT to_loner FOREIGN KEY (tenant_id) REFERENCES ticketdesk.shape_loner (id),
    CONSTRAINT crossed FOREIGN KEY (ticket_id, tenant_id) REFERENCES ticketdesk.ticket (tenant_id, ticket_id),
    CONSTRAINT paired FOREIGN KEY (tenant_id, ticket_id) REFERENCES ticketdesk.ticket);
SELECT rule, object FROM shape_breach ORDER BY rule, object;
ROLLBACK;
