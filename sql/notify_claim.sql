-- The worker's claim in C (src/claim.c, outbox_claim_direct) against the
-- claim in SQL (outbox_claim_values): the same rows, in the same order,
-- with the same values of every placeholder, the same lease and attempts;
-- then the claim's own rules: due rows only, of the channels asked for, at
-- most batch_size, a lease that keeps a row from a second claim until it
-- runs out, and no claim for a caller who is not a superuser.
-- (Two claims at once: test/isolation/specs/outbox_claim.spec.)
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS ticketdesk CASCADE;
CREATE EXTENSION ticketdesk;
DROP ROLE IF EXISTS td_claim_stranger;
CREATE ROLE td_claim_stranger;
RESET client_min_messages;
SET search_path = ticketdesk, public;
SET timezone = 'Europe/Vilnius';
SET ticketdesk.base_url = 'https://desk.example//';

--
-- Setup: tickets of every priority, with and without a deadline (one
-- infinite: to_char gives NULL), an assignee, a resolution; requesters
-- that are a contact, an agent, only a customer.
--
INSERT INTO center (code, name) VALUES ('boilers', 'Boiler service');
INSERT INTO agent (name, email, phone) VALUES ('Eli Engineer', 'eli@desk.test', '+37060000011'),
                                              ('Ada Agent', 'ada@desk.test', NULL);
INSERT INTO customer (name, email) VALUES ('Acme UAB', 'office@acme.test');
INSERT INTO contact (customer_id, name, email) VALUES (1, 'Rita Requester', 'rita@acme.test');
SELECT count(*) AS opened FROM (
    SELECT open_ticket('Boiler knocks', 1, contact_id => 1, description => 'Since Monday.'),
           open_ticket('Pump hums', 1, requester_agent_id => 2),
           open_ticket('Valve drips', 1, customer_id => 1, deadline => '2026-12-31 23:30+00'),
           open_ticket('Pipe bursts', 1, contact_id => 1, requester_agent_id => 2, customer_id => 1)) t;
UPDATE ticket SET priority = (ARRAY['low', 'normal', 'high', 'urgent'])[ticket_id]::ticket_priority, priority_fixed = true,
                  assignee_id = CASE WHEN ticket_id % 2 = 0 THEN 1 END,
                  resolution = CASE WHEN ticket_id = 4 THEN 'Replaced the pipe.' END,
                  deadline = CASE WHEN ticket_id = 4 THEN 'infinity' ELSE deadline END;
-- Only this test's rows are due: in every language the claim knows, and
-- one it does not; mail, SMS and webhook; one with its text already
-- stored (a retry), one with vars, one of no ticket.
UPDATE outbox SET status = 'cancelled', next_attempt_at = NULL;
INSERT INTO outbox (ticket_id, event, channel, recipient, recipient_name, agent_id, language, thread, note, vars,
                    next_attempt_at)
SELECT 1 + (g % 4), 'assigned', (ARRAY['email', 'sms', 'webhook'])[1 + g % 3],
       CASE g % 3 WHEN 0 THEN 'eli@desk.test' WHEN 1 THEN '+37060000011' ELSE '-' END,
       'Eli Engineer', CASE WHEN g % 5 <> 0 THEN 1 END, (ARRAY['en', 'lt', 'pl', 'he', 'ro', 'de'])[1 + g % 6],
       'BOIL-' || g, CASE WHEN g % 2 = 0 THEN 'note ' || g END,
       CASE WHEN g = 7 THEN '{"center": "Night shift"}'::jsonb END,
       now() - interval '1 hour' + g * interval '1 s'
  FROM generate_series(1, 24) g;
INSERT INTO outbox (ticket_id, event, channel, recipient, language, subject, body_text, payload, attempts,
                    last_error, next_attempt_at)
VALUES (2, 'assigned', 'sms', '+37060000011', 'lt', NULL, 'Stored text', '{"text": "Stored text"}', 1, 'timeout',
        now() - interval '30 minutes'),
       (NULL, 'custom', 'email', 'eli@desk.test', 'en', 'Hello', 'Free text', NULL, 0, NULL,
        now() - interval '20 minutes');
-- Not due: sent, dead, cancelled, not yet due, leased by a running worker.
INSERT INTO outbox (ticket_id, event, channel, recipient, language, status, next_attempt_at, leased_until, sent_at)
VALUES (1, 'assigned', 'email', 'eli@desk.test', 'en', 'sent', NULL, NULL, now()),
       (1, 'assigned', 'email', 'ada@desk.test', 'en', 'dead', NULL, NULL, NULL),
       (1, 'resolved', 'email', 'eli@desk.test', 'en', 'queued', now() + interval '1 hour', NULL, NULL),
       (1, 'resolved', 'email', 'ada@desk.test', 'en', 'sending', now() - interval '2 hours',
        now() + interval '1 minute', NULL);

