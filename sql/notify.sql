-- Notifications: lifecycle events become messages in the outbox, inside
-- the transaction of the change; their text is rendered when the worker
-- claims them, and outbox_message shows it before. Templates per event, channel and
-- language; the channel policy per priority (R30) and the recipients' own
-- preferences (R09); the requester's thank-you in the handler's name (R41).
-- Then the outbox's own life: claim, results, backoff, dead letters, and
-- the admin's retry and cancel. (Delivery itself is tested against real
-- servers in test/t/003_notify.pl.)
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS ticketdesk CASCADE;
CREATE EXTENSION ticketdesk;
RESET client_min_messages;
SET search_path = ticketdesk, public;

SET client_min_messages = warning;
DROP ROLE IF EXISTS td_notify_agent;
DROP ROLE IF EXISTS td_notify_reader;
RESET client_min_messages;

--
-- Setup: a centre with a dispatcher, two engineers (one reads Hebrew), a
-- customer with a Lithuanian-speaking contact, and a Polish watcher.
--
INSERT INTO center (code, name) VALUES ('boilers', 'Boiler service') RETURNING center_id;
INSERT INTO agent (name, email, phone, language)
VALUES ('Dana Dispatcher', 'dana@desk.test', '+37060000010', 'en'),
       ('Eli Engineer', 'eli@desk.test', '+37060000011', 'he'),
       ('Fay Fixer', 'fay@desk.test', '+37060000012', 'ro')
RETURNING agent_id, name, language;
INSERT INTO center_member (center_id, agent_id, role)
VALUES (1, 1, 'dispatcher'), (1, 2, 'executor'), (1, 3, 'executor');
INSERT INTO customer (name, email) VALUES ('Acme UAB', 'office@acme.test') RETURNING customer_id;
INSERT INTO contact (customer_id, name, email, phone, language)
VALUES (1, 'Rita Requester', 'rita@acme.test', '+37060000001', 'lt'),
       (1, 'Piotr Watcher', 'piotr@acme.test', NULL, 'pl')
RETURNING contact_id, name, language;

-- A compact view of the outbox for this story, as it will be sent.
CREATE VIEW pg_temp.box AS
SELECT outbox_id AS id, event, channel, recipient, language AS lang, sender_name AS sender, status, subject
  FROM outbox_message ORDER BY outbox_id;

--
-- 1. Registering a ticket thanks the requester in her language (R05, R41).
--    Nobody handles it yet, so the thank-you comes from the centre.
--
SELECT reference FROM open_ticket('Boiler knocks', 1, contact_id => 1, description => 'Since Monday, loudest in the morning.');
SELECT * FROM pg_temp.box;
SELECT body_text FROM outbox_message WHERE outbox_id = 1;

--
-- 2. Assigning it tells the engineer (in Hebrew) and the requester, whose
--    mail now comes in the name of the handler (R09, R41). The dispatcher
--    made the change, so she is not told about it.
--
SET ticketdesk.agent = 1;
SELECT status FROM assign(1, 2, 'Eli knows this model');
SELECT * FROM pg_temp.box WHERE id > 1;
SELECT body_text FROM outbox_message WHERE event = 'assigned';
-- The HTML part of a Hebrew mail is right to left, its link a hyperlink.
SELECT split_part(body_html, E'\n', 2) AS html_tag, body_html ~ '<a href="http://[^"]+/ticket/TD-000001">' AS linked
  FROM outbox_message WHERE event = 'assigned';

--
-- 3. The channel depends on the priority (R30): an urgent ticket also goes
--    by SMS; a normal one by e-mail only.
--
SELECT ticket_id FROM open_ticket('No heating at all', 1, contact_id => 1);
UPDATE ticket SET priority = 'urgent', priority_fixed = true WHERE ticket_id = 2;
SELECT status FROM assign(2, 3);
SELECT channel, recipient, language, coalesce(subject, body_text) AS text, payload ->> 'to' AS sms_to
  FROM outbox_message WHERE ticket_id = 2 AND event = 'assigned' ORDER BY channel;

--
-- 4. A recipient's own preference counts where the policy allows it (R09):
--    Fay wants SMS only. At urgent priority she gets just the SMS; at normal
--    priority the policy allows e-mail only, so she still gets the e-mail.
--
INSERT INTO notify_preference (agent_id, channels) VALUES (3, '{sms}');
SELECT notify_channels(1, 'assigned', 'urgent', '{sms}') AS urgent,
       notify_channels(1, 'assigned', 'normal', '{sms}') AS normal,
       notify_channels(1, 'assigned', 'high', NULL) AS high_no_preference;
