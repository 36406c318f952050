-- ticketdesk 0.4 -> 0.5. Each section names the change it brings; the
-- result must equal a fresh install of 0.5 (test/t/004_upgrade.pl compares
-- the two, object by object).
\echo Use "ALTER EXTENSION ticketdesk UPDATE TO '0.5'" to load this file. \quit

-- Opening a ticket (session 5): the references every opening names (tenant,
-- centre, type, category) are checked from a per-backend cache
-- (opening_references, src/opening_refs.c) and open_ticket runs its look-up
-- query only when the cache cannot vouch for them; the tenant and category
-- tables empty the cache on change like the others (holders_changed).
-- The ticket type's id when the tenant, the centre, the type and the category
-- (if given) of an opening all pass open_ticket's checks for the caller; NULL
-- when it cannot vouch for that, and open_ticket then runs its look-up query,
-- which names what is wrong. Answered from a per-backend cache that any change
-- of these four tables empties (src/opening_refs.c).
CREATE FUNCTION opening_references(tenant integer, center_id bigint, type text, category_id bigint)
    RETURNS bigint
    LANGUAGE c STABLE
    AS 'MODULE_PATHNAME', 'ticketdesk_opening_references';
COMMENT ON FUNCTION opening_references(integer, bigint, text, bigint) IS
    'Internal: the ticket type''s id when an opening''s tenant, centre, type and category pass open_ticket''s checks, else NULL (cached per backend).';

-- Opens a ticket. Web forms, phone calls taken by a dispatcher, ERPs and the
-- scheduler all call this; it checks every reference, then inserts, and the
-- lifecycle trigger does the rest.
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
          LEFT JOIN ticketdesk.contact n ON n.tenant_id = t AND n.contact_id = open_ticket.contact_id;
    ELSE
        -- The references every request names (centre, type, usually a contact and
        -- a category) are looked up in one query; the others only when given, so
        -- an absent one costs no look-up. Only a failed check costs more.
        SELECT EXISTS (SELECT 1 FROM ticketdesk.tenant x WHERE x.tenant_id = t) AS tenant,
               EXISTS (SELECT 1 FROM ticketdesk.center x
                        WHERE x.tenant_id = t AND x.center_id = open_ticket.center_id AND x.active) AS center,
               (SELECT x.type_id FROM ticketdesk.ticket_type x
                 WHERE x.tenant_id = t AND x.code = open_ticket.type) AS type_id,
               n.contact_id AS contact, n.customer_id AS contact_customer,
               g.category_id AS category,
               -- The category is the centre's own or of a centre above it (category_fits).
               g.category_id IS NULL OR EXISTS (
                   WITH RECURSIVE up(id, parent) AS (
                       SELECT c.center_id, c.parent_id FROM ticketdesk.center c
                        WHERE c.tenant_id = t AND c.center_id = open_ticket.center_id
                       UNION
                       SELECT c.center_id, c.parent_id FROM ticketdesk.center c
                         JOIN up ON c.tenant_id = t AND c.center_id = up.parent
                   )
                   SELECT 1 FROM up WHERE up.id = g.center_id) AS category_fits
          INTO found
          FROM (SELECT) AS one
          LEFT JOIN ticketdesk.contact n ON n.tenant_id = t AND n.contact_id = open_ticket.contact_id
          LEFT JOIN ticketdesk.category g
                 ON g.tenant_id = t AND g.category_id = open_ticket.category_id AND g.active;
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
                        WHERE x.tenant_id = t AND x.customer_id = open_ticket.customer_id) THEN
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
               AND x.agent_id IN (open_ticket.requester_agent_id, open_ticket.assignee_id,
                                  open_ticket.registered_by))
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
          FROM ticketdesk.site x WHERE x.tenant_id = t AND x.site_id = open_ticket.site_id;
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
                        WHERE x.tenant_id = t AND x.product_id = open_ticket.product_id AND x.active) THEN
            PERFORM ticketdesk.raise_not_found('product', product_id);
        END IF;
    END IF;
    IF parent_id IS NOT NULL THEN
        IF NOT EXISTS (SELECT 1 FROM ticketdesk.ticket x
                        WHERE x.tenant_id = t AND x.ticket_id = open_ticket.parent_id) THEN
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

    INSERT INTO ticketdesk.ticket AS k
        (tenant_id, type_id, center_id, category_id, customer_id, contact_id,
         requester_agent_id, registered_by, channel, subject, description,
         requester_weight, deadline, planned, site_id, product_id, object_text,
         invoice_ref, assignee_id, parent_id)
    VALUES
        (t, found.type_id, center_id, category_id, customer_id, contact_id,
         requester_agent_id, coalesce(registered_by, ticketdesk.current_agent()), channel, subject, description,
         requester_weight, deadline,
         CASE WHEN planned_from IS NOT NULL THEN tstzrange(planned_from, planned_to, '[]') END,
         site_id, product_id, object_text, invoice_ref, assignee_id, parent_id)
    RETURNING * INTO result;
    RETURN result;
