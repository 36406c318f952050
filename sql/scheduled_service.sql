\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS ticketdesk CASCADE;
CREATE EXTENSION ticketdesk;
RESET client_min_messages;
SET search_path = ticketdesk, public;

-- Scheduled service (R54): a service contract carries a ticket template, an
-- iCalendar RRULE (expanded by libical) and a lead time in days. The job
-- opens one scheduled_service ticket per occurrence, lead days before it.
SET timezone = 'Europe/Vilnius';
INSERT INTO center (code, name) VALUES ('field', 'Field service') RETURNING center_id AS field \gset
INSERT INTO customer (name) VALUES ('ACME') RETURNING customer_id AS acme \gset
SELECT site_for(:acme, 'Gedimino pr. 1, Vilnius') AS site \gset
CREATE OR REPLACE VIEW made AS
SELECT c.subject AS contract, o.occurrence, k.reference IS NOT NULL AS has_ticket, t.code AS type,
       k.channel, lower(k.planned) = o.occurrence AS planned_at_occurrence, k.site_id, k.status
  FROM service_occurrence o
  JOIN service_contract c USING (tenant_id, contract_id)
  JOIN ticket k ON k.tenant_id = o.tenant_id AND k.ticket_id = o.ticket_id
  JOIN ticket_type t ON t.tenant_id = k.tenant_id AND t.type_id = k.type_id
 ORDER BY c.contract_id, o.occurrence;

-- Monthly on the 10th at 09:00, with 3 days' lead: the ticket comes on the 7th.
SELECT add_service_contract('Boiler maintenance', :field, 'FREQ=MONTHLY;BYMONTHDAY=10', '2026-01-01 09:00',
                            lead_days => 3, time_zone => 'Europe/Vilnius', customer_id => :acme,
                            site_id => :site) AS boiler \gset
SELECT next_occurrence, next_due_at FROM service_contract WHERE contract_id = :boiler;
SELECT generate_scheduled_tickets('2026-01-07 08:59') AS made;
SELECT generate_scheduled_tickets('2026-01-07 09:00') AS made;
SELECT * FROM made;
-- Running again makes nothing.
SELECT generate_scheduled_tickets('2026-01-07 09:00') AS made;
SELECT generate_scheduled_tickets('2026-02-01') AS made;
-- The server was down from January to April 8: the job catches up on
-- February, March and April (the April ticket is due on the 7th).
SELECT generate_scheduled_tickets('2026-04-08 12:00') AS made;
SELECT contract, occurrence FROM made;
SELECT next_occurrence, next_due_at FROM service_contract WHERE contract_id = :boiler;

-- A rule for the 31st skips the months without one (RFC 5545); the last day
-- of every month is BYMONTHDAY=-1.
SELECT add_service_contract('Month-end backup check', :field, 'FREQ=MONTHLY;BYMONTHDAY=31', '2026-01-01 18:00',
                            time_zone => 'Europe/Vilnius', customer_id => :acme) AS on31 \gset
SELECT add_service_contract('Last-day meter reading', :field, 'FREQ=MONTHLY;BYMONTHDAY=-1', '2026-01-01 18:00',
                            time_zone => 'Europe/Vilnius', customer_id => :acme) AS last_day \gset
-- Quarterly on the first Monday, two days ahead; yearly on 29 February.
SELECT add_service_contract('Fire alarm test', :field, 'FREQ=MONTHLY;INTERVAL=3;BYDAY=1MO', '2026-01-01 10:00',
                            lead_days => 2, time_zone => 'Europe/Vilnius', site_id => :site) AS first_monday \gset
SELECT add_service_contract('Leap-day audit', :field, 'FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29', '2024-01-01 10:00',
                            time_zone => 'Europe/Vilnius', customer_id => :acme) AS leap \gset