--
-- 1. The SQL claim, rolled back; the C claim of the same rows; the same
--    result, row by row (message_key aside: section 2), and the same rows
--    changed in the same way.
--
BEGIN;
SELECT string_agg(row(c.tenant_id, c.outbox_id, c.event, c.channel, c.recipient, c.recipient_name, c.agent_id,
                      c.language, c.sender_name, c.thread, c.note, c.vars, c.subject, c.body_text, c.body_html,
                      c.payload, c.found, c.reference, c.ticket_subject, c.description, c.priority, c.status,
                      c.center, c.assignee, c.requester, c.link, c.deadline, c.resolution)::text, E'\n'
                  ORDER BY c.ordinality) AS sql_rows,
       count(*) AS sql_count
  FROM outbox_claim_values(100, '5 minutes', '{email,sms,webhook}') WITH ORDINALITY c \gset
SELECT string_agg(row(outbox_id, status, attempts, CASE WHEN event <> 'resolved' THEN leased_until - now() END)::text, ',' ORDER BY outbox_id) AS sql_table
  FROM outbox \gset
ROLLBACK;
BEGIN;
SELECT count(*) AS c_count,
       string_agg(row(c.tenant_id, c.outbox_id, c.event, c.channel, c.recipient, c.recipient_name, c.agent_id,
                      c.language, c.sender_name, c.thread, c.note, c.vars, c.subject, c.body_text, c.body_html,
                      c.payload, c.found, c.reference, c.ticket_subject, c.description, c.priority, c.status,
                      c.center, c.assignee, c.requester, c.link, c.deadline, c.resolution)::text, E'\n'
                  ORDER BY c.ordinality) = :'sql_rows' AS same_rows
  FROM outbox_claim_direct(100, '5 minutes', '{email,sms,webhook}') WITH ORDINALITY c;
SELECT :sql_count AS sql_count,
       string_agg(row(outbox_id, status, attempts, CASE WHEN event <> 'resolved' THEN leased_until - now() END)::text, ',' ORDER BY outbox_id)
           = :'sql_table' AS same_table
  FROM outbox;
ROLLBACK;
-- The values themselves (every language, every priority, the requesters).
BEGIN;
SELECT outbox_id AS id, channel, language AS lang, found, reference, priority, status, center, assignee, requester,
       link, deadline, resolution
  FROM outbox_claim_direct(100, '5 minutes', '{email,sms,webhook}') ORDER BY outbox_id;
ROLLBACK;

--
-- 2. The channels asked for only; at most batch_size, the earliest due
--    first; the message key is the row's own.
--
BEGIN;
SELECT array_agg(outbox_id) AS sms_only FROM outbox_claim_direct(100, '5 minutes', '{sms}');
SELECT array_agg(outbox_id) AS first_three, bool_and(c.message_key = o.message_key) AS own_keys
  FROM outbox_claim_direct(3, '5 minutes', '{email,webhook}') c JOIN outbox o USING (tenant_id, outbox_id);
SELECT count(*) AS nothing_asked FROM outbox_claim_direct(10, '5 minutes', '{}');
SELECT count(*) AS unknown_channel FROM outbox_claim_direct(10, '5 minutes', ARRAY['fax', NULL]);
SELECT count(*) AS batch_of_none FROM outbox_claim_direct(0, '5 minutes', '{email}');
SELECT count(*) FROM outbox_claim_direct(-1, '5 minutes', '{email}');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;

--
-- 3. The lease: a claimed row is not claimed again until its lease runs
--    out (a worker that died); then it is, with one attempt more.
--
BEGIN;
SELECT count(*) AS claimed FROM outbox_claim_direct(100, '5 minutes', '{email,sms,webhook}');
SELECT count(*) AS leased, min(attempts) AS min_attempts, max(attempts) AS max_attempts,
       bool_and(leased_until = now() + interval '5 minutes') AS lease_ok
  FROM outbox WHERE status = 'sending' AND event <> 'resolved';
COMMIT;
SELECT count(*) AS claimed_again FROM outbox_claim_direct(100, '5 minutes', '{email,sms,webhook}');
SELECT count(*) AS claimed_by_sql FROM outbox_claim_values(100, '5 minutes', '{email,sms,webhook}');
SELECT min(outbox_id) AS expired FROM outbox WHERE status = 'sending' AND event <> 'resolved' \gset
UPDATE outbox SET leased_until = now() - interval '1 s' WHERE outbox_id = :expired;
SELECT outbox_id = :expired AS lease_ran_out FROM outbox_claim_direct(100, '5 minutes', '{email,sms,webhook}');
SELECT attempts FROM outbox WHERE outbox_id = :expired;

--
-- 4. Refusals: the function applies no row-level security, so only a
--    superuser may call it.
--
SET ROLE td_claim_stranger;
SELECT count(*) FROM ticketdesk.outbox_claim_direct(10, '5 minutes', '{email}');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
-- Even when granted: the function itself refuses.
GRANT USAGE ON SCHEMA ticketdesk TO td_claim_stranger;
GRANT EXECUTE ON FUNCTION outbox_claim_direct(integer, interval, text[]) TO td_claim_stranger;
SET ROLE td_claim_stranger;
SELECT count(*) FROM ticketdesk.outbox_claim_direct(10, '5 minutes', '{email}');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
REVOKE EXECUTE ON FUNCTION outbox_claim_direct(integer, interval, text[]) FROM td_claim_stranger;
REVOKE USAGE ON SCHEMA ticketdesk FROM td_claim_stranger;

DROP ROLE td_claim_stranger;
