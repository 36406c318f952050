-- test/bench/priority/setup.sql: the matrix the priority benchmark runs on,
-- loaded by test/bench/priority/run into a fresh database right after
-- CREATE EXTENSION, with
--   psql -v rules=5000 -v rules_big=50000 -v rows=1000000
--
-- Two tenants with the same trees: 5 centres (a root and 4 beneath it),
-- 1,000 categories in trees of depth 5 (5 roots, one per centre; 20, 75, 250
-- and 650 nodes on the levels below), 50 internal categories (10 roots with
-- 4 children each). Tenant 1 has :rules rules, tenant 2 :rules_big, drawn
-- from the same 1,006 x 51 cells (categories, centres and the whole tenant
-- x internal categories and "any") in a fixed pseudo-random order.
-- bench.cases holds :rows inputs for tenant 1, bench.cases_big the same
-- inputs with tenant 2's ids (mapped by code).
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SELECT setseed(0.42);
CREATE SCHEMA bench;

-- The trees of one tenant.
CREATE FUNCTION bench.make_trees(t integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    sizes integer[] := ARRAY[5, 20, 75, 250, 650];
    root_center bigint;
BEGIN
    PERFORM set_config('ticketdesk.tenant', t::text, true);
    INSERT INTO ticketdesk.center (tenant_id, code, name) VALUES (t, 'root', 'Root') RETURNING center_id INTO root_center;
    INSERT INTO ticketdesk.center (tenant_id, parent_id, code, name)
    SELECT t, root_center, 'c' || i, 'Centre ' || i FROM generate_series(1, 4) i;
    CREATE TEMP TABLE IF NOT EXISTS level_nodes (level integer, idx integer, category_id bigint, center_id bigint);
    TRUNCATE level_nodes;
    -- Level 1: one root category per centre.
    WITH c AS (SELECT center_id, row_number() OVER (ORDER BY center_id) - 1 AS idx
                 FROM ticketdesk.center WHERE tenant_id = t),
         ins AS (INSERT INTO ticketdesk.category (tenant_id, center_id, code, name)
                 SELECT t, c.center_id, 'k1-' || c.idx, 'Category 1-' || c.idx FROM c
                 RETURNING category_id, center_id, code)
    INSERT INTO level_nodes SELECT 1, split_part(code, '-', 2)::integer, category_id, center_id FROM ins;
    FOR l IN 2 .. 5 LOOP
        WITH ins AS (
            INSERT INTO ticketdesk.category (tenant_id, center_id, parent_id, code, name)
            SELECT t, p.center_id, p.category_id, 'k' || l || '-' || i, 'Category ' || l || '-' || i
              FROM generate_series(0, sizes[l] - 1) i
              JOIN level_nodes p ON p.level = l - 1 AND p.idx = i % sizes[l - 1]
            RETURNING category_id, center_id, code)
        INSERT INTO level_nodes SELECT l, split_part(code, '-', 2)::integer, category_id, center_id FROM ins;
    END LOOP;
    INSERT INTO ticketdesk.internal_category (tenant_id, code, name)
    SELECT t, 'i' || i, 'Internal ' || i FROM generate_series(1, 10) i;
    INSERT INTO ticketdesk.internal_category (tenant_id, parent_id, code, name)
    SELECT t, p.internal_category_id, p.code || '-' || j, p.name || '-' || j
      FROM ticketdesk.internal_category p, generate_series(1, 4) j
     WHERE p.tenant_id = t;
END $$;

-- how_many rules for tenant t, in a fixed pseudo-random order of the cells.
CREATE FUNCTION bench.make_rules(t integer, how_many integer) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('ticketdesk.tenant', t::text, true);
    INSERT INTO ticketdesk.priority_rule (tenant_id, center_id, category_id, internal_category_id, priority)
    SELECT t, f.center_id, f.category_id, s.internal_category_id,
           (enum_range(NULL::ticketdesk.ticket_priority))[1 + abs(hashtext(f.n || '/' || s.n)) % 4]
      FROM (SELECT NULL::bigint AS center_id, NULL::bigint AS category_id, 't' AS n
            UNION ALL SELECT c.center_id, NULL, 'c' || row_number() OVER (ORDER BY c.center_id)
                        FROM ticketdesk.center c WHERE c.tenant_id = t
            UNION ALL SELECT k.center_id, k.category_id, 'k' || row_number() OVER (ORDER BY k.category_id)
                        FROM ticketdesk.category k WHERE k.tenant_id = t) f,
           (SELECT NULL::bigint AS internal_category_id, 'any' AS n
            UNION ALL SELECT i.internal_category_id, 'i' || row_number() OVER (ORDER BY i.internal_category_id)
                        FROM ticketdesk.internal_category i WHERE i.tenant_id = t) s
     ORDER BY md5(f.n || '/' || s.n)
     LIMIT how_many;
END $$;

SELECT bench.make_trees(1);
SELECT ticketdesk.create_tenant('big', 'Tenant with many rules') AS big_tenant \gset
SELECT bench.make_trees(:big_tenant);
SELECT bench.make_rules(1, :rules);
SELECT bench.make_rules(:big_tenant, :rules_big);
RESET ticketdesk.tenant;

-- The inputs: a category and its centre,
-- an internal category 80% of the time, a requester
-- weight, a dispatcher weight 70% of the time, a deadline half the time.
CREATE TABLE bench.cases (
    id bigint PRIMARY KEY, center_id bigint, category_id bigint, internal_category_id bigint,
    requester_weight integer, dispatcher_weight integer, deadline timestamptz);
WITH k AS (SELECT category_id, center_id, row_number() OVER (ORDER BY category_id) - 1 AS n
             FROM ticketdesk.category WHERE tenant_id = 1),
     i AS (SELECT internal_category_id, row_number() OVER (ORDER BY internal_category_id) - 1 AS n
             FROM ticketdesk.internal_category WHERE tenant_id = 1),
     r AS (SELECT g AS id, floor(random() * 1000)::integer AS kn, floor(random() * 50)::integer AS inn,
                  random() AS ri, random() AS rd, random() AS rl, 1 + floor(random() * 5)::integer AS rw,
                  1 + floor(random() * 5)::integer AS dw, random() AS dl
             FROM generate_series(1, :rows) g)
INSERT INTO bench.cases
SELECT r.id, k.center_id, k.category_id,
       CASE WHEN r.ri < 0.8 THEN i.internal_category_id END,
       r.rw, CASE WHEN r.rd < 0.7 THEN r.dw END,
       CASE WHEN r.rl < 0.5 THEN timestamptz '2026-01-10 12:00+00' + (r.dl * 6 - 2) * interval '1 day' END
  FROM r JOIN k ON k.n = r.kn JOIN i ON i.n = r.inn;

-- The same inputs in tenant 2, mapped by code to its own ids.
CREATE TABLE bench.cases_big (LIKE bench.cases INCLUDING ALL);
INSERT INTO bench.cases_big
SELECT c.id, c2.center_id, k2.category_id, i2.internal_category_id,
       c.requester_weight, c.dispatcher_weight, c.deadline
  FROM bench.cases c
  JOIN ticketdesk.center c1 ON c1.tenant_id = 1 AND c1.center_id = c.center_id
  JOIN ticketdesk.center c2 ON c2.tenant_id = :big_tenant AND c2.code = c1.code
  JOIN ticketdesk.category k1 ON k1.tenant_id = 1 AND k1.category_id = c.category_id
  JOIN ticketdesk.category k2 ON k2.tenant_id = :big_tenant AND k2.code = k1.code
  LEFT JOIN ticketdesk.internal_category i1 ON i1.tenant_id = 1 AND i1.internal_category_id = c.internal_category_id
  LEFT JOIN ticketdesk.internal_category i2 ON i2.tenant_id = :big_tenant AND i2.code = i1.code;
VACUUM ANALYZE bench.cases, bench.cases_big;
SELECT (SELECT count(*) FROM ticketdesk.category WHERE tenant_id = 1) AS categories,
       (SELECT count(*) FROM ticketdesk.internal_category WHERE tenant_id = 1) AS internal_categories,
       (SELECT max(depth) FROM (WITH RECURSIVE d(id, depth) AS (
            SELECT category_id, 1 FROM ticketdesk.category WHERE tenant_id = 1 AND parent_id IS NULL
            UNION ALL SELECT k.category_id, d.depth + 1 FROM ticketdesk.category k JOIN d ON k.parent_id = d.id
                WHERE k.tenant_id = 1) SELECT depth FROM d) x) AS category_depth,
       (SELECT count(*) FROM ticketdesk.priority_rule WHERE tenant_id = 1) AS rules,
       (SELECT count(*) FROM ticketdesk.priority_rule WHERE tenant_id = :big_tenant) AS rules_big,
       (SELECT count(*) FROM bench.cases) AS cases;
