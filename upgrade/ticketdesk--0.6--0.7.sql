-- ticketdesk 0.6 -> 0.7. Each section names the change it brings; the
-- result must equal a fresh install of 0.7 (test/t/004_upgrade.pl compares
-- the two, object by object).
\echo Use "ALTER EXTENSION ticketdesk UPDATE TO '0.7'" to load this file. \quit

-- open_ticket in C (src/open_ticket.c): the usual request is opened without
-- PL/pgSQL; the former body is open_ticket_sql, which open_ticket hands every
-- other request to, and which nobody calls directly.
CREATE FUNCTION open_ticket_sql(
    subject            text,
    center_id          bigint,
    description        text DEFAULT NULL,
    type               text DEFAULT 'incident',
    customer_id        bigint DEFAULT NULL,
    contact_id         bigint DEFAULT NULL,
    requester_agent_id bigint DEFAULT NULL,
    category_id        bigint DEFAULT NULL,
    channel            ticket_channel DEFAULT 'api',
    requester_weight   integer DEFAULT 3,
    deadline           timestamptz DEFAULT NULL,
    planned_from       timestamptz DEFAULT NULL,
    planned_to         timestamptz DEFAULT NULL,
    site_id            bigint DEFAULT NULL,
    product_id         bigint DEFAULT NULL,
    object_text        text DEFAULT NULL,
    invoice_ref        text DEFAULT NULL,
    assignee_id        bigint DEFAULT NULL,
    registered_by      bigint DEFAULT NULL,
    parent_id          bigint DEFAULT NULL
) RETURNS ticket
    LANGUAGE plpgsql
    -- Its statements depend on the arguments only as values: planning them
    -- once per session, not once per call, is most of the difference.
    SET plan_cache_mode = force_generic_plan
    -- Every table an opening reads, its own look-ups, the triggers' queries
    -- and the foreign-key checks (all planned inside this call), is reached
    -- through a key. The reference tables are a few pages: their plans
    -- would scan them, each scan an lseek for the size and a visit of every
    -- row (26 per opening), where an index scan visits one.
    SET enable_seqscan = off
    AS $$
#variable_conflict use_variable
DECLARE
    t      integer := ticketdesk.current_tenant();
    known_type bigint;
    found  record;
    site_found    boolean;
    site_customer bigint;
    result ticketdesk.ticket;
