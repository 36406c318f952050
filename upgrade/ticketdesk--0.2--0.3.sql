-- ticketdesk 0.2 -> 0.3. Each section names the change it brings; the
-- result must equal a fresh install of 0.3 (test/t/004_upgrade.pl compares
-- the two, object by object).
\echo Use "ALTER EXTENSION ticketdesk UPDATE TO '0.3'" to load this file. \quit

-- Opening a ticket, faster: the notification trigger queues the messages of
-- all recipients of a history row in one INSERT (notify_queue is left to enqueue).
-- AFTER INSERT on ticket_event: turns lifecycle events into messages, in the
-- same transaction (R05, R09, R28, R40, R41, R51). It reads the ticket as
-- it is after the change. Who gets what:
--   created                      registered       the requester (thank-you)
--   assignee (set)               assigned         the new assignee
--                                handler_assigned the requester (not when opened assigned)
--   status acknowledged          acknowledged     the requester
--   status new from assigned/ack rejected         the centre's dispatchers
--   status resolved              resolved         the requester, the watchers
--   status confirmed             confirmed        the assignee
--   status closed                closed           the requester, the watchers
--   status cancelled             cancelled        the requester, the assignee, the watchers
-- The agent who made the change is not told about it.
CREATE OR REPLACE FUNCTION notify_ticket_event() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    ev     text;
    actor  text;
    audiences text[];
