SET client_min_messages = warning;
DROP EXTENSION IF EXISTS ticketdesk CASCADE;
CREATE EXTENSION ticketdesk;
SET search_path = ticketdesk, public;
INSERT INTO center (code, name) VALUES ('helpdesk', 'Helpdesk');
INSERT INTO customer (name) SELECT 'Customer ' || i FROM generate_series(1, 1000) i;
INSERT INTO contact (customer_id, name) SELECT 1 + (i % 1000), 'Contact ' || i FROM generate_series(1, 20000) i;
UPDATE contact SET login_role = 'bench_req' WHERE contact_id = 4242;
DROP ROLE IF EXISTS bench_req; DROP ROLE IF EXISTS bench_admin;
CREATE ROLE bench_req IN ROLE ticketdesk_requester;
CREATE ROLE bench_admin IN ROLE ticketdesk_admin;
SET session_replication_role = replica;
INSERT INTO ticket (type_id, center_id, customer_id, contact_id, subject, created_at)
SELECT 1, 1, 1 + ((i % 20000) % 1000), 1 + (i % 20000), 'Ticket ' || i, now() - (i || ' seconds')::interval
  FROM generate_series(1, 1000000) i;
RESET session_replication_role;
VACUUM ANALYZE ticket;
ALTER ROLE bench_req LOGIN;
ALTER ROLE bench_admin LOGIN;
INSERT INTO agent (name, login_role) VALUES ('Admin', 'bench_admin');