BEGIN
    IF center_id IS NULL THEN
        RAISE EXCEPTION 'a ticket needs a centre'
            USING ERRCODE = 'TD202', HINT = 'Pass center_id: the service centre the request is for.';
    END IF;

    -- The tenant, the centre, the type and the category usually pass: the
    -- cache of opening_references says so without a query, and only the
    -- contact, which the caller's policies may hide, is looked up. Otherwise
    -- (or when the cache cannot vouch for the caller) the look-up query says
    -- what is wrong.
    known_type := ticketdesk.opening_references(t, center_id, type, category_id);
    IF known_type IS NOT NULL THEN
        SELECT true AS tenant, true AS center, known_type AS type_id,
               n.contact_id AS contact, n.customer_id AS contact_customer,
               category_id AS category, true AS category_fits
          INTO found
          FROM (SELECT) AS one
          LEFT JOIN ticketdesk.contact n ON n.tenant_id = t AND n.contact_id = open_ticket_sql.contact_id;
    ELSE
        -- The references every request names (centre, type, usually a contact and
        -- a category) are looked up in one query; the others only when given, so
        -- an absent one costs no look-up. Only a failed check costs more.
        SELECT EXISTS (SELECT 1 FROM ticketdesk.tenant x WHERE x.tenant_id = t) AS tenant,
               EXISTS (SELECT 1 FROM ticketdesk.center x
                        WHERE x.tenant_id = t AND x.center_id = open_ticket_sql.center_id AND x.active) AS center,
               (SELECT x.type_id FROM ticketdesk.ticket_type x
                 WHERE x.tenant_id = t AND x.code = open_ticket_sql.type) AS type_id,
               n.contact_id AS contact, n.customer_id AS contact_customer,
               g.category_id AS category,
               -- The category is the centre's own or of a centre above it (category_fits).
               g.category_id IS NULL OR EXISTS (
                   WITH RECURSIVE up(id, parent) AS (
                       SELECT c.center_id, c.parent_id FROM ticketdesk.center c
                        WHERE c.tenant_id = t AND c.center_id = open_ticket_sql.center_id
                       UNION
                       SELECT c.center_id, c.parent_id FROM ticketdesk.center c
                         JOIN up ON c.tenant_id = t AND c.center_id = up.parent
                   )
                   SELECT 1 FROM up WHERE up.id = g.center_id) AS category_fits
          INTO found
          FROM (SELECT) AS one
          LEFT JOIN ticketdesk.contact n ON n.tenant_id = t AND n.contact_id = open_ticket_sql.contact_id
          LEFT JOIN ticketdesk.category g
                 ON g.tenant_id = t AND g.category_id = open_ticket_sql.category_id AND g.active;
    END IF;

    IF NOT found.tenant THEN
        RAISE EXCEPTION 'tenant % does not exist', t
            USING ERRCODE = 'TD100',
                  HINT = 'Set ticketdesk.tenant to an existing tenant, or create it with ticketdesk.create_tenant.';
    END IF;
    IF NOT found.center THEN
        PERFORM ticketdesk.raise_not_found('center', center_id);
    END IF;
    IF found.type_id IS NULL THEN
        RAISE EXCEPTION 'ticket type "%" does not exist', type
            USING ERRCODE = 'TD207',
                  HINT = 'Use one of the codes in table ticketdesk.ticket_type, e.g. incident or service_request.';
    END IF;
    IF customer_id IS NOT NULL THEN
        IF NOT EXISTS (SELECT 1 FROM ticketdesk.customer x
                        WHERE x.tenant_id = t AND x.customer_id = open_ticket_sql.customer_id) THEN
            PERFORM ticketdesk.raise_not_found('customer', customer_id);
        END IF;
    END IF;
    IF contact_id IS NOT NULL AND found.contact IS NULL THEN
        PERFORM ticketdesk.raise_not_found('contact', contact_id);
    END IF;
    IF customer_id IS NOT NULL AND contact_id IS NOT NULL
       AND found.contact_customer IS DISTINCT FROM customer_id THEN
        RAISE EXCEPTION 'contact % is not a contact person of customer %', contact_id, customer_id
            USING ERRCODE = 'TD307',
                  HINT = 'Pass a contact of this customer, or only the contact.';
    END IF;
    customer_id := coalesce(customer_id, found.contact_customer);
    IF num_nonnulls(requester_agent_id, assignee_id, registered_by) > 0 THEN
        IF (SELECT count(*) FROM ticketdesk.agent x
             WHERE x.tenant_id = t AND x.active
               AND x.agent_id IN (open_ticket_sql.requester_agent_id, open_ticket_sql.assignee_id,
                                  open_ticket_sql.registered_by))
           < num_nonnulls(requester_agent_id, assignee_id, registered_by) THEN
            -- Name the first agent that failed.
            PERFORM ticketdesk.require('agent', requester_agent_id);
            PERFORM ticketdesk.require('agent', assignee_id);
            PERFORM ticketdesk.require('agent', registered_by);
        END IF;
    END IF;
    IF category_id IS NOT NULL AND found.category IS NULL THEN
        PERFORM ticketdesk.raise_not_found('category', category_id);
    END IF;
    IF NOT found.category_fits THEN
        PERFORM ticketdesk.require_category_fits(category_id, center_id);
    END IF;
    IF site_id IS NOT NULL THEN
        SELECT true, x.customer_id INTO site_found, site_customer
          FROM ticketdesk.site x WHERE x.tenant_id = t AND x.site_id = open_ticket_sql.site_id;
        IF site_found IS NULL THEN
            PERFORM ticketdesk.raise_not_found('site', site_id);
        END IF;
        IF site_customer IS NOT NULL AND site_customer IS DISTINCT FROM customer_id THEN
            RAISE EXCEPTION 'site % belongs to another customer', site_id
                USING ERRCODE = 'TD316',
                      HINT = 'Use ticketdesk.site_for to find or record the requester''s own site.';
        END IF;
    END IF;
    IF product_id IS NOT NULL THEN
        IF NOT EXISTS (SELECT 1 FROM ticketdesk.product x
                        WHERE x.tenant_id = t AND x.product_id = open_ticket_sql.product_id AND x.active) THEN
            PERFORM ticketdesk.raise_not_found('product', product_id);
        END IF;
    END IF;
    IF parent_id IS NOT NULL THEN
        IF NOT EXISTS (SELECT 1 FROM ticketdesk.ticket x
                        WHERE x.tenant_id = t AND x.ticket_id = open_ticket_sql.parent_id) THEN
            PERFORM ticketdesk.raise_not_found('ticket', parent_id);
        END IF;
    END IF;

    IF (planned_from IS NULL) <> (planned_to IS NULL) OR planned_from > planned_to THEN
        RAISE EXCEPTION 'malformed planned period'
            USING ERRCODE = 'TD304',
                  DETAIL = format('The period runs from %s to %s.',
                                  coalesce(planned_from::text, 'nothing'), coalesce(planned_to::text, 'nothing')),
                  HINT = 'Give both planned_from and planned_to, the start before the end, or neither.';
    END IF;
    IF requester_weight IS NULL OR requester_weight NOT BETWEEN 1 AND 5 THEN
        RAISE EXCEPTION 'requester_weight must be between 1 and 5'
            USING ERRCODE = 'TD302',
                  DETAIL = format('It is %s.', coalesce(requester_weight::text, 'missing')),
                  HINT = '1 is the least important, 5 the most; 3 is normal.';
    END IF;

    registered_by := coalesce(registered_by, ticketdesk.current_agent());
    -- The row is written without a statement when open_ticket_write can
    -- check the caller's rights itself (src/opening_write.c); otherwise it
    -- writes nothing and the INSERT does, with every check of a statement.
    result := ticketdesk.open_ticket_write(
        t, found.type_id, center_id, category_id, customer_id, contact_id,
        requester_agent_id, registered_by, channel, subject, description,
        requester_weight::ticketdesk.ticket_weight, deadline,
        CASE WHEN planned_from IS NOT NULL THEN tstzrange(planned_from, planned_to, '[]') END,
        site_id, product_id, object_text, invoice_ref, assignee_id, parent_id);
    IF result.ticket_id IS NULL THEN
        INSERT INTO ticketdesk.ticket AS k
            (tenant_id, type_id, center_id, category_id, customer_id, contact_id,
             requester_agent_id, registered_by, channel, subject, description,
             requester_weight, deadline, planned, site_id, product_id, object_text,
             invoice_ref, assignee_id, parent_id)
        VALUES
            (t, found.type_id, center_id, category_id, customer_id, contact_id,
             requester_agent_id, registered_by, channel, subject, description,
             requester_weight, deadline,
             CASE WHEN planned_from IS NOT NULL THEN tstzrange(planned_from, planned_to, '[]') END,
             site_id, product_id, object_text, invoice_ref, assignee_id, parent_id)
        RETURNING * INTO result;
    END IF;
    RETURN result;