BEGIN
    ev := CASE
        WHEN NEW.kind = 'created' THEN 'registered'
        WHEN NEW.kind = 'assignee' AND NEW.new_value IS NOT NULL THEN 'assigned'
        WHEN NEW.kind = 'status' AND NEW.new_value = 'new' AND NEW.old_value IN ('assigned', 'acknowledged') THEN 'rejected'
        WHEN NEW.kind = 'status' AND NEW.new_value IN ('acknowledged', 'resolved', 'confirmed', 'closed', 'cancelled')
            THEN NEW.new_value
    END;
    IF ev IS NULL THEN
        RETURN NULL;
    END IF;
    audiences := CASE ev
        WHEN 'registered' THEN '{requester}'
        WHEN 'assigned' THEN '{assignee,requester}'
        WHEN 'acknowledged' THEN '{requester}'
        WHEN 'rejected' THEN '{dispatchers}'
        WHEN 'resolved' THEN '{requester,watchers}'
        WHEN 'confirmed' THEN '{assignee}'
        WHEN 'closed' THEN '{requester,watchers}'
        WHEN 'cancelled' THEN '{requester,assignee,watchers}'
    END;
    -- Opened already assigned: the thank-you names the handler, once is enough.
    IF ev = 'assigned' AND EXISTS (SELECT 1 FROM ticketdesk.ticket_event e
                                    WHERE e.tenant_id = NEW.tenant_id AND e.ticket_id = NEW.ticket_id
                                      AND e.kind = 'created' AND e.event_id < NEW.event_id
                                      AND e.at = NEW.at) THEN
        audiences := '{assignee}';
    END IF;
    -- A rejection goes out in the name of the agent who rejected it.
    IF ev = 'rejected' THEN
        SELECT a.name INTO actor FROM ticketdesk.agent a
         WHERE a.tenant_id = NEW.tenant_id AND a.agent_id = NEW.actor_agent_id;
    END IF;

    -- Every recipient's messages in one INSERT, in the order of the
    -- recipients (event, agent, contact, customer) and of their channels:
    -- what notify_queue would queue called once per recipient, without a
    -- function call and a statement per recipient. A second row for the
    -- same address and channel is skipped, as it was by the next call.
    INSERT INTO ticketdesk.outbox AS o
        (tenant_id, ticket_id, event_id, event, channel, recipient, recipient_name, agent_id,
         contact_id, language, sender_name, thread, note, vars)
    SELECT NEW.tenant_id, k.ticket_id, NEW.event_id, x.event, c.channel, c.address, r.name,
           x.agent_id, x.contact_id, r.language, actor, k.reference, NEW.note, NULL
      FROM ticketdesk.ticket k
      CROSS JOIN LATERAL (
            SELECT DISTINCT ON (y.event, y.agent_id, y.contact_id, y.customer_id) y.*
              FROM (
                -- the requester: the contact person, else the employee, else the customer
                SELECT CASE WHEN ev = 'assigned' THEN 'handler_assigned' ELSE ev END AS event,
                       CASE WHEN k.contact_id IS NULL THEN k.requester_agent_id END AS agent_id,
                       k.contact_id,
                       CASE WHEN k.contact_id IS NULL AND k.requester_agent_id IS NULL THEN k.customer_id END AS customer_id,
                       1 AS rank
                 WHERE 'requester' = ANY (audiences)
                UNION ALL
                SELECT ev, k.assignee_id, NULL, NULL, 2
                 WHERE 'assignee' = ANY (audiences) AND k.assignee_id IS NOT NULL
                UNION ALL
                SELECT ev, m.agent_id, NULL, NULL, 3
                  FROM ticketdesk.center_member m
                 WHERE 'dispatchers' = ANY (audiences)
                   AND m.tenant_id = NEW.tenant_id AND m.center_id = k.center_id AND m.role = 'dispatcher'
                UNION ALL
                SELECT ev, w.agent_id, w.contact_id, NULL, 4
                  FROM ticketdesk.watcher w
                 WHERE 'watchers' = ANY (audiences) AND w.tenant_id = NEW.tenant_id AND w.ticket_id = NEW.ticket_id
              ) y
             WHERE num_nonnulls(y.agent_id, y.contact_id, y.customer_id) = 1
               AND (y.agent_id IS NULL OR y.agent_id IS DISTINCT FROM NEW.actor_agent_id)
             ORDER BY y.event, y.agent_id, y.contact_id, y.customer_id, y.rank) x
      -- The recipient and their own channel preference (R09).
      CROSS JOIN LATERAL (
            SELECT a.name, a.email, a.phone, a.language, p.channels AS preference
              FROM ticketdesk.agent a
              LEFT JOIN ticketdesk.notify_preference p ON p.tenant_id = a.tenant_id AND p.agent_id = a.agent_id
             WHERE x.agent_id IS NOT NULL
               AND a.tenant_id = NEW.tenant_id AND a.agent_id = x.agent_id
            UNION ALL
            SELECT n.name, n.email, n.phone, n.language,
                   coalesce(p.channels, CASE n.preferred_channel WHEN 'sms' THEN '{sms}'::text[]
                                                                 WHEN 'email' THEN '{email}'::text[] END)
              FROM ticketdesk.contact n
              LEFT JOIN ticketdesk.notify_preference p ON p.tenant_id = n.tenant_id AND p.contact_id = n.contact_id
             WHERE x.agent_id IS NULL AND x.contact_id IS NOT NULL
               AND n.tenant_id = NEW.tenant_id AND n.contact_id = x.contact_id
            UNION ALL
            SELECT u.name, u.email, coalesce(u.phone, u.work_phone), 'en', NULL
              FROM ticketdesk.customer u
             WHERE x.agent_id IS NULL AND x.contact_id IS NULL
               AND u.tenant_id = NEW.tenant_id AND u.customer_id = x.customer_id) r
      CROSS JOIN LATERAL (
            SELECT ch AS channel, CASE ch WHEN 'email' THEN r.email WHEN 'sms' THEN r.phone END AS address, i
              FROM unnest(ticketdesk.notify_channels(NEW.tenant_id, x.event, k.priority, r.preference))
                   WITH ORDINALITY AS u(ch, i)) c
     WHERE k.tenant_id = NEW.tenant_id AND k.ticket_id = NEW.ticket_id
       AND r.name IS NOT NULL
       AND c.address ~ '\S'
       AND (c.channel <> 'email' OR c.address ~ '^[^\s<>@",;]+@[^\s<>@",;]+$')
     ORDER BY x.event, x.agent_id, x.contact_id, x.customer_id, c.i
    ON CONFLICT (tenant_id, event_id, event, channel, recipient) WHERE event_id IS NOT NULL DO NOTHING;
    IF FOUND THEN
        PERFORM ticketdesk.notify_wake();
    END IF;
    RETURN NULL;
END $$;
ALTER FUNCTION notify_ticket_event() SECURITY DEFINER SET search_path = pg_catalog, ticketdesk, pg_temp;
