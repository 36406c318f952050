-- Data for test/bench/billing: one realistic service month (March 2025).
-- Variables (psql -v): entries, agents, customers. One ticket per five
-- entries; a fifth of the tickets are interventions (approval and a fee);
-- a tenth stay in progress, so their time is not billable yet.
SET search_path = ticketdesk, public;
SET TimeZone = 'UTC';
\set tickets (:entries / 5)

INSERT INTO work_setting (rounding_minutes, minimum_minutes) VALUES (15, 30);
INSERT INTO center (code, name) VALUES ('field', 'Field service');
INSERT INTO agent (name) SELECT 'Agent ' || g FROM generate_series(1, :agents) g;
INSERT INTO center_member (center_id, agent_id, role) VALUES (1, 1, 'dispatcher');
INSERT INTO center_member (center_id, agent_id, role) SELECT 1, g, 'executor' FROM generate_series(2, :agents) g;
INSERT INTO customer (name, tax_id) SELECT 'Customer ' || g, 'TAX' || g FROM generate_series(1, :customers) g;
INSERT INTO contact (customer_id, name) SELECT g, 'Contact ' || g FROM generate_series(1, :customers) g;
INSERT INTO rate (customer_id, work_type, hourly)
VALUES (NULL, NULL, 40), (NULL, 'travel', 20), (NULL, 'after_hours', 60);
INSERT INTO rate (customer_id, work_type, hourly) SELECT g, 'normal', 45 + g % 10 FROM generate_series(1, :customers, 10) g;
INSERT INTO approval_policy (type_id) SELECT type_id FROM ticket_type WHERE code = 'intervention';
INSERT INTO ticket_fee (type_id, amount) SELECT type_id, 25 FROM ticket_type WHERE code = 'intervention';

-- Tickets, through the lifecycle trigger: opened assigned, then started.
INSERT INTO ticket (type_id, center_id, customer_id, contact_id, subject, assignee_id)
SELECT (SELECT type_id FROM ticket_type WHERE code = CASE WHEN g % 5 = 0 THEN 'intervention' ELSE 'incident' END),
       1, (g % :customers) + 1, (g % :customers) + 1, 'Service call ' || g, (g % (:agents - 1)) + 2
  FROM generate_series(1, :tickets) g;
UPDATE ticket SET status = 'in_progress';

-- Entries, through the time_entry trigger and the exclusion constraint: each
-- agent works back-to-back sittings of 5 to 19 minutes, one every 20 minutes.
INSERT INTO time_entry (ticket_id, agent_id, work_type, period, note)
SELECT (g % :tickets) + 1, (g % :agents) + 1,
       (CASE WHEN g % 10 < 7 THEN 'normal' WHEN g % 10 < 9 THEN 'travel' ELSE 'after_hours' END)::work_type,
       tstzrange(start, start + make_interval(mins => 5 + g % 15)), 'sitting ' || g
  FROM generate_series(0, :entries - 1) g,
       LATERAL (SELECT timestamptz '2025-03-01 00:00+00' + make_interval(mins => 20 * (g / :agents))) s(start);

-- Nine tickets in ten are resolved; the requesters confirm the time, the
-- interventions are approved.
UPDATE ticket SET status = 'resolved', resolution = 'Done' WHERE ticket_id % 10 <> 3;
UPDATE time_entry SET confirmed_at = now(), confirmed_by = 'Requester';
INSERT INTO approval (ticket_id, resolved_at, decision, decided_by)
SELECT k.ticket_id, k.resolved_at, 'approved', 1 FROM ticket k
 WHERE k.status = 'resolved' AND k.type_id = (SELECT type_id FROM ticket_type WHERE code = 'intervention');

-- The baselines' targets: copies of the line and ledger tables, primary keys only.
CREATE SCHEMA bench;
CREATE TABLE bench.bare_line (LIKE ticketdesk.billing_line);
ALTER TABLE bench.bare_line ADD PRIMARY KEY (tenant_id, run_id, line_no);
CREATE TABLE bench.bare_item (LIKE ticketdesk.billed_item);
ALTER TABLE bench.bare_item ADD PRIMARY KEY (tenant_id, billed_id);
VACUUM ANALYZE;
