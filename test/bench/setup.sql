-- test/bench/setup.sql: the data the benchmarks run on. Loaded by test/bench/run
-- as the superuser into a fresh database, right after CREATE EXTENSION, with
--   psql -v tickets=50000 -v centers=4 -v customers=100 -v contacts=400 -v agents=200 \
--        -v role=ticketdesk_dispatcher
--
-- Everything lives in the default tenant (1). A fresh database is assumed, so
-- the ids are predictable and the pgbench scripts can draw them at random:
--   centre    1..:centers           (1 is the root, the others sit beneath it)
--   category  3 per centre          (centre c owns categories 3c-2 .. 3c)
--   customer  1..:customers
--   contact   1..:contacts          (contact c is a person of customer (c-1)/4+1)
--   agent     1..:agents            (agent 1 is the one role "bench" logs in as;
--                                   the others share the pre-opened tickets)
--   ticket    1..:tickets           (pre-opened, assigned and in progress)
--
-- The baseline is bench.bare_ticket: the columns of ticketdesk.ticket (the
-- generated reference included, so rows have the same width), a primary key,
-- and nothing else: no triggers, no foreign keys, no row-level security, no
-- other index. It holds a copy of the same :tickets rows.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SELECT set_config('bench.tickets', :'tickets', false);

-- The role the benchmarks connect as: not a superuser, so row-level security
-- and the privileges of its ticketdesk role (:role, by default
-- ticketdesk_dispatcher) apply to it as they would to a staff login. It is
-- mapped to agent 1 below, a dispatcher of the root centre and so of all of them.
CREATE ROLE bench LOGIN IN ROLE :"role";

-- Organisation: a root centre with the others beneath it.
INSERT INTO ticketdesk.center (center_id, parent_id, code, name)
VALUES (1, NULL, 'c1', 'Service desk');
INSERT INTO ticketdesk.center (center_id, parent_id, code, name)
SELECT c, 1, 'c' || c, 'Centre ' || c FROM generate_series(2, :centers) c;
SELECT setval('ticketdesk.center_center_id_seq', :centers);

INSERT INTO ticketdesk.category (category_id, center_id, code, name)
SELECT 3 * (c - 1) + k, c, 'k' || k, 'Category ' || k || ' of centre ' || c
  FROM generate_series(1, :centers) c, generate_series(1, 3) k;
SELECT setval('ticketdesk.category_category_id_seq', 3 * :centers);

INSERT INTO ticketdesk.agent (agent_id, name, email, login_role)
VALUES (1, 'Bench application', 'bench@example.com', 'bench');
INSERT INTO ticketdesk.agent (agent_id, name, email)
SELECT a, 'Agent ' || a, 'agent' || a || '@example.com' FROM generate_series(2, :agents) a;
SELECT setval('ticketdesk.agent_agent_id_seq', :agents);

INSERT INTO ticketdesk.center_member (center_id, agent_id, role)
VALUES (1, 1, 'dispatcher');
INSERT INTO ticketdesk.center_member (center_id, agent_id, role)
SELECT 1 + (a % :centers), a, 'executor' FROM generate_series(2, :agents) a;

-- Customers and their contact persons.
INSERT INTO ticketdesk.customer (customer_id, name, email)
SELECT c, 'Customer ' || c, 'office@customer' || c || '.example.com'
  FROM generate_series(1, :customers) c;
SELECT setval('ticketdesk.customer_customer_id_seq', :customers);

INSERT INTO ticketdesk.contact (contact_id, customer_id, name, email)
SELECT p, (p - 1) / 4 + 1, 'Contact ' || p, 'person' || p || '@example.com'
  FROM generate_series(1, :contacts) p;
SELECT setval('ticketdesk.contact_contact_id_seq', :contacts);