SELECT ticket_id FROM open_ticket('Pressure drops', 1, contact_id => 1);
UPDATE ticket SET priority = 'urgent', priority_fixed = true WHERE ticket_id = 3;
SELECT status FROM assign(3, 3);
SELECT channel, recipient FROM outbox WHERE ticket_id = 3 AND event = 'assigned';

--
-- 5. A tenant's own policy row beats the built-in one: assignments go by
--    e-mail and SMS at every priority, and a preference may pick either.
--
INSERT INTO notify_policy (event, channels, allowed) VALUES ('assigned', '{email,sms}', '{email,sms}');
SELECT notify_channels(1, 'assigned', 'low') AS assigned_low,
       notify_channels(1, 'assigned', 'low', '{sms}') AS assigned_low_fay,
       notify_channels(1, 'resolved', 'low') AS resolved_low;
DELETE FROM notify_policy WHERE NOT seeded;

--
-- 6. Watchers hear of the resolution; the requester's mail carries it (R05).
--
SELECT add_watcher(1, contact_id => 2, purpose => 'information') AS watcher_id;
SET ticketdesk.agent = 2;
SELECT status FROM start_work(1);
SELECT status FROM resolve(1, 'Replaced the pump bearing.');
SELECT * FROM pg_temp.box WHERE event = 'resolved';
SELECT body_text FROM outbox_message WHERE event = 'resolved' AND language = 'pl';

--
-- 7. The assignee rejects an assignment (R51): the dispatchers hear of it,
--    with the reason, in the name of the one who rejected it.
--
SELECT ticket_id FROM open_ticket('Radiator cold', 1, customer_id => 1);
SET ticketdesk.agent = 1;
SELECT status FROM assign(4, 2);
SET ticketdesk.agent = 2;
SELECT status FROM reject(4, 'Not my district');
SELECT * FROM pg_temp.box WHERE event = 'rejected';
SELECT body_text FROM outbox_message WHERE event = 'rejected';
-- The customer itself (no contact person) was thanked in English.
SELECT recipient, language FROM outbox WHERE ticket_id = 4 AND event = 'registered';
RESET ticketdesk.agent;

--
-- 8. A rolled-back change queues nothing.
--
SELECT count(*) AS before FROM outbox;
BEGIN;
SELECT reference FROM open_ticket('Never happened', 1, contact_id => 1);
SELECT count(*) AS inside FROM outbox;
ROLLBACK;
SELECT count(*) AS after FROM outbox;

--
-- 9. A tenant overrides a built-in text by adding its own row; the built-in
--    rows themselves cannot be changed.
--
INSERT INTO notify_template (event, channel, language, subject, body_text, body_html)
VALUES ('registered', 'email', 'lt', 'Gavome: {{subject}}', 'Ačiū, {{recipient}}! {{link}}',
        '<p>Ačiū, <b>{{recipient}}</b>!</p>');
SELECT reference FROM open_ticket('Boiler <b>leaks</b> & drips', 1, contact_id => 1);
SELECT subject, body_text, body_html FROM outbox_message WHERE ticket_id = (SELECT max(ticket_id) FROM ticket);
UPDATE notify_template SET body_text = 'x' WHERE seeded AND event = 'closed' AND language = 'en';
\echo SQLSTATE :LAST_ERROR_SQLSTATE

--
-- 10. Rendering: placeholders come from a JSON object; unknown ones render
--     as nothing; HTML escapes every value.
--
SELECT render_text('Hi {{name}}, {{missing}}{{ not a placeholder }} {n} {{count}}',
                   '{"name": "Ada", "count": 3}') AS text;
SELECT render_markup('<p title="{{t}}">{{t}}</p>', '{"t": "<script>\"x\" & y</script>"}') AS markup;
SELECT render_html(E'Line one\nline two\n\n\nNew paragraph {{v}}', '{"v": "a<b"}', 'he') AS html;

