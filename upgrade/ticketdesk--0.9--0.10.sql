-- ticketdesk 0.9 -> 0.10. Each section names the change it brings; the
-- result must equal a fresh install of 0.10 (test/t/004_upgrade.pl compares
-- the two, object by object).
\echo Use "ALTER EXTENSION ticketdesk UPDATE TO '0.10'" to load this file. \quit

-- The requester's message of every opening keeps the tenant's channel
-- policies per backend (src/notify_requester.c); a change of notify_policy
-- tells every backend to read them again, as the routing caches are told.
CREATE TRIGGER holders_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON notify_policy
    FOR EACH STATEMENT EXECUTE FUNCTION holders_changed();

-- A ticket's reference has no index of its own: it is unique because its
-- number is, and every opening wrote the index (about 2% of an opening). A
-- ticket is found by its reference through the primary key: ticket_number_of
-- is the inverse of ticket_reference_of, and the two look-ups by reference
-- (the subject tag of an incoming mail, ticket_by_reference) use it.
CREATE FUNCTION ticket_number_of(text) RETURNS bigint
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'ticketdesk_ticket_number_of';
COMMENT ON FUNCTION ticket_number_of(text) IS
    'The ticket number whose reference the text is, exactly as ticket_reference_of writes it (TD-000123: 123); NULL for any other text.';
