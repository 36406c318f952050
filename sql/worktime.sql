-- Work time, checklists with approval, the act and billing (R11-R14, R25),
-- told as one service month: March 2025, with its April billing run.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS ticketdesk CASCADE;
CREATE EXTENSION ticketdesk;
RESET client_min_messages;
SET search_path = ticketdesk, public;
SET TimeZone = 'UTC';
-- Roles are cluster-wide: drop leftovers of an earlier, interrupted run.
SET client_min_messages = warning;
DROP ROLE IF EXISTS td_worktime_agent;
RESET client_min_messages;

-- The field service: Dana dispatches, Eli and Fay work, Max supervises them.
INSERT INTO center (code, name) VALUES ('field', 'Field service');
INSERT INTO agent (name) VALUES ('Dana Dispatcher'), ('Eli Executor'), ('Fay Fixer'), ('Max Manager');
UPDATE agent SET supervisor_id = 4 WHERE agent_id IN (2, 3);
INSERT INTO center_member (center_id, agent_id, role)
VALUES (1, 1, 'dispatcher'), (1, 2, 'executor'), (1, 3, 'executor');
-- Two customers; the second one's name tries to smuggle a script into the act.
INSERT INTO customer (name, tax_id) VALUES ('Acme UAB', 'LT100001'),
                                          ('Shalom <script>alert("x")</script> & Sons', '51-234567-8');
INSERT INTO contact (customer_id, name, language) VALUES (1, 'Rita Requester', 'lt'), (2, 'Moshe Cohen', 'he');
SELECT site_for(2, 'Herzl St 5 <b>Tel Aviv</b>') AS site_id;

-- Billing settings: round up to 15 minutes, at least 30 per sitting. Rates:
-- 40/h by default, travel 20/h, after hours 60/h, Acme's normal work 50/h.
-- Interventions carry a fixed fee of 25.
INSERT INTO work_setting (rounding_minutes, minimum_minutes) VALUES (15, 30);
INSERT INTO rate (customer_id, work_type, hourly)
VALUES (NULL, NULL, 40), (NULL, 'travel', 20), (NULL, 'after_hours', 60), (1, 'normal', 50);
INSERT INTO ticket_fee (type_id, amount) SELECT type_id, 25 FROM ticket_type WHERE code = 'intervention';
-- A negative rate is refused.
INSERT INTO rate (customer_id, work_type, hourly) VALUES (2, 'travel', -5);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE ticket_fee SET amount = -1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- Interventions start with a checklist and need a manager's approval.
INSERT INTO checklist_template (type_id, position, title, required)
SELECT type_id, p, title, req FROM ticket_type,
       (VALUES (1, 'Pressure test', true), (2, 'Photo of the installation', false),
               (3, 'Customer signature', true)) AS v(p, title, req)
 WHERE code = 'intervention';
INSERT INTO approval_policy (type_id) SELECT type_id FROM ticket_type WHERE code = 'intervention';

-- Four tickets: Acme's leaking boiler (an incident), Shalom's filter
-- replacement (an intervention), an internal printer job, Acme's valve
-- replacement (an intervention).
SELECT ticket_id, reference FROM open_ticket('Boiler leaks', 1, contact_id => 1, assignee_id => 2);
SELECT ticket_id, reference FROM open_ticket('Replace <filter>', 1, type => 'intervention', contact_id => 2,
                                             site_id => 1, assignee_id => 3);
SELECT ticket_id, reference FROM open_ticket('Office printer', 1, requester_agent_id => 1, assignee_id => 2);
SELECT ticket_id, reference FROM open_ticket('Replace valve', 1, type => 'intervention', contact_id => 1,
                                             assignee_id => 2);
-- The interventions got the template's items; nothing else did.
SELECT ticket_id, position, title, required, template_id IS NOT NULL AS from_template
  FROM checklist_item ORDER BY ticket_id, position;