--
-- 11. The mail as it is sent: a stable Message-ID per row, the reference
--     threaded and in the subject, Auto-Submitted, text and HTML parts.
--
SELECT regexp_replace(regexp_replace(outbox_mail(o), '^Date: [^\r]+', 'Date: (now)'),
                      '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '(key)', 'g') AS mail
  FROM outbox_message o WHERE event = 'assigned' AND recipient = 'eli@desk.test' AND ticket_id = 1;
SELECT (SELECT substring(outbox_mail(o) FROM 'Message-ID: (<[^>]+>)')) = '<' || message_key || '@localhost>' AS stable_id
  FROM outbox_message o WHERE outbox_id = 1;
-- The subject decodes back to the Hebrew text (RFC 2047, UTF-8, base64).
SELECT convert_from(string_agg(decode(m[1], 'base64'), ''::bytea ORDER BY n), 'UTF8') AS decoded_subject
  FROM outbox_message o,
       regexp_matches(substring(outbox_mail(o) FROM E'Subject: (.*?)\r\nMessage-ID'), '=\?UTF-8\?B\?([^?]+)\?=', 'g')
       WITH ORDINALITY AS x(m, n)
 WHERE event = 'assigned' AND recipient = 'eli@desk.test' AND ticket_id = 1
 GROUP BY o.outbox_id;

--
-- 12. The worker's side, step by step. It claims due rows of the channels it
--     can reach, under a lease; each claim counts an attempt.
--
UPDATE outbox SET status = 'cancelled' WHERE outbox_id > 2;
SELECT outbox_id, channel, status, attempts, leased_until > now() AS leased
  FROM outbox_claim(10, '5 minutes', '{email}');
-- A second claim finds nothing due: the rows are leased.
SELECT count(*) AS claimed_again FROM outbox_claim(10, '5 minutes', '{email}');
-- Row 1 was delivered; row 2 failed. The failure retries after a backoff of
-- half the base delay plus a random part of it (30 s base: 15 to 30 s).
SELECT outbox_record('{1,1}', '{1,2}', '{NULL,"Connection refused"}', '{f,f}', 3, '30 s', '1 hour') AS recorded;
SELECT outbox_id, status, attempts, last_error, sent_at IS NOT NULL AS sent, next_attempt_at IS NULL AS no_next_try,
       next_attempt_at - now() BETWEEN interval '14 s' AND interval '31 s' AS backoff_ok
  FROM outbox WHERE outbox_id IN (1, 2) ORDER BY outbox_id;
-- Recording the same result again changes nothing: only leased rows count.
SELECT outbox_record('{1}', '{1}', '{"late duplicate"}', '{f}') AS recorded_again;

-- Not due yet, so not claimed; once due, it is.
SELECT count(*) AS claimed_early FROM outbox_claim(10, '5 minutes', '{email}');
UPDATE outbox SET next_attempt_at = now() - interval '1 s' WHERE outbox_id = 2;
SELECT outbox_id, attempts FROM outbox_claim(10, '5 minutes', '{email}');
-- The second failure waits twice as long (30 s doubled: 30 to 60 s).
SELECT outbox_record('{1}', '{2}', '{"Connection refused"}', '{f}', 3, '30 s', '1 hour');
SELECT status, attempts, next_attempt_at - now() BETWEEN interval '29 s' AND interval '61 s' AS backoff_ok
  FROM outbox WHERE outbox_id = 2;
-- The third failure uses up max_attempts (3): the row is dead, its error kept.
UPDATE outbox SET next_attempt_at = now() - interval '1 s' WHERE outbox_id = 2;
SELECT outbox_id, attempts FROM outbox_claim(10, '5 minutes', '{email}');
SELECT outbox_record('{1}', '{2}', '{"Connection refused again"}', '{f}', 3, '30 s', '1 hour');
SELECT status, attempts, last_error FROM outbox WHERE outbox_id = 2;

-- A lease that ran out (the worker crashed) makes the row claimable again.
UPDATE outbox SET status = 'queued', next_attempt_at = now() - interval '1 s' WHERE outbox_id = 3;
SELECT outbox_id FROM outbox_claim(10, '5 minutes', '{email}');
UPDATE outbox SET leased_until = now() - interval '1 s', next_attempt_at = now() - interval '1 s' WHERE outbox_id = 3;
SELECT outbox_id, attempts FROM outbox_claim(10, '5 minutes', '{email}');
-- A final refusal (an SMTP 5xx, an HTTP 4xx) kills the row at once.
SELECT outbox_record('{1}', '{3}', '{"550 mailbox unavailable"}', '{t}', 8);
SELECT status, attempts, last_error FROM outbox WHERE outbox_id = 3;
-- The backoff never exceeds its cap.
UPDATE outbox SET status = 'sending', attempts = 30, leased_until = now() + interval '1 minute' WHERE outbox_id = 4;
SELECT outbox_record('{1}', '{4}', '{"timeout"}', '{f}', 100, '30 s', '10 minutes');
SELECT next_attempt_at - now() BETWEEN interval '299 s' AND interval '601 s' AS capped FROM outbox WHERE outbox_id = 4;

-- Retention: sent rows older than the setting go.
UPDATE outbox SET sent_at = now() - interval '8 days' WHERE outbox_id = 1;
SELECT outbox_prune('7 days') AS pruned, outbox_prune('7 days') AS pruned_again;

--
-- 13. The admin's hands: retry a dead message, cancel a waiting one, with
--     clear refusals.
--
SELECT outbox_id, status, attempts, last_error FROM outbox_retry(2);
SELECT outbox_id, status FROM outbox_cancel(2);
SELECT outbox_id, status FROM outbox_cancel(2);
SELECT outbox_retry(999);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE outbox SET status = 'sent', sent_at = now() WHERE outbox_id = 5;
SELECT outbox_cancel(5);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT outbox_retry(5);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE outbox SET status = 'sending', leased_until = now() + interval '1 minute' WHERE outbox_id = 6;
SELECT outbox_cancel(6);
\echo SQLSTATE :LAST_ERROR_SQLSTATE

--
-- 14. enqueue: the API later jobs (reminders, escalations) use. It renders
--     from the templates like the trigger does.
--
INSERT INTO notify_template (event, channel, language, subject, body_text)
VALUES ('reminder', 'email', 'en', 'Reminder: {{subject}}', 'Please look at {{reference}} by {{due}}.');
SELECT event, channel, recipient, language, subject IS NULL AS not_rendered_yet
  FROM enqueue(1, 'reminder', agent_id => 2, vars => '{"due": "Friday"}');
SELECT subject, body_text FROM outbox_message WHERE event = 'reminder';
-- Forced channels, and the SMS text falls back to the mail's subject.
SELECT channel FROM enqueue(1, 'reminder', contact_id => 1, channels => '{sms}');
SELECT body_text, payload ->> 'text' = body_text AS payload_text FROM outbox_message WHERE event = 'reminder' AND channel = 'sms';
SELECT enqueue(1, 'reminder');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT enqueue(1, 'Reminder!', agent_id => 2);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT enqueue(1, 'reminder', agent_id => 2, channels => '{fax}');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT enqueue(1, 'no_such_event', agent_id => 2);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT enqueue(1, 'reminder', agent_id => 99);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT enqueue(99, 'reminder', agent_id => 2);
\echo SQLSTATE :LAST_ERROR_SQLSTATE

--
-- 15. Tenants: a new tenant gets the default policy and texts as rows of
--     its own, and a role bound by row-level security sees only its own
--     tenant's messages.
--
SELECT create_tenant('north', 'North region') AS tenant;
SELECT tenant_id, seeded, count(*) FROM notify_template GROUP BY 1, 2 ORDER BY 1, 2;
CREATE ROLE td_notify_reader NOLOGIN;
GRANT USAGE ON SCHEMA ticketdesk TO td_notify_reader;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ticketdesk TO td_notify_reader;
GRANT SELECT ON outbox, notify_policy TO td_notify_reader;
SET ROLE td_notify_reader;
SET ticketdesk.tenant = 2;
SELECT count(*) AS visible_outbox, (SELECT count(*) FROM notify_policy) AS policies FROM outbox;
RESET ticketdesk.tenant;
SELECT count(*) > 0 AS tenant1_outbox_visible FROM outbox;
RESET ROLE;
DROP OWNED BY td_notify_reader;
DROP ROLE td_notify_reader;

--
-- 16. An agent's role needs no rights on the outbox: the trigger queues as
--     the extension's owner.
--
CREATE ROLE td_notify_agent NOLOGIN;
GRANT USAGE ON SCHEMA ticketdesk TO td_notify_agent;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ticketdesk TO td_notify_agent;
GRANT SELECT, UPDATE ON ticket TO td_notify_agent;
GRANT SELECT ON transition, ticket_type, agent TO td_notify_agent;
GRANT INSERT ON ticket_event TO td_notify_agent;
GRANT USAGE ON SEQUENCE ticket_event_event_id_seq TO td_notify_agent;
SET ROLE td_notify_agent;
SELECT count(*) FROM outbox;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE ticket SET status = 'acknowledged' WHERE ticket_id = 3;
RESET ROLE;
SELECT event, channel, recipient FROM outbox WHERE ticket_id = 3 AND event = 'acknowledged';
DROP OWNED BY td_notify_agent;
DROP ROLE td_notify_agent;

--
-- 17. The transaction of a change writes small rows: who gets what, by
--     which channel, in which language, with the note of the change. The
--     text is rendered when the worker claims a row, and stored with the
--     first result: a retry sends the same text, and a sent row keeps what
--     was sent whatever happens to the ticket afterwards.
--
UPDATE outbox SET status = 'cancelled', next_attempt_at = NULL, leased_until = NULL
 WHERE status IN ('queued', 'sending');
SET ticketdesk.agent = 1;
SELECT status FROM assign(2, 2, 'Second opinion');
RESET ticketdesk.agent;
SELECT event, channel, recipient, language, sender_name, note, subject IS NULL AND body_text IS NULL AS no_text_yet
  FROM outbox WHERE ticket_id = 2 AND status = 'queued' ORDER BY outbox_id;
-- The claim hands the worker the rendered text.
SELECT channel, language, sender_name, coalesce(subject, body_text) AS text, status
  FROM outbox_claim(10, '5 minutes', '{email,sms}') ORDER BY outbox_id;
-- The worker records the results with the text it sent (done by hand here).
SELECT outbox_record(array_agg(tenant_id), array_agg(outbox_id), array_agg(NULL::text), array_agg(false), 8,
                     '30 s', '1 hour', array_agg(language), array_agg(sender_name), array_agg(subject),
                     array_agg(body_text), array_agg(body_html), array_agg(payload)) AS recorded
  FROM outbox_message WHERE ticket_id = 2 AND status = 'sending';
UPDATE ticket SET subject = 'Heating restored' WHERE ticket_id = 2;
SELECT channel, status, language, coalesce(subject, body_text) AS stored_text, next_attempt_at IS NULL AS not_due
  FROM outbox WHERE ticket_id = 2 AND note = 'Second opinion' ORDER BY outbox_id;
SELECT count(*) AS shown_as_stored FROM outbox o JOIN outbox_message m USING (tenant_id, outbox_id)
 WHERE o.note = 'Second opinion' AND m.body_text = o.body_text AND m.subject IS NOT DISTINCT FROM o.subject
   AND m.body_html IS NOT DISTINCT FROM o.body_html AND m.payload IS NOT DISTINCT FROM o.payload;
-- A message not sent yet shows the ticket as it stands now.
SELECT channel FROM enqueue(2, 'reminder', agent_id => 2);
SELECT channel, coalesce(subject, body_text) AS text FROM outbox_message WHERE ticket_id = 2 AND event = 'reminder' ORDER BY channel;
-- A message whose event has no text in any language shows none; the worker
-- marks it dead with the reason ("no template for event ...") when it claims it.
INSERT INTO outbox (ticket_id, event, channel, recipient) VALUES (2, 'nothing_written', 'email', 'eli@desk.test');
SELECT subject, body_text, status FROM outbox_message WHERE event = 'nothing_written';

--
-- 18. One claim, many tickets: every message of a batch is rendered from its
--     own ticket, its recipient's language and its own values. Two tickets,
--     Hebrew and Lithuanian, mail and SMS, values given when queued (a
--     centre's name, an assignee removed) in one claim of six rows.
--
UPDATE outbox SET status = 'cancelled', next_attempt_at = NULL, leased_until = NULL
 WHERE status IN ('queued', 'sending');
SELECT ticket_id, reference, subject, assignee_id FROM ticket WHERE ticket_id IN (1, 2) ORDER BY ticket_id;
SELECT count(*) AS queued FROM (
    SELECT enqueue(1, 'assigned', agent_id => 2, channels => '{email,sms}')
    UNION ALL SELECT enqueue(2, 'assigned', agent_id => 2, vars => '{"center": "Night shift"}')
    UNION ALL SELECT enqueue(1, 'assigned', contact_id => 1)
    UNION ALL SELECT enqueue(2, 'assigned', contact_id => 1, channels => '{email,sms}', vars => '{"assignee": null}')) q;
SELECT ticket_id, channel, language, sender_name, coalesce(subject, body_text) AS text,
       payload - 'idempotency_key' AS payload, payload ->> 'idempotency_key' = message_key::text AS keyed
  FROM outbox_claim(10, '5 minutes', '{email,sms}') ORDER BY outbox_id;

--
-- 19. Only the events somebody is told about call the queueing function
--     notify_ticket_event: the C trigger function notify_event_gate decides,
--     for every history row (no WHEN clause, which PostgreSQL would plan
--     again for every change). Six history rows here; the opening and the
--     new assignee are told, the other four are not. The opening's
--     thank-you goes to the requester alone, which the gate queues itself
--     (section 20): the function is called once, for the new assignee.
--
SET track_functions = 'pl';
BEGIN;
SELECT ticket_id AS gate_ticket FROM open_ticket('Gate check', 1, contact_id => 1) \gset
SET LOCAL ticketdesk.agent = 1;
SELECT status FROM assign(:gate_ticket, 2);
SET LOCAL ticketdesk.agent = 2;
SELECT status FROM start_work(:gate_ticket);
UPDATE ticket SET requester_weight = 5 WHERE ticket_id = :gate_ticket;
SELECT kind, new_value FROM ticket_event WHERE ticket_id = :gate_ticket ORDER BY event_id;
SELECT pg_stat_get_xact_function_calls('notify_ticket_event()'::regprocedure) AS queueing_calls;
SELECT event, recipient FROM outbox WHERE ticket_id = :gate_ticket ORDER BY outbox_id;
ROLLBACK;
RESET track_functions;
-- The gate is a trigger of one kind only, naming the trigger function it calls.
CREATE TEMP TABLE gate_misuse (kind text, old_value text, new_value text);
CREATE TRIGGER gate_misuse AFTER INSERT ON gate_misuse FOR EACH ROW EXECUTE FUNCTION notify_event_gate();
INSERT INTO gate_misuse VALUES ('created', NULL, NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TABLE gate_misuse;

--
-- 20. The requester's own events (registered, acknowledged: the opening's
--     thank-you above all) are queued by the gate itself, in C
--     (src/notify_requester.c); the other events by notify_ticket_event.
--     Each rule for the requester, once through the gate and once through
--     notify_ticket_event attached as the trigger: the same messages. An
--     employee is thanked unless she opened it herself; a contact without
--     a usable address (none, or two in one field) gets nothing by that
--     channel; a contact's preferred channel and an agent's preference
--     count where the policy allows them (here at high priority); a
--     customer without a contact person is thanked itself; a policy that
--     names a channel twice gives one message. The policy's channels are
--     chosen in C as notify_channels chooses them (the event's policy before
--     the one of every event, the priority's before the one of every
--     priority, an administrator's before the seeded one). The ticket, the
--     requester and the preference are read by key in C, seeing what the
--     statements see: a preference changed earlier in the same transaction
--     counts (Vera's, before the acknowledgements). The address rules are
--     decided in C for printable ASCII (two @, a forbidden character) and
--     by the SQL expressions for anything else (a non-ASCII address, a tab,
--     a blank one). A customer's SMS goes to its work phone when it has
--     no other. (Section 16 shows a requester the caller cannot read still
--     told.)
--
INSERT INTO notify_policy (event, channels, allowed) VALUES ('registered', '{email,email}', '{email,email}');
INSERT INTO contact (customer_id, name, email, phone, language, preferred_channel)
VALUES (1, 'Nora Nomail', NULL, NULL, 'en', 'email'),
       (1, 'Otto Twomails', 'otto@acme.test, boss@acme.test', '+37060000003', 'en', 'email'),
       (1, 'Sia Sms', 'sia@acme.test', '+37060000004', 'ro', 'sms'),
       (1, 'Pia Both', 'pia@acme.test', '+37060000005', 'en', 'phone'),
       (1, 'Ula Unicode', 'ūla@acme.test', NULL, 'lt', 'email'),
       (1, 'Ada Twoats', 'ada@home@acme.test', '+37060000008', 'en', 'email'),
       (1, 'Tim Tab', E'tim@acme.test\t', '+37060000009', 'en', 'sms'),
       (1, 'Bea Blank', '   ', '+37060000010', 'en', 'email'),
       (1, 'Vera Varies', 'vera@acme.test', '+37060000011', 'en', 'email'),
       (1, 'Max Semicolon', 'max;x@acme.test', NULL, 'en', 'email')
RETURNING contact_id, name, preferred_channel;
-- Pia prefers both channels, SMS first: where the policy allows both, she
-- gets both, in the channels' order.
INSERT INTO notify_preference (contact_id, channels) VALUES (6, '{sms,email}'), (11, '{email}');
-- A customer with a work phone only: SMS goes there (coalesce(phone, work_phone)).
INSERT INTO customer (name, email, work_phone) VALUES ('Wanda Works', 'wanda@works.test', '+37060000015');
\set requester_story 'SET LOCAL ticketdesk.agent = 1; SELECT count(*) FROM (SELECT open_ticket(''R1 employee'', 1, requester_agent_id => 2) UNION ALL SELECT open_ticket(''R3 no address'', 1, contact_id => 3) UNION ALL SELECT open_ticket(''R4 two addresses'', 1, contact_id => 4) UNION ALL SELECT open_ticket(''R5 prefers sms'', 1, contact_id => 5) UNION ALL SELECT open_ticket(''R6 agent prefers sms'', 1, requester_agent_id => 3) UNION ALL SELECT open_ticket(''R7 customer'', 1, customer_id => 1) UNION ALL SELECT open_ticket(''R8 prefers both'', 1, contact_id => 6) UNION ALL SELECT open_ticket(''R9 non-ASCII address'', 1, contact_id => 7) UNION ALL SELECT open_ticket(''R10 two at signs'', 1, contact_id => 8) UNION ALL SELECT open_ticket(''R11 tab in address'', 1, contact_id => 9) UNION ALL SELECT open_ticket(''R12 blank address'', 1, contact_id => 10) UNION ALL SELECT open_ticket(''R13 preference changed'', 1, contact_id => 11) UNION ALL SELECT open_ticket(''R14 semicolon'', 1, contact_id => 12) UNION ALL SELECT open_ticket(''R15 customer work phone'', 1, customer_id => (SELECT customer_id FROM customer WHERE name = ''Wanda Works''))) q; SET LOCAL ticketdesk.agent = 2; SELECT ticket_id FROM open_ticket(''R2 her own'', 1, requester_agent_id => 2); UPDATE ticket SET priority = ''high'', priority_fixed = true WHERE subject ~ ''^R[0-9]+ '' AND ticket_id > :requester_after; SET LOCAL ticketdesk.agent = 1; SELECT count(*) FROM (SELECT assign(ticket_id, 2) FROM ticket WHERE subject ~ ''^R[0-9]+ '' AND ticket_id > :requester_after ORDER BY ticket_id) q; UPDATE notify_preference SET channels = ''{sms}'' WHERE contact_id = 11; SET LOCAL ticketdesk.agent = 2; SELECT count(*) FROM (SELECT acknowledge(ticket_id) FROM ticket WHERE subject ~ ''^R[0-9]+ '' AND ticket_id > :requester_after ORDER BY ticket_id) q;'
CREATE TEMP VIEW requester_messages AS
SELECT k.subject, row_number() OVER (PARTITION BY k.ticket_id ORDER BY o.outbox_id) AS n, o.event, o.channel,
       o.recipient, o.recipient_name AS name, o.agent_id, o.contact_id, o.language AS lang,
       o.sender_name AS sender, o.note, o.thread = k.reference AS threaded, o.ticket_id
  FROM outbox o JOIN ticket k ON k.tenant_id = o.tenant_id AND k.ticket_id = o.ticket_id
 WHERE k.subject ~ '^R[0-9]+ ' AND o.event IN ('registered', 'acknowledged');
CREATE TEMP TABLE requester_by_gate AS SELECT * FROM requester_messages WITH NO DATA;
SELECT coalesce(max(ticket_id), 0) AS requester_after FROM ticket \gset
BEGIN;
:requester_story
INSERT INTO requester_by_gate SELECT * FROM requester_messages WHERE ticket_id > :requester_after;
COMMIT;
SELECT subject, n, event, channel, recipient, name, agent_id, contact_id, lang, sender, note, threaded
  FROM requester_by_gate ORDER BY subject, n;
SELECT coalesce(max(ticket_id), 0) AS requester_after FROM ticket \gset
BEGIN;
ALTER TABLE ticket_event DISABLE TRIGGER ticket_event_notify;
CREATE TRIGGER ticket_event_notify_plpgsql AFTER INSERT ON ticket_event
    FOR EACH ROW EXECUTE FUNCTION notify_ticket_event();
:requester_story
-- Both ways: what one queued and the other did not (no rows), and the counts.
(SELECT subject, n, event, channel, recipient, name, agent_id, contact_id, lang, sender, note, threaded
   FROM requester_messages WHERE ticket_id > :requester_after
 EXCEPT
 SELECT subject, n, event, channel, recipient, name, agent_id, contact_id, lang, sender, note, threaded
   FROM requester_by_gate)
UNION ALL
(SELECT subject, n, event, channel, recipient, name, agent_id, contact_id, lang, sender, note, threaded
   FROM requester_by_gate
 EXCEPT
 SELECT subject, n, event, channel, recipient, name, agent_id, contact_id, lang, sender, note, threaded
   FROM requester_messages WHERE ticket_id > :requester_after);
SELECT (SELECT count(*) FROM requester_messages WHERE ticket_id > :requester_after) AS by_plpgsql,
       (SELECT count(*) FROM requester_by_gate) AS by_gate;
ROLLBACK;
DELETE FROM notify_policy WHERE event = 'registered' AND NOT seeded;

--
-- 21. The requester's messages are written as the bootstrap superuser with
--     names resolved in pg_catalog and ticketdesk only (src/trusted.c, the
--     path pushed as an override): a trigger added on outbox sees that
--     path, not the caller's, which names a schema of its own first.
--
BEGIN;
CREATE SCHEMA td_notify_evil;
CREATE FUNCTION td_notify_path() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE NOTICE 'outbox trigger for %: names resolved in %', NEW.event, current_schemas(true);
    RETURN NEW;
END $$;
CREATE TRIGGER td_notify_path BEFORE INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION td_notify_path();
SET LOCAL search_path = td_notify_evil, ticketdesk, public;
SELECT ticket_id > 0 AS opened FROM open_ticket('Path check', 1, contact_id => 1);
ROLLBACK;

--
-- 22. The requester's message reads the ticket as it is when the message is
--     queued, not as the history trigger saw it written. The ticket's
--     history trigger hands the row version it fires for over
--     (src/keyed_read.c, keyed_row_written), and the message uses that
--     version only while it is the one a read by key would find. Here a
--     trigger that fires before the history changes the new ticket's
--     contact from Rita to Piotr, and at the acknowledgement back to Rita:
--     each message goes to the ticket's contact as changed, never to the
--     one of the version handed over.
--
BEGIN;
CREATE FUNCTION td_contact_swap() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE ticketdesk.ticket SET contact_id = CASE NEW.contact_id WHEN 1 THEN 2 ELSE 1 END
     WHERE tenant_id = NEW.tenant_id AND ticket_id = NEW.ticket_id;
    RETURN NULL;
END $$;
CREATE TRIGGER ticket_contact_swap AFTER INSERT ON ticket
    FOR EACH ROW WHEN (NEW.subject = 'H1 swapped') EXECUTE FUNCTION td_contact_swap();
CREATE TRIGGER ticket_contact_swap_ack AFTER UPDATE OF status ON ticket
    FOR EACH ROW WHEN (NEW.subject = 'H1 swapped' AND NEW.status = 'acknowledged')
    EXECUTE FUNCTION td_contact_swap();
SET LOCAL ticketdesk.agent = 1;
SELECT ticket_id AS swapped FROM open_ticket('H1 swapped', 1, contact_id => 1, assignee_id => 2) \gset
SET LOCAL ticketdesk.agent = 2;
SELECT count(*) AS acknowledged FROM (SELECT acknowledge(:swapped)) q;
SELECT kind, old_value, new_value FROM ticket_event WHERE ticket_id = :swapped ORDER BY event_id;
SELECT event, channel, recipient, recipient_name, contact_id FROM outbox
 WHERE ticket_id = :swapped AND event IN ('registered', 'acknowledged') ORDER BY outbox_id;
ROLLBACK;

--
-- 23. Message keys are ordered by time (src/message_key.c): RFC 9562
--     version 7, the first 48 bits the Unix time in milliseconds, the other
--     74 random. A key made later sorts after one made earlier, so new keys
--     go to the right edge of outbox's unique index; every queued row gets
--     one, and no two are the same.
--
SELECT count(DISTINCT k) AS distinct_keys,
       bool_and(substr(k::text, 15, 1) = '7') AS version_7,
       bool_and(substr(k::text, 20, 1) IN ('8', '9', 'a', 'b')) AS rfc_variant,
       bool_and(abs(('x' || substr(replace(k::text, '-', ''), 1, 12))::bit(48)::bigint
                    - (extract(epoch FROM clock_timestamp()) * 1000)::bigint) < 60000) AS time_is_now
  FROM (SELECT message_key_new() AS k FROM generate_series(1, 1000)) s;
SELECT message_key_new() AS earlier_key \gset
SELECT pg_sleep(0.01);
SELECT message_key_new() > :'earlier_key'::uuid AS later_sorts_after;
SELECT count(*) > 0 AS queued, bool_and(substr(message_key::text, 15, 1) = '7') AS queued_keys_version_7
  FROM outbox WHERE created_at >= now() - interval '1 hour' AND outbox_id > (SELECT max(outbox_id) - 5 FROM outbox);

--
-- 24. The tables written without a statement are found by name in schema
--     ticketdesk (src/direct_write.c), the OID kept until a relation or a
--     schema is renamed, created or dropped: with outbox renamed away, the
--     next message finds no outbox (an internal error, and nothing is
--     written to the renamed table); renamed back, it is written again.
--
BEGIN;
SET LOCAL ticketdesk.agent = 1;
SELECT count(*) AS opened FROM open_ticket('N1 before the rename', 1, contact_id => 1);
ALTER TABLE outbox RENAME TO outbox_renamed;
SAVEPOINT renamed;
SELECT count(*) AS opened FROM open_ticket('N2 outbox renamed', 1, contact_id => 1);
ROLLBACK TO renamed;
ALTER TABLE outbox_renamed RENAME TO outbox;
SELECT count(*) AS opened FROM open_ticket('N3 renamed back', 1, contact_id => 1);
SELECT k.subject, o.event, o.recipient FROM outbox o
  JOIN ticket k ON k.tenant_id = o.tenant_id AND k.ticket_id = o.ticket_id
 WHERE k.subject ~ '^N[0-9] ' ORDER BY o.outbox_id;
ROLLBACK;