-- The pre-opened tickets for the transition benchmark: opened with an
-- assignee (so "assigned"), then started ("in_progress"). Both statements go
-- through the ticket's triggers (lifecycle, history, routing loads, checklist),
-- as any ticket's would, except that no notification is queued for them: that
-- would take minutes here, and the benchmarks measure the notifications of
-- their own transactions only. The trigger is back on before anything is measured.
ALTER TABLE ticketdesk.ticket_event DISABLE TRIGGER ticket_event_notify;
INSERT INTO ticketdesk.ticket
       (tenant_id, type_id, center_id, category_id, customer_id, contact_id, registered_by,
        channel, subject, description, requester_weight, assignee_id)
SELECT 1,
       (SELECT type_id FROM ticketdesk.ticket_type WHERE tenant_id = 1 AND code = 'incident'),
       c.center_id, 3 * (c.center_id - 1) + 1 + (i % 3), (p.contact_id - 1) / 4 + 1, p.contact_id, 1,
       'web', 'Pre-opened ticket ' || i, 'Something does not work as it should; please have a look.',
       1 + i % 5, 2 + i % (:agents - 1)
  FROM generate_series(1, :tickets) i,
       LATERAL (SELECT 1 + i % :centers AS center_id) c,
       LATERAL (SELECT 1 + i % :contacts AS contact_id) p;
UPDATE ticketdesk.ticket SET status = 'in_progress' WHERE tenant_id = 1;
ALTER TABLE ticketdesk.ticket_event ENABLE TRIGGER ticket_event_notify;

DO $$
BEGIN
    IF (SELECT count(*) FROM ticketdesk.ticket WHERE status = 'in_progress') <> current_setting('bench.tickets')::int
       OR (SELECT min(ticket_id) FROM ticketdesk.ticket) <> 1
       OR (SELECT max(ticket_id) FROM ticketdesk.ticket) <> current_setting('bench.tickets')::int THEN
        RAISE EXCEPTION 'setup: the pre-opened tickets are not ids 1..% in progress', current_setting('bench.tickets');
    END IF;
END $$;

-- The baseline table and its copy of the same rows.
CREATE SCHEMA bench;
CREATE TABLE bench.bare_ticket (LIKE ticketdesk.ticket INCLUDING DEFAULTS INCLUDING GENERATED);
CREATE SEQUENCE bench.bare_ticket_id_seq OWNED BY bench.bare_ticket.ticket_id;
ALTER TABLE bench.bare_ticket ALTER ticket_id SET DEFAULT nextval('bench.bare_ticket_id_seq');
ALTER TABLE bench.bare_ticket ADD PRIMARY KEY (tenant_id, ticket_id);

-- For information only: bench.shaped_ticket has the shape of ticketdesk.ticket
-- (its indexes, check constraints, generated columns and fill factor) without
-- its triggers, foreign keys and row-level security. An UPDATE of it against
-- a transition separates what the lifecycle work costs from what the table's
-- shape costs.
CREATE TABLE bench.shaped_ticket (LIKE ticketdesk.ticket INCLUDING ALL) WITH (fillfactor = 85);

DO $$
DECLARE
    cols text;
BEGIN
    -- Every stored column but the generated reference, which is recomputed.
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols
      FROM pg_attribute
     WHERE attrelid = 'ticketdesk.ticket'::regclass AND attnum > 0 AND NOT attisdropped
       AND attgenerated = '';
    EXECUTE format('INSERT INTO bench.bare_ticket (%s) SELECT %s FROM ticketdesk.ticket ORDER BY ticket_id',
                   cols, cols);
    EXECUTE format('INSERT INTO bench.shaped_ticket (%s) SELECT %s FROM ticketdesk.ticket ORDER BY ticket_id',
                   cols, cols);
END $$;
SELECT setval('bench.bare_ticket_id_seq', (SELECT max(ticket_id) FROM bench.bare_ticket));

GRANT USAGE ON SCHEMA bench TO bench;
GRANT SELECT, INSERT, UPDATE ON bench.bare_ticket, bench.shaped_ticket TO bench;
GRANT USAGE ON SEQUENCE bench.bare_ticket_id_seq TO bench;

VACUUM ANALYZE;