END $$;
REVOKE EXECUTE ON FUNCTION opening_references(integer, bigint, text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION opening_references(integer, bigint, text, bigint)
    TO ticketdesk_admin, ticketdesk_dispatcher, ticketdesk_agent, ticketdesk_requester;
CREATE TRIGGER holders_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON tenant
    FOR EACH STATEMENT EXECUTE FUNCTION holders_changed();
CREATE TRIGGER holders_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON category
    FOR EACH STATEMENT EXECUTE FUNCTION holders_changed();
-- Session 5 (notify5): the worker's result names the key columns of the
-- outbox's indexes in its SET list, so that a new entry never starts a
-- bottom-up deletion pass (schema/88_api_notify.sql, outbox_record).
CREATE OR REPLACE FUNCTION outbox_record(tenant_ids integer[], outbox_ids bigint[], errors text[],
                              permanent boolean[], max_attempts integer DEFAULT 8,
                              backoff_base interval DEFAULT '30 s', backoff_cap interval DEFAULT '1 hour',
                              languages text[] DEFAULT NULL, senders text[] DEFAULT NULL,
                              subjects text[] DEFAULT NULL, texts text[] DEFAULT NULL,
                              htmls text[] DEFAULT NULL, payloads jsonb[] DEFAULT NULL)
    RETURNS integer
    LANGUAGE plpgsql
    SET enable_hashjoin = off SET enable_mergejoin = off SET enable_seqscan = off SET jit = off
    AS $$
DECLARE
    recorded integer;
BEGIN
    WITH r AS (
        SELECT * FROM unnest(tenant_ids, outbox_ids, errors, permanent, languages, senders, subjects, texts,
                             htmls, payloads)
               AS r(tenant_id, outbox_id, error, permanent, language, sender, subject, body_text, body_html, payload)
    )
    UPDATE ticketdesk.outbox o
           SET outbox_id = o.outbox_id, message_key = o.message_key, ticket_id = o.ticket_id,
               event_id = o.event_id,
               status = CASE WHEN r.error IS NULL THEN 'sent'
                             WHEN r.permanent OR o.attempts >= outbox_record.max_attempts THEN 'dead'
                             ELSE 'queued' END::ticketdesk.outbox_status,
               sent_at = CASE WHEN r.error IS NULL THEN clock_timestamp() END,
               leased_until = NULL,
               last_error = coalesce(r.error, o.last_error),
               next_attempt_at = CASE WHEN r.error IS NULL OR r.permanent OR o.attempts >= outbox_record.max_attempts
                                      THEN NULL
                                      ELSE clock_timestamp()
                                           + least(outbox_record.backoff_cap,
                                                   outbox_record.backoff_base * power(2, least(o.attempts - 1, 40)))
                                             * (0.5 + random() / 2) END,
               language = CASE WHEN o.body_text IS NULL AND r.body_text IS NOT NULL THEN r.language ELSE o.language END,
               sender_name = CASE WHEN o.body_text IS NULL AND r.body_text IS NOT NULL THEN r.sender ELSE o.sender_name END,
               subject = CASE WHEN o.body_text IS NULL AND r.body_text IS NOT NULL THEN r.subject ELSE o.subject END,
               body_html = CASE WHEN o.body_text IS NULL AND r.body_text IS NOT NULL THEN r.body_html ELSE o.body_html END,
               payload = CASE WHEN o.body_text IS NULL AND r.body_text IS NOT NULL THEN r.payload ELSE o.payload END,
               body_text = coalesce(o.body_text, r.body_text)
          FROM r
     WHERE o.tenant_id = r.tenant_id AND o.outbox_id = r.outbox_id AND o.status = 'sending';
    GET DIAGNOSTICS recorded = ROW_COUNT;
    RETURN recorded;
END $$;

-- Session 5 (notify5): priority_label is STABLE (an enum's text is), so the
-- planner inlines it into outbox_message instead of calling it per message.
ALTER FUNCTION priority_label(ticket_priority, text) STABLE;

-- Session 5 (notify5): outbox_message finds the template by four key look-ups
-- in order of preference instead of reading the four combinations and
-- sorting them for every message (same columns: replaced in place, grants kept).
CREATE OR REPLACE VIEW outbox_message WITH (security_invoker = true) AS
SELECT o.tenant_id, o.outbox_id, o.ticket_id, o.event_id, o.event, o.channel, o.recipient, o.recipient_name,
       o.agent_id, o.contact_id,
       CASE WHEN o.body_text IS NULL THEN coalesce(t.language, o.language) ELSE o.language END AS language,
       CASE WHEN o.body_text IS NULL THEN v.vars ->> 'sender' ELSE o.sender_name END AS sender_name,
       o.thread, o.note, o.vars,
       CASE WHEN o.body_text IS NOT NULL THEN o.subject
            WHEN o.channel = 'email' THEN coalesce('[' || o.thread || '] ', '') || ticketdesk.render_text(t.subject, v.vars)
       END AS subject,
       coalesce(o.body_text, x.body_text) AS body_text,
       CASE WHEN o.body_text IS NOT NULL THEN o.body_html
            WHEN o.channel = 'email' AND t.body_html IS NOT NULL THEN ticketdesk.render_markup(t.body_html, v.vars)
            WHEN o.channel = 'email' THEN ticketdesk.render_html(t.body_text, v.vars, t.language)
       END AS body_html,
       CASE WHEN o.body_text IS NOT NULL THEN o.payload
            WHEN o.channel <> 'email' AND x.body_text IS NOT NULL
            THEN jsonb_object('{to, text, reference, event, idempotency_key}'::text[],
                              ARRAY[o.recipient, x.body_text, o.thread, o.event, o.message_key::text])
       END AS payload,
       o.message_key, o.status, o.attempts, o.next_attempt_at, o.leased_until, o.last_error, o.created_at,
       o.sent_at
  FROM ticketdesk.outbox o
  -- The placeholders' values; only for a row not rendered yet. The sender
  -- is the row's own, else the assignee for a mail to someone other than
  -- an agent, else the centre. One jsonb_object of text arrays: the
  -- worker renders every message through here, and jsonb_build_object
  -- (which sorts out each argument's type at every call) took 2.5 times as
  -- long. Values given when queued (vars) override, and the sender is then
  -- chosen from the merged values.
  LEFT JOIN LATERAL (
        SELECT CASE WHEN o.vars IS NULL THEN w.vars
                    ELSE (SELECT m.vars || jsonb_build_object('sender', coalesce(o.sender_name,
                                                                                 CASE WHEN o.agent_id IS NULL THEN m.vars ->> 'assignee' END,
                                                                                 m.vars ->> 'center'))
                            FROM (SELECT w.vars || o.vars AS vars) m)
               END AS vars
          FROM (SELECT jsonb_object(
                    '{reference, subject, description, priority, status, center, assignee, requester, recipient,
                      link, deadline, resolution, note, sender}'::text[],
                    ARRAY[k.reference,
                          k.subject,
                          k.description,
                          ticketdesk.priority_label(k.priority, o.language),
                          k.status::text,
                          c.name,
                          a.name,
                          coalesce(rc.name, ra.name, ru.name),
                          o.recipient_name,
                          rtrim(coalesce(current_setting('ticketdesk.base_url', true), ''), '/')
                              || '/ticket/' || k.reference,
                          to_char(k.deadline, 'YYYY-MM-DD HH24:MI'),
                          k.resolution,
                          o.note,
                          coalesce(o.sender_name, CASE WHEN o.agent_id IS NULL THEN a.name END, c.name)]) AS vars
                  FROM ticketdesk.ticket k
                  LEFT JOIN ticketdesk.center c ON c.tenant_id = k.tenant_id AND c.center_id = k.center_id
                  LEFT JOIN ticketdesk.agent a ON a.tenant_id = k.tenant_id AND a.agent_id = k.assignee_id
                  LEFT JOIN ticketdesk.contact rc ON rc.tenant_id = k.tenant_id AND rc.contact_id = k.contact_id
                  LEFT JOIN ticketdesk.agent ra ON ra.tenant_id = k.tenant_id AND ra.agent_id = k.requester_agent_id
                  LEFT JOIN ticketdesk.customer ru ON ru.tenant_id = k.tenant_id AND ru.customer_id = k.customer_id
                 WHERE o.body_text IS NULL AND k.tenant_id = o.tenant_id AND k.ticket_id = o.ticket_id) w
       ) v ON true
  -- The template: the channel's own, else the mail's; the recipient's
  -- language, else English; a tenant's own row over a built-in one. Four
  -- look-ups in that order, each a key look-up of (tenant, event, channel,
  -- language) that reads the tenant's row first (seeded false); the first
  -- that finds one ends the search, usually the first (the outer LIMIT
  -- takes the first row of the UNION ALL, whose parts PostgreSQL runs in
  -- the order written). One look-up of the four combinations at once read
  -- all of them and sorted them, for every message rendered.
  LEFT JOIN LATERAL (
        (SELECT t.language, t.channel, t.subject, t.body_text, t.body_html
           FROM ticketdesk.notify_template t
          WHERE o.body_text IS NULL AND t.tenant_id = o.tenant_id AND t.event = o.event
            AND t.channel = o.channel AND t.language = o.language
          ORDER BY t.seeded LIMIT 1)
        UNION ALL
        (SELECT t.language, t.channel, t.subject, t.body_text, t.body_html
           FROM ticketdesk.notify_template t
          WHERE o.body_text IS NULL AND t.tenant_id = o.tenant_id AND t.event = o.event
            AND t.channel = o.channel AND t.language = 'en'
          ORDER BY t.seeded LIMIT 1)
        UNION ALL
        (SELECT t.language, t.channel, t.subject, t.body_text, t.body_html
           FROM ticketdesk.notify_template t
          WHERE o.body_text IS NULL AND t.tenant_id = o.tenant_id AND t.event = o.event
            AND t.channel = 'email' AND t.language = o.language
          ORDER BY t.seeded LIMIT 1)
        UNION ALL
        (SELECT t.language, t.channel, t.subject, t.body_text, t.body_html
           FROM ticketdesk.notify_template t
          WHERE o.body_text IS NULL AND t.tenant_id = o.tenant_id AND t.event = o.event
            AND t.channel = 'email' AND t.language = 'en'
          ORDER BY t.seeded LIMIT 1)
        LIMIT 1) t ON true
  LEFT JOIN LATERAL (
        SELECT CASE WHEN o.channel = 'email' OR t.channel = o.channel THEN ticketdesk.render_text(t.body_text, v.vars)
                    ELSE o.thread || ': ' || ticketdesk.render_text(t.subject, v.vars) || ' ' || (v.vars ->> 'link')
               END AS body_text
         WHERE o.body_text IS NULL) x ON true;
