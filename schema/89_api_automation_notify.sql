-- Delivery of the automation notices through the notification outbox
-- (issue 5). A notice is inserted once (its unique key), and its insert
-- queues the messages in the same transaction, so each is sent once.

-- AFTER INSERT on automation_notice: queues one message per recipient, by
-- the channels the policy gives the event and the ticket's priority. The
-- event is the notice's kind, except that a reminder is "due_reminder".
CREATE FUNCTION automation_notice_send() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    event   text := CASE NEW.kind WHEN 'reminder' THEN 'due_reminder' ELSE NEW.kind END;
    note    text;
    agent   bigint;
    contact bigint;
BEGIN
    note := CASE NEW.kind
        WHEN 'reminder' THEN
            (SELECT r.note FROM ticketdesk.ticket_reminder r
              WHERE r.tenant_id = NEW.tenant_id AND r.reminder_id = NEW.key::bigint)
        WHEN 'escalation' THEN 'Escalation ' || NEW.key || '.'
        WHEN 'confirm_reminder' THEN
            'If the problem is not solved, just reply; otherwise the request will soon be confirmed automatically.'
    END;
    FOREACH agent IN ARRAY NEW.agent_ids LOOP
        PERFORM ticketdesk.notify_queue(NEW.tenant_id, NEW.ticket_id, event, agent, NULL, NULL, NULL, note);
    END LOOP;
    FOREACH contact IN ARRAY NEW.contact_ids LOOP
        PERFORM ticketdesk.notify_queue(NEW.tenant_id, NEW.ticket_id, event, NULL, contact, NULL, NULL, note);
    END LOOP;
    RETURN NULL;
END $$;
CREATE TRIGGER automation_notice_send AFTER INSERT ON automation_notice
    FOR EACH ROW EXECUTE FUNCTION automation_notice_send();
-- It queues as the extension owner, as the outbox's own trigger does.
ALTER FUNCTION automation_notice_send() SECURITY DEFINER SET search_path = pg_catalog, ticketdesk;