END $$;
COMMENT ON FUNCTION open_ticket_sql(text, bigint, text, text, bigint, bigint, bigint, bigint, ticket_channel,
                                    integer, timestamptz, timestamptz, timestamptz, bigint, bigint, text, text,
                                    bigint, bigint, bigint) IS
    'Internal: open_ticket''s checks as queries, for the requests open_ticket does not open itself.';
REVOKE EXECUTE ON FUNCTION open_ticket_sql FROM PUBLIC;
CREATE OR REPLACE FUNCTION open_ticket(
    subject            text,
    center_id          bigint,
    description        text DEFAULT NULL,
    type               text DEFAULT 'incident',
    customer_id        bigint DEFAULT NULL,
    contact_id         bigint DEFAULT NULL,
    requester_agent_id bigint DEFAULT NULL,
    category_id        bigint DEFAULT NULL,
    channel            ticket_channel DEFAULT 'api',
    requester_weight   integer DEFAULT 3,
    deadline           timestamptz DEFAULT NULL,
    planned_from       timestamptz DEFAULT NULL,
    planned_to         timestamptz DEFAULT NULL,
    site_id            bigint DEFAULT NULL,
    product_id         bigint DEFAULT NULL,
    object_text        text DEFAULT NULL,
    invoice_ref        text DEFAULT NULL,
    assignee_id        bigint DEFAULT NULL,
    registered_by      bigint DEFAULT NULL,
    parent_id          bigint DEFAULT NULL
) RETURNS ticket
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'ticketdesk_open_ticket';