-- Weekly on Sunday at 03:30: the night of 29 March has no 03:30 (DST), that
-- visit moves to 04:30, and the next week is back at 03:30.
SELECT add_service_contract('Night patrol', :field, 'FREQ=WEEKLY;BYDAY=SU', '2026-03-15 03:30',
                            time_zone => 'Europe/Vilnius', customer_id => :acme) AS patrol \gset
SELECT generate_scheduled_tickets('2026-04-13') AS made;
SELECT contract, occurrence FROM made WHERE contract <> 'Boiler maintenance';
SELECT generate_scheduled_tickets('2026-04-13') AS "again";
SELECT generate_scheduled_tickets('2029-01-01') AS made;
SELECT subject, last_error FROM service_contract WHERE last_error IS NOT NULL;
SELECT contract, count(*), min(occurrence), max(occurrence) FROM made GROUP BY contract ORDER BY contract;
SELECT type, channel, bool_and(planned_at_occurrence) AS planned, count(*) FILTER (WHERE site_id = :site) AS at_site,
       string_agg(DISTINCT status::text, ',') AS status
  FROM made GROUP BY type, channel;

-- A contract whose ticket cannot be opened keeps the error and is retried;
-- the other contracts go on.
UPDATE center SET active = false WHERE center_id = :field;
SELECT generate_scheduled_tickets('2029-02-10') AS made;
SELECT subject, last_error FROM service_contract WHERE last_error IS NOT NULL ORDER BY contract_id;
UPDATE center SET active = true WHERE center_id = :field;
SELECT generate_scheduled_tickets('2029-02-10') AS made;
SELECT count(*) AS errors FROM service_contract WHERE last_error IS NOT NULL;

-- Refusals when the contract is configured, each with its own SQLSTATE.
SELECT add_service_contract('Bad', :field, 'FREQ=FORTNIGHTLY', '2026-01-01 09:00', customer_id => :acme);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT add_service_contract('Bad', :field, 'RRULE:FREQ=MONTHLY', '2026-01-01 09:00', customer_id => :acme);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT add_service_contract('Bad', :field, 'FREQ=MONTHLY;BYMONTHDAY=32', '2026-01-01 09:00', customer_id => :acme);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT add_service_contract('Bad', :field, 'FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30', '2026-01-01 09:00', customer_id => :acme);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT add_service_contract('Bad', :field, 'FREQ=MONTHLY;UNTIL=20250101T000000Z', '2026-01-01 09:00', customer_id => :acme);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT add_service_contract('Bad', :field, 'FREQ=HOURLY', '2026-01-01 09:00', customer_id => :acme);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT add_service_contract('Bad', :field, 'FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=30', '2026-01-01 09:00', customer_id => :acme);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT add_service_contract('Bad', :field, 'FREQ=MONTHLY;BYMONTHDAY=10', '2026-01-01 09:00', lead_days => 40, customer_id => :acme);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT add_service_contract('Bad', :field, 'FREQ=WEEKLY', '2026-01-01 09:00', lead_days => 8, customer_id => :acme);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT add_service_contract('Bad', :field, 'FREQ=WEEKLY', '2026-01-01 09:00', lead_days => -1, customer_id => :acme);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT add_service_contract('Bad', :field, 'FREQ=WEEKLY', '2026-01-01 09:00');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO site (address) VALUES ('Nobody''s yard') RETURNING site_id AS yard \gset
SELECT add_service_contract('Bad', :field, 'FREQ=WEEKLY', '2026-01-01 09:00', site_id => :yard);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT add_service_contract('Bad', :field, 'FREQ=WEEKLY', '2026-01-01 09:00', time_zone => 'Mars/Olympus', customer_id => :acme);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- A week with 7 days' lead is fine, DST or not; plain DML is checked too.
UPDATE service_contract SET lead_days = 7 WHERE contract_id = :patrol;
UPDATE service_contract SET lead_days = 10 WHERE contract_id = :patrol;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) AS contracts FROM service_contract;