--
-- Time (R11). Eli records Monday 3 March after the fact: travel, then work.
--
SET ticketdesk.agent = 2;
SELECT status FROM start_work(1);
SELECT record_time(1, '2025-03-03 08:30', '2025-03-03 09:00', 'travel', 'to Kaunas') AS entry;
SELECT record_time(1, '2025-03-03 09:00', '2025-03-03 10:40', note => 'Gasket replaced') AS entry;
-- Fay helped for half an hour: another agent may work at the same time.
SELECT record_time(1, '2025-03-03 09:30', '2025-03-03 10:00', agent_id => 3) AS entry;
-- Eli cannot be in two places at once, and a period must end after it starts.
SELECT record_time(1, '2025-03-03 10:00', '2025-03-03 11:00');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT record_time(1, '2025-03-03 12:00', '2025-03-03 11:00');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- The exclusion constraint holds for plain SQL as well; the trigger explains it.
INSERT INTO time_entry (ticket_id, agent_id, period) VALUES (1, 2, '[2025-03-03 08:45, 2025-03-03 08:50)');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- A timer on the printer job: one runs at a time, and it blocks any later
-- period of the same agent until stopped.
SELECT start_timer(3) AS timer_entry;
-- (Terse errors: the details name the timer's start, which is now.)
\set VERBOSITY terse
SELECT start_timer(3);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT record_time(3, now() + interval '1 hour', now() + interval '2 hours');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\set VERBOSITY default
SELECT entry_id, minutes IS NOT NULL AS finished FROM stop_timer(note => 'Toner replaced');
SELECT stop_timer();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ticketdesk.agent;
SELECT record_time(3, '2025-03-04 08:00', '2025-03-04 09:00');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

--
-- Correction and confirmation (R25). The lunch break was counted: Dana, the
-- dispatcher, corrects Eli's sitting. Eli himself may not, and a correction
-- needs a reason.
--
SET ticketdesk.agent = 2;
SELECT correct_time(2, 'my mistake', stopped => '2025-03-03 10:10');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET ticketdesk.agent = 1;
SELECT correct_time(2, '  ', stopped => '2025-03-03 10:10');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT correct_time(999, 'no such entry');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT entry_id, period_text(period), minutes, period_text(original_period) AS original, correction_reason
  FROM correct_time(2, 'lunch break counted', stopped => '2025-03-03 10:10');
-- The history keeps the original value next to the corrected one.
SELECT kind, old_value, new_value, note, actor FROM ticket_history(1) WHERE kind LIKE 'time%';
-- Rita confirms the time of her ticket: the three finished entries.
SELECT confirm_time(1) AS confirmed;
SELECT entry_id, minutes, confirmed_by FROM time_entry WHERE ticket_id = 1 ORDER BY entry_id;
SELECT confirm_time(1) AS confirmed_again;
SELECT status FROM resolve(1, 'Gasket replaced, no more leaks');
SELECT status FROM confirm(1);
SELECT status FROM close(1);
-- Time on a closed ticket is refused; a correction is not (see April).
SELECT record_time(1, '2025-03-05 09:00', '2025-03-05 10:00', agent_id => 2);
\echo SQLSTATE :LAST_ERROR_SQLSTATE

--
-- Checklists and approval (R13). Fay replaces Shalom's filter on 10 and 11
-- March; Dana drove her there.
--
SET ticketdesk.agent = 3;
SELECT status FROM start_work(2);
SELECT record_time(2, '2025-03-10 18:00', '2025-03-10 20:05', 'after_hours', 'Old filter <removed>') AS entry;
SELECT record_time(2, '2025-03-11 09:00', '2025-03-11 09:20') AS entry;
SELECT record_time(2, '2025-03-10 17:30', '2025-03-10 18:00', 'travel', agent_id => 1) AS entry;
SELECT add_checklist_item(2, 'Dispose of the old filter') AS item;
SELECT add_checklist_item(2, ' ');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Resolving is refused while required items are open, and the error lists them.
SELECT status FROM resolve(2, 'Filter replaced');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT title, done_at IS NOT NULL AS done FROM check_item(1);
SELECT title, done_at IS NOT NULL AS done FROM check_item(7);
-- A plain UPDATE meets the same gate.
UPDATE ticket SET status = 'resolved', resolution = 'Filter replaced' WHERE ticket_id = 2;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT title, done_at IS NOT NULL AS done FROM check_item(3);
SELECT check_item(99);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- The optional photo may stay open.
SELECT * FROM checklist(2);
SELECT status FROM resolve(2, 'Filter replaced');
-- Closing needs the approval first.
SET ticketdesk.agent = 1;
SELECT status FROM close(2);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Fay is no manager; Dana dispatches but drove Fay there, so it is her own
-- work too.
SET ticketdesk.agent = 3;
SELECT approve(2);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET ticketdesk.agent = 1;
SELECT approve(2);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Max, Fay's supervisor, sends the work back with a reason, which reopens it.
SET ticketdesk.agent = 4;
SELECT status FROM send_back(2, '');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT status FROM send_back(2, 'No photo of the installation');
SELECT approve(2);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET ticketdesk.agent = 3;
SELECT title, done_at IS NOT NULL AS done FROM check_item(2);
SELECT status FROM resolve(2, 'Filter replaced, photo attached');
SET ticketdesk.agent = 4;
SELECT approve(2, 'Looks good') AS approval;
SELECT approve(2) AS same_approval;
SELECT status FROM confirm(2);
SELECT confirm_time(2) AS confirmed;
SET ticketdesk.agent = 1;
SELECT status FROM close(2);
SELECT decision, reason, a.name AS decided_by FROM approval p JOIN agent a USING (tenant_id)
 WHERE a.agent_id = p.decided_by ORDER BY approval_id;

-- The bypass. The valve was replaced on 20 March, but the customer is away
-- and cannot sign. Eli cannot resolve; an agent without the override right
-- cannot bypass; an administrator can, and it is recorded.
SET ticketdesk.agent = 2;
SELECT status FROM start_work(4);
SELECT record_time(4, '2025-03-20 13:00', '2025-03-20 14:00') AS entry;
SELECT title, done_at IS NOT NULL AS done FROM check_item(4);
SELECT status FROM resolve(4, 'Valve replaced');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE ROLE td_worktime_agent NOLOGIN;
GRANT USAGE ON SCHEMA ticketdesk TO td_worktime_agent;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ticketdesk TO td_worktime_agent;
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA ticketdesk TO td_worktime_agent;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA ticketdesk TO td_worktime_agent;
SET ROLE td_worktime_agent;
SELECT status FROM override_gate(4, 'resolved', 'Customer away', 'Valve replaced');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO gate_bypass (ticket_id, from_status, to_status, reason) VALUES (4, 'in_progress', 'resolved', 'sneaky');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
-- The administrator (here: a superuser) acts as no agent.
RESET ticketdesk.agent;
SELECT status FROM override_gate(4, 'resolved', '');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT status, resolution FROM override_gate(4, 'resolved', 'Customer away; signature follows by post',
                                            'Valve replaced');
-- A gate that is open needs no bypass.
SELECT status FROM override_gate(4, 'confirmed', 'no reason');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Closing without approval is bypassed as well, and recorded on its own.
SELECT status FROM override_gate(4, 'closed', 'Year-end cleanup');
SELECT ticket_id, from_status, to_status, reason, open_items, approval_missing, by_role, by_agent,
       at IS NOT NULL AS at_recorded
  FROM gate_bypass ORDER BY bypass_id;
SELECT kind, old_value, new_value, note FROM ticket_history(4) WHERE kind IN ('gate_bypass', 'status');
-- The records cannot be changed.
DELETE FROM gate_bypass;
\echo SQLSTATE :LAST_ERROR_SQLSTATE

--
-- Totals (views).
--
SELECT reference, entries, minutes, normal_minutes, travel_minutes, after_hours_minutes,
       confirmed_minutes, corrected_entries, running_timers
  FROM time_by_ticket ORDER BY ticket_id;
SELECT agent, month, work_type, entries, minutes FROM time_by_agent
 WHERE month = '2025-03-01' ORDER BY agent, work_type;
SELECT customer, month, work_type, tickets, entries, minutes, confirmed_minutes FROM time_by_customer
 WHERE customer_id IS NOT NULL ORDER BY customer_id, work_type;

--
-- The act (R12). Shalom's act is in Hebrew, right to left, and every text
-- that came from users is escaped: the customer's script, the subject, the
-- site and the note never reach the page as markup.
--
\pset format unaligned
\pset tuples_only on
SELECT work_act(2);
\pset format aligned
\pset tuples_only off
SELECT work_act(2) LIKE '%<script>%' AS script_leaked,
       work_act(2) LIKE '%Shalom &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Sons%' AS escaped;
-- Rita's in Lithuanian, as plain text; the correction shows the original.
\pset format unaligned
\pset tuples_only on
SELECT work_act(1, 'text');
-- Acme's month in Polish and Romanian, and the five languages' titles.
SELECT customer_work_act(1, '2025-03-01', '2025-03-31', 'text', 'pl');
SELECT customer_work_act(1, '2025-03-01', '2025-03-31', 'text', 'ro');
\pset format aligned
\pset tuples_only off
SELECT l, act_label(l, 'title') FROM unnest(ARRAY['en', 'lt', 'pl', 'he', 'ro']) AS l;
SELECT work_act(1, 'pdf');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT work_act(1, 'html', 'de');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT customer_work_act(1, '2025-03-31', '2025-03-01');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

--
-- Billing (R14). The month that is still running cannot be billed unless forced.
--
-- (Its message names the current month: only the SQLSTATE is shown.)
\set VERBOSITY sqlstate
SELECT billing_run(now()::date);
\set VERBOSITY default
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- March: Acme's boiler (confirmed time) and Shalom's filter (approved, with
-- its fee). The valve ticket was closed past a missing approval: its work
-- is not completed, so it waits. The internal printer job has no customer.
SELECT to_char(month, 'YYYY-MM') AS month, forced, currency, lines, total FROM billing_run('2025-03-15');
SELECT line_no, customer_id, kind, item, quantity, unit, unit_price, amount, minutes, tickets, entries
  FROM billing_line WHERE run_id = 1 ORDER BY line_no;
-- The entries are marked billed in the same transaction: ledger rows, and
-- out of the queue. The valve's entry and the printer's stay due.
SELECT entry_id, billed, billed_minutes, billed_amount, last_run_id, due FROM time_entry_billing ORDER BY entry_id;
-- A billed entry cannot be deleted; the printer's zero-minute timer can.
DELETE FROM time_entry WHERE entry_id = 1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DELETE FROM time_entry WHERE ticket_id = 3 RETURNING entry_id;
SELECT entry_id AS still_due FROM billing_due ORDER BY entry_id;
-- A second run for the month returns the first: nothing is billed twice.
SELECT run_id, lines, total FROM billing_run('2025-03-01');
SELECT count(*) AS ledger_rows FROM billed_item;

-- A late correction: Eli's sitting on the closed boiler ticket was 40
-- minutes, not 70 (45 billed, not 75). Max approves the valve work.
SET ticketdesk.agent = 1;
SELECT entry_id, minutes FROM correct_time(2, 'customer disputed the duration', stopped => '2025-03-03 09:40');
SELECT entry_id, billed_minutes, due FROM time_entry_billing WHERE entry_id = 2;
-- Fay's 20 minutes on 11 March were the drive back, not work.
SELECT entry_id, work_type, original_type FROM correct_time(12, 'it was the drive back', work_type => 'travel');
SET ticketdesk.agent = 4;
SELECT approve(4) AS approval;
-- Acme's rate for normal work goes up to 55 from April.
UPDATE rate SET hourly = 55 WHERE customer_id = 1 AND work_type = 'normal';
-- April's run credits Eli's difference at the price it was billed (50), bills
-- the valve at the new price, and moves Fay's half hour from normal work to
-- travel: a credit at the old price, a debit at the travel rate.
SELECT to_char(month, 'YYYY-MM') AS month, lines, total FROM billing_run('2025-04-01');
SELECT line_no, customer_id, kind, item, quantity, unit, unit_price, amount, minutes, tickets, entries
  FROM billing_line WHERE run_id = 2 ORDER BY line_no;
SELECT run_id, entry_id, kind, work_type, minutes, unit_price FROM billed_item WHERE entry_id IN (2, 12)
 ORDER BY entry_id, billed_id;

-- The export for the ERP: CSV through COPY, and JSON.
COPY (SELECT * FROM billing_export WHERE run_id = 2 ORDER BY line_no) TO STDOUT WITH (FORMAT csv, HEADER);
SELECT jsonb_pretty(billing_export_json(2));
SELECT billing_export_json(99);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT billing_run(NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- A rate missing for billable work stops the run, which writes nothing.
DELETE FROM rate WHERE customer_id IS NULL AND work_type IS NULL;
SET ticketdesk.agent = 1;
SELECT status FROM reopen(2, 'one more visit');
SET ticketdesk.agent = 3;
SELECT record_time(2, '2025-05-05 09:00', '2025-05-05 10:00') AS entry;
SELECT status FROM resolve(2, 'Filter checked again');
-- This time Dana approves her own centre's work: the tenant now allows it.
UPDATE work_setting SET allow_self_approval = true;
SET ticketdesk.agent = 1;
SELECT approve(2) IS NOT NULL AS approved;
SELECT billing_run('2025-05-01');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) AS runs FROM billing_run;
-- With the rate back, the month still running can be billed when forced:
-- the run is marked as forced, and May's visit is billed.
INSERT INTO rate (hourly) VALUES (40);
SELECT forced, lines, total FROM billing_run(now()::date, force => true);
SELECT kind, item, quantity, unit_price, amount FROM billing_export
 WHERE run_id = (SELECT max(run_id) FROM billing_run) ORDER BY line_no;

-- Another tenant bills only its own work, even run by a superuser.
SELECT create_tenant('north', 'North region') AS tenant;
SET ticketdesk.tenant = 2;
SELECT to_char(month, 'YYYY-MM') AS month, lines, total FROM billing_run('2025-03-01');
SELECT count(*) AS tickets_with_time FROM time_by_ticket;
RESET ticketdesk.tenant;
SELECT tenant_id, count(*) AS runs FROM billing_run GROUP BY tenant_id ORDER BY tenant_id;

DROP OWNED BY td_worktime_agent;
DROP ROLE td_worktime_agent;