-- The reference guard (src/reference_guard.c), new in 0.7: openings whose type, centre
-- and category opening_references vouches for hold it in share mode instead
-- of locking those rows; deleting such a row, or changing its key, takes it
-- in exclusive mode first, so the two wait for each other.
CREATE FUNCTION reference_guard() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'ticketdesk_reference_guard';
COMMENT ON FUNCTION reference_guard() IS
    'Internal: BEFORE DELETE OR UPDATE OF the key of ticket_type, center and category: waits for the openings in progress.';
REVOKE EXECUTE ON FUNCTION reference_guard() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION reference_guard()
    TO ticketdesk_admin, ticketdesk_dispatcher, ticketdesk_agent, ticketdesk_requester;
CREATE TRIGGER reference_guard BEFORE DELETE OR UPDATE OF tenant_id, type_id ON ticket_type
    FOR EACH STATEMENT EXECUTE FUNCTION reference_guard();
CREATE TRIGGER reference_guard BEFORE DELETE OR UPDATE OF tenant_id, center_id ON center
    FOR EACH STATEMENT EXECUTE FUNCTION reference_guard();
CREATE TRIGGER reference_guard BEFORE DELETE OR UPDATE OF tenant_id, category_id ON category
    FOR EACH STATEMENT EXECUTE FUNCTION reference_guard();

-- The notification domains' rules in C (src/notify_values.c) instead of
-- regular expressions: the same rules, a tenth of the cost.
CREATE FUNCTION notify_event_valid(text) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'ticketdesk_notify_event_valid';
COMMENT ON FUNCTION notify_event_valid(text) IS
    'The check of domain notify_event: 1 to 40 characters, each a to z or "_" (as ''^[a-z_]{1,40}$'').';
CREATE FUNCTION language_code_valid(text) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'ticketdesk_language_code_valid';
COMMENT ON FUNCTION language_code_valid(text) IS
    'The check of domain language_code: two characters a to z (as ''^[a-z]{2}$'').';
CREATE FUNCTION not_blank(text) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'ticketdesk_not_blank';
COMMENT ON FUNCTION not_blank(text) IS
    'The check of domain notify_recipient: a character that is not a space (as ''\S'').';