REVOKE EXECUTE ON FUNCTION ticket_number_of(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ticket_number_of(text)
    TO ticketdesk_admin, ticketdesk_agent, ticketdesk_dispatcher, ticketdesk_requester;
ALTER TABLE ticket DROP CONSTRAINT ticket_tenant_id_reference_key;
CREATE OR REPLACE FUNCTION ticket_by_reference(reference text) RETURNS ticket
    LANGUAGE plpgsql STABLE AS $$
DECLARE
    result ticketdesk.ticket;
BEGIN
    SELECT * INTO result FROM ticketdesk.ticket k
     WHERE k.tenant_id = ticketdesk.current_tenant()
       AND k.ticket_id = ticketdesk.ticket_number_of(upper(btrim(ticket_by_reference.reference)));
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ticket % does not exist', reference
            USING ERRCODE = 'TD201', HINT = 'A reference looks like TD-000123.';
    END IF;
    RETURN result;
END $$;
CREATE OR REPLACE FUNCTION mail_act(intake mail_intake, p mail_parsed, center_id bigint) RETURNS mail_intake
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    t            integer := intake.tenant_id;
    cfg          ticketdesk.mail_config := ticketdesk.mail_settings();
    sender       text := p.from_addr;
    recent       bigint;
    sender_agent ticketdesk.agent;
    sender_lang  text;
    tk           ticketdesk.ticket;
    tag          text;
    role         text;
    link_to      ticketdesk.ticket;
    kw           text;
    route        bigint;
    new_ticket   ticketdesk.ticket;
    reply        text := coalesce(nullif(btrim(p.reply_text, E' \t\n'), ''),
                                  nullif(btrim(p.body, E' \t\n'), ''), '(no text)');
    caller_agent text := coalesce(current_setting('ticketdesk.agent', true), '');
BEGIN
    IF sender IS NULL THEN
        intake.reason := 'the mail has no sender address (From)';
        RETURN intake;
    END IF;
    IF cardinality(p.refs) > 0 THEN
        intake.ticket_id := ticketdesk.mail_thread(p.refs);
    END IF;

    -- Loop and bounce protection: machine-made mail, our own mail and storms
    -- are stored, never acted on.
    IF p.auto_reason IS NOT NULL THEN
        intake.reason := 'machine-made mail: ' || p.auto_reason;
    ELSIF cardinality(p.x_loop) > 0 AND EXISTS (
            SELECT 1 FROM unnest(p.x_loop) x
             WHERE lower(x) = lower(cfg.loop_token)
                OR lower(x) IN (SELECT lower(a) FROM unnest(cfg.own_addresses) a)
                OR EXISTS (SELECT 1 FROM ticketdesk.center c WHERE c.tenant_id = t AND lower(c.email) = lower(x))) THEN
        intake.reason := 'our own mail: it carries our X-Loop header';
    ELSIF EXISTS (SELECT 1 FROM ticketdesk.center c WHERE c.tenant_id = t AND lower(c.email) = sender)
          OR sender IN (SELECT lower(a) FROM unnest(cfg.own_addresses) a) THEN
        intake.reason := format('our own mail: sent from %s', sender);
    ELSE
        -- Counting stops at the limit: a storm costs no more than a trickle.
        SELECT count(*) INTO recent FROM (
            SELECT 1 FROM ticketdesk.mail_intake i
             WHERE i.tenant_id = t AND i.sender = sender AND i.received_at > now() - cfg.rate_window
             LIMIT cfg.rate_limit) x;
        IF recent >= cfg.rate_limit THEN
            intake.reason := format('rate limit: more than %s mails from %s within %s minutes',
                                    cfg.rate_limit, sender, round(extract(epoch FROM cfg.rate_window) / 60));
        END IF;
    END IF;
    IF intake.reason IS NOT NULL THEN
        intake.outcome := 'stored';
        RETURN intake;
    END IF;

    -- Who wrote it.
    SELECT * INTO sender_agent FROM ticketdesk.agent a
     WHERE a.tenant_id = t AND lower(a.email) = sender AND a.active ORDER BY a.agent_id LIMIT 1;
    intake.agent_id := sender_agent.agent_id;
    SELECT c.contact_id, c.language INTO intake.contact_id, sender_lang FROM ticketdesk.contact c
     WHERE c.tenant_id = t AND lower(c.email) = sender ORDER BY c.contact_id LIMIT 1;
    sender_lang := coalesce(sender_agent.language, sender_lang, 'en');
    -- The history names the sender as the actor of what the mail does.
    PERFORM set_config('ticketdesk.agent', coalesce(sender_agent.agent_id, 0)::text, true);

    -- Threading, 1: In-Reply-To / References. 2: the subject tag, from a participant only.
    IF intake.ticket_id IS NOT NULL THEN
        SELECT * INTO tk FROM ticketdesk.ticket k WHERE k.tenant_id = t AND k.ticket_id = intake.ticket_id;
    ELSE
        tag := upper(substring(p.subject FROM '(?i)\m(TD-[0-9]{6,})\M'));
        IF tag IS NOT NULL THEN
            SELECT * INTO tk FROM ticketdesk.ticket k
             WHERE k.tenant_id = t AND k.ticket_id = ticketdesk.ticket_number_of(tag);
            IF tk.ticket_id IS NOT NULL AND ticketdesk.mail_participant(tk, sender) IS NULL THEN
                link_to := tk;
                tk := NULL;
                intake.flagged := true;
                intake.action := 'linked';
                intake.reason := format('the subject names %s, but %s takes no part in it', tag, sender);
            END IF;
        END IF;
    END IF;

    -- A finished ticket takes no more replies: after the reopen window, or
    -- when cancelled or without a holder to reopen it to, a new ticket follows it.
    IF tk.ticket_id IS NOT NULL AND
       (tk.status = 'cancelled' OR
        (tk.status = 'closed' AND (tk.closed_at + cfg.reopen_window < now() OR tk.assignee_id IS NULL))) THEN
        link_to := tk;
        tk := NULL;
        intake.action := 'linked';
        intake.reason := CASE WHEN link_to.status = 'closed' AND link_to.assignee_id IS NOT NULL
                              THEN format('%s is closed and its reopen window has passed', link_to.reference)
                              ELSE format('%s is %s', link_to.reference, link_to.status) END;
    END IF;

    IF tk.ticket_id IS NOT NULL THEN
        -- A reply: a remark with its files, then what its first line says.
        role := ticketdesk.mail_participant(tk, sender);
        IF sender_agent.agent_id IS NULL AND intake.contact_id IS NULL THEN
            INSERT INTO ticketdesk.contact (tenant_id, name, email)
            VALUES (t, coalesce(nullif(p.from_name, ''), split_part(sender, '@', 1)), sender)
            RETURNING contact_id INTO intake.contact_id;
        END IF;
        INSERT INTO ticketdesk.message (tenant_id, ticket_id, author_agent_id, author_contact_id, body,
                                        email_message_id)
        VALUES (t, tk.ticket_id, sender_agent.agent_id,
                CASE WHEN sender_agent.agent_id IS NULL THEN intake.contact_id END, reply, p.message_id)
        RETURNING message_id INTO intake.message_id;
        PERFORM ticketdesk.mail_store_parts(tk.ticket_id, intake.message_id, p.parts);
        kw := ticketdesk.mail_keyword_of(p.reply_text, sender_lang);

        IF tk.status = 'assigned' AND sender_agent.agent_id = tk.assignee_id AND kw IS NOT NULL THEN
            IF kw = 'confirm' THEN
                PERFORM ticketdesk.acknowledge(tk.ticket_id, 'Confirmed by e-mail reply');
                intake.action := 'acknowledged';
            ELSE
                PERFORM ticketdesk.reject(tk.ticket_id, left('Rejected by e-mail reply: ' || reply, 500));
                intake.action := 'rejected';
            END IF;
        ELSIF tk.status = 'resolved' AND role = 'requester' THEN
            IF kw = 'confirm' THEN
                PERFORM ticketdesk.confirm(tk.ticket_id, 'Confirmed by e-mail reply');
                intake.action := 'confirmed';
            ELSE
                PERFORM ticketdesk.reopen(tk.ticket_id, left('Reopened by e-mail reply: ' || reply, 500));
                intake.action := 'reopened';
            END IF;
        ELSIF tk.status = 'waiting' AND role = 'requester' THEN
            PERFORM ticketdesk.resume(tk.ticket_id, 'The requester answered by e-mail');
            intake.action := 'resumed';
        ELSIF tk.status = 'closed' THEN
            PERFORM ticketdesk.reopen(tk.ticket_id, left('Reopened by e-mail reply: ' || reply, 500));
            intake.action := 'reopened';
        END IF;
        intake.ticket_id := tk.ticket_id;
        intake.center_id := tk.center_id;
        intake.outcome := 'replied';
        PERFORM set_config('ticketdesk.agent', caller_agent, true);
        RETURN intake;
    END IF;

    -- A new request: to the centre whose mailbox it was sent to.
    SELECT c.center_id INTO route
      FROM unnest(p.recipients) WITH ORDINALITY AS r(address, n)
      JOIN ticketdesk.center c ON c.tenant_id = t AND lower(c.email) = r.address AND c.active
     ORDER BY r.n, c.center_id
     LIMIT 1;
    route := coalesce(route, center_id, link_to.center_id);
    IF route IS NULL THEN
        intake.reason := format('no centre has any of the addresses %s, and no centre was given',
                                coalesce(array_to_string(p.recipients, ', '), 'none'));
        intake.outcome := 'failed';
        PERFORM set_config('ticketdesk.agent', caller_agent, true);
        RETURN intake;
    END IF;
    IF sender_agent.agent_id IS NULL AND intake.contact_id IS NULL THEN
        INSERT INTO ticketdesk.contact (tenant_id, name, email)
        VALUES (t, coalesce(nullif(p.from_name, ''), split_part(sender, '@', 1)), sender)
        RETURNING contact_id INTO intake.contact_id;
    END IF;
    new_ticket := ticketdesk.open_ticket(
        subject => coalesce(nullif(btrim(p.subject), ''), '(no subject)'),
        center_id => route,
        description => nullif(btrim(p.body, E' \t\n'), ''),
        contact_id => CASE WHEN sender_agent.agent_id IS NULL THEN intake.contact_id END,
        requester_agent_id => sender_agent.agent_id,
        channel => 'email',
        parent_id => link_to.ticket_id);
    PERFORM ticketdesk.mail_store_parts(new_ticket.ticket_id, NULL, p.parts);
    IF intake.flagged THEN
        INSERT INTO ticketdesk.message (tenant_id, ticket_id, internal, body)
        VALUES (t, new_ticket.ticket_id, true,
                format('Check this ticket: its mail names %s in the subject, but the sender %s takes no part '
                       'in %s. It was opened as a new ticket under %s instead of being added to it.',
                       link_to.reference, sender, link_to.reference, link_to.reference));
    END IF;
    intake.ticket_id := new_ticket.ticket_id;
    intake.center_id := route;
    intake.outcome := 'opened';
    PERFORM set_config('ticketdesk.agent', caller_agent, true);
    RETURN intake;
END $$;

-- (the lead's sections end here; helpers' sections follow)
