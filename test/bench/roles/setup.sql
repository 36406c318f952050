-- test/bench/roles/setup.sql: the data of the roles benchmark (issue 8),
-- loaded by test/bench/roles/run into database postgres of its server.
-- 1,000,000 tickets of 20,000 contacts of 1,000 customers: 50 per contact,
-- except contact 4244, a heavy requester with 2,000 more (its tickets are
-- among the million). Bulk-loaded with session_replication_role = replica
-- (no triggers, no history: the benchmark reads tickets, it does not move them).
--   bench_req    requester mapped to contact 4242 (lists its 20 newest)
--   bench_heavy  requester mapped to contact 4244 (the same, with 2,050 tickets)
--   bench_opener requester mapped to contact 4243 (opens tickets)
--   bench_admin  ticketdesk_admin mapped to an agent (opens for contact 4243)
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS ticketdesk CASCADE;
CREATE EXTENSION ticketdesk;
SET search_path = ticketdesk, public;
INSERT INTO center (code, name) VALUES ('helpdesk', 'Helpdesk');
INSERT INTO customer (name) SELECT 'Customer ' || i FROM generate_series(1, 1000) i;
INSERT INTO contact (customer_id, name) SELECT 1 + (i % 1000), 'Contact ' || i FROM generate_series(1, 20000) i;
UPDATE contact SET login_role = 'bench_req' WHERE contact_id = 4242;
UPDATE contact SET login_role = 'bench_opener' WHERE contact_id = 4243;
UPDATE contact SET login_role = 'bench_heavy' WHERE contact_id = 4244;
DROP ROLE IF EXISTS bench_req; DROP ROLE IF EXISTS bench_admin;
DROP ROLE IF EXISTS bench_opener; DROP ROLE IF EXISTS bench_heavy;
CREATE ROLE bench_req LOGIN IN ROLE ticketdesk_requester;
CREATE ROLE bench_opener LOGIN IN ROLE ticketdesk_requester;
CREATE ROLE bench_heavy LOGIN IN ROLE ticketdesk_requester;
CREATE ROLE bench_admin LOGIN IN ROLE ticketdesk_admin;
INSERT INTO agent (name, login_role) VALUES ('Admin', 'bench_admin');
SET session_replication_role = replica;
INSERT INTO ticket (type_id, center_id, customer_id, contact_id, subject, created_at)
SELECT 1, 1, 1 + ((c % 20000) % 1000), c, 'Ticket ' || i, now() - (i || ' seconds')::interval
  FROM generate_series(1, 1000000) i,
       LATERAL (SELECT CASE WHEN i <= 2000 THEN 4244 ELSE 1 + (i % 20000) END AS c) x;
RESET session_replication_role;
VACUUM ANALYZE ticket;
CHECKPOINT;