REVOKE EXECUTE ON FUNCTION notify_event_valid(text), language_code_valid(text), not_blank(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION notify_event_valid(text), language_code_valid(text), not_blank(text)
    TO ticketdesk_admin, ticketdesk_dispatcher, ticketdesk_agent, ticketdesk_requester;
ALTER DOMAIN notify_event DROP CONSTRAINT notify_event_check;
ALTER DOMAIN notify_event ADD CONSTRAINT notify_event_check CHECK (notify_event_valid(VALUE));
ALTER DOMAIN notify_recipient DROP CONSTRAINT notify_recipient_check;
ALTER DOMAIN notify_recipient ADD CONSTRAINT notify_recipient_check CHECK (not_blank(VALUE));
ALTER DOMAIN language_code DROP CONSTRAINT language_code_check;
ALTER DOMAIN language_code ADD CONSTRAINT language_code_check CHECK (language_code_valid(VALUE));

-- The outbox's index of the ticket goes into outbox_event_once, which now
-- leads with the ticket: one index entry less per message; the two
-- ON CONFLICT clauses name the new key.
DROP INDEX outbox_ticket_idx;
DROP INDEX outbox_event_once;
ALTER TABLE outbox ADD CONSTRAINT outbox_event_once UNIQUE (tenant_id, ticket_id, event_id, event, channel, recipient);
CREATE OR REPLACE FUNCTION notify_queue(tenant integer, ticket_id bigint, event_kind text,
                             agent_id bigint, contact_id bigint, customer_id bigint,
                             channels text[] DEFAULT NULL, note text DEFAULT NULL,
                             vars jsonb DEFAULT '{}', source_event bigint DEFAULT NULL,
                             sender text DEFAULT NULL)
    RETURNS SETOF outbox
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    queued ticketdesk.outbox;
BEGIN
    FOR queued IN
        INSERT INTO ticketdesk.outbox AS o
            (tenant_id, ticket_id, event_id, event, channel, recipient, recipient_name, agent_id,
             contact_id, language, sender_name, thread, note, vars)
        SELECT tenant, k.ticket_id, source_event, event_kind, m.channel, m.address, m.name,
               notify_queue.agent_id, notify_queue.contact_id, m.language, sender, k.reference, note,
               nullif(vars, '{}'::jsonb)
          FROM ticketdesk.ticket k
         CROSS JOIN LATERAL ticketdesk.notify_addresses(tenant, event_kind, k.priority, notify_queue.agent_id,
                                                        notify_queue.contact_id, notify_queue.customer_id,
                                                        channels) m
         WHERE k.tenant_id = tenant AND k.ticket_id = notify_queue.ticket_id
        ON CONFLICT ON CONSTRAINT outbox_event_once DO NOTHING
        RETURNING o.*
    LOOP
        RETURN NEXT queued;
    END LOOP;
    PERFORM ticketdesk.notify_wake();
END $$;
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
    SELECT NEW.tenant_id, k.ticket_id, NEW.event_id, x.event, m.channel, m.address, m.name,
           x.agent_id, x.contact_id, m.language, actor, k.reference, NEW.note, NULL
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
      CROSS JOIN LATERAL ticketdesk.notify_addresses(NEW.tenant_id, x.event, k.priority,
                                                     x.agent_id, x.contact_id, x.customer_id) m
     WHERE k.tenant_id = NEW.tenant_id AND k.ticket_id = NEW.ticket_id
     ORDER BY x.event, x.agent_id, x.contact_id, x.customer_id, m.rank
    ON CONFLICT ON CONSTRAINT outbox_event_once DO NOTHING;
    IF FOUND THEN
        PERFORM ticketdesk.notify_wake();
    END IF;
    RETURN NULL;
END $$;

ALTER FUNCTION notify_ticket_event() SECURITY DEFINER SET search_path = pg_catalog, ticketdesk, pg_temp;
ALTER FUNCTION notify_queue(integer, bigint, text, bigint, bigint, bigint, text[], text, jsonb, bigint, text)
    SECURITY DEFINER SET search_path = pg_catalog, ticketdesk, pg_temp;

-- (the lead's sections end here; helpers' sections follow)

-- notify7 (session 7): the worker's claim returns the placeholders' values and
-- the worker renders in C (src/render.c).
CREATE FUNCTION outbox_claim_values(batch_size integer, lease interval, channels text[])
    RETURNS TABLE (tenant_id integer, outbox_id bigint, event text, channel text, recipient text,
                   recipient_name text, agent_id bigint, language text, sender_name text, thread text,
                   note text, vars jsonb, subject text, body_text text, body_html text, payload jsonb,
                   message_key uuid, found boolean, reference text, ticket_subject text,
                   description text, priority text, status text, center text, assignee text,
                   requester text, link text, deadline text, resolution text)
    LANGUAGE plpgsql
    SET enable_hashjoin = off SET enable_mergejoin = off
    SET enable_sort = off SET enable_bitmapscan = off SET jit = off SET enable_seqscan = off
    AS $$
BEGIN
    RETURN QUERY
    WITH due AS (
        SELECT o.tenant_id, o.outbox_id FROM ticketdesk.outbox o
         WHERE o.next_attempt_at <= now() AND o.status IN ('queued', 'sending')
           AND (o.leased_until IS NULL OR o.leased_until <= now())
           AND o.channel = ANY (outbox_claim_values.channels)
         ORDER BY o.next_attempt_at
         LIMIT outbox_claim_values.batch_size
           FOR UPDATE SKIP LOCKED),
    claimed AS (
        UPDATE ticketdesk.outbox o
           SET status = 'sending', attempts = o.attempts + 1, leased_until = now() + outbox_claim_values.lease
          FROM due
         WHERE o.tenant_id = due.tenant_id AND o.outbox_id = due.outbox_id
        RETURNING o.*)
    SELECT c.tenant_id, c.outbox_id, c.event::text, c.channel::text, c.recipient::text, c.recipient_name,
           c.agent_id, c.language::text, c.sender_name, c.thread, c.note, c.vars, c.subject, c.body_text,
           c.body_html, c.payload, c.message_key, w.found, w.reference, w.subject, w.description,
           w.priority, w.status, w.center, w.assignee, w.requester, w.link, w.deadline, w.resolution
      FROM claimed c
      -- The placeholders' values, as outbox_message takes them; only for a
      -- row not rendered yet.
      LEFT JOIN LATERAL (
            SELECT true AS found, k.reference, k.subject, k.description,
                   ticketdesk.priority_label(k.priority, c.language) AS priority, k.status::text AS status,
                   ce.name AS center, a.name AS assignee, coalesce(rc.name, ra.name, ru.name) AS requester,
                   rtrim(coalesce(current_setting('ticketdesk.base_url', true), ''), '/')
                       || '/ticket/' || k.reference AS link,
                   to_char(k.deadline, 'YYYY-MM-DD HH24:MI') AS deadline, k.resolution
              FROM ticketdesk.ticket k
              LEFT JOIN ticketdesk.center ce ON ce.tenant_id = k.tenant_id AND ce.center_id = k.center_id
              LEFT JOIN ticketdesk.agent a ON a.tenant_id = k.tenant_id AND a.agent_id = k.assignee_id
              LEFT JOIN ticketdesk.contact rc ON rc.tenant_id = k.tenant_id AND rc.contact_id = k.contact_id
              LEFT JOIN ticketdesk.agent ra ON ra.tenant_id = k.tenant_id AND ra.agent_id = k.requester_agent_id
              LEFT JOIN ticketdesk.customer ru ON ru.tenant_id = k.tenant_id AND ru.customer_id = k.customer_id
             WHERE c.body_text IS NULL AND k.tenant_id = c.tenant_id AND k.ticket_id = c.ticket_id
             OFFSET 0) w ON true
     ORDER BY c.next_attempt_at;
END $$;
COMMENT ON FUNCTION outbox_claim_values(integer, interval, text[]) IS
    'Internal (the worker): claims up to batch_size due messages of the channels under a lease, with the values their templates are filled from.';
REVOKE EXECUTE ON FUNCTION outbox_claim_values(integer, interval, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox_claim_values(integer, interval, text[])
    TO ticketdesk_admin, ticketdesk_dispatcher, ticketdesk_agent, ticketdesk_requester;
