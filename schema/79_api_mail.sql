-- Inbound e-mail: parsing (C, GMime), threading, confirm/reject by reply,
-- loop protection. ingest_mail is the one entry point; the IMAP poller and
-- the MTA pipe program both call it.

-- Reads one raw RFC 5322 message. Never raises an error for a bad mail: the
-- row's error says why it could not be read.
CREATE FUNCTION parse_mail(raw bytea) RETURNS mail_parsed
    LANGUAGE c STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'ticketdesk_parse_mail';
COMMENT ON FUNCTION parse_mail(bytea) IS
    'Parses a raw mail with GMime: decoded headers, UTF-8 text (derived from HTML when needed), files, machine-made signs.';

-- The built-in confirm/reject keywords in the five languages of the sources.
CREATE FUNCTION mail_default_keywords() RETURNS TABLE (language text, kind text, word text)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    VALUES ('en', 'confirm', 'confirm'), ('en', 'confirm', 'confirmed'), ('en', 'confirm', 'accept'),
           ('en', 'confirm', 'accepted'), ('en', 'confirm', 'yes'),
           ('en', 'reject', 'reject'), ('en', 'reject', 'rejected'), ('en', 'reject', 'decline'),
           ('en', 'reject', 'declined'), ('en', 'reject', 'no'),
           ('lt', 'confirm', 'patvirtinu'), ('lt', 'confirm', 'tvirtinu'), ('lt', 'confirm', 'sutinku'),
           ('lt', 'confirm', 'priimu'), ('lt', 'confirm', 'taip'),
           ('lt', 'reject', 'atmetu'), ('lt', 'reject', 'nesutinku'), ('lt', 'reject', 'negaliu'),
           ('lt', 'reject', 'ne'),
           ('pl', 'confirm', 'potwierdzam'), ('pl', 'confirm', 'akceptuję'), ('pl', 'confirm', 'przyjmuję'),
           ('pl', 'confirm', 'tak'),
           ('pl', 'reject', 'odrzucam'), ('pl', 'reject', 'odmawiam'), ('pl', 'reject', 'nie'),
           ('he', 'confirm', 'מאשר'), ('he', 'confirm', 'מאשרת'), ('he', 'confirm', 'מאושר'),
           ('he', 'confirm', 'כן'),
           ('he', 'reject', 'דוחה'), ('he', 'reject', 'מסרב'), ('he', 'reject', 'מסרבת'), ('he', 'reject', 'לא'),
           ('ro', 'confirm', 'confirm'), ('ro', 'confirm', 'confirmat'), ('ro', 'confirm', 'accept'),
           ('ro', 'confirm', 'da'),
           ('ro', 'reject', 'resping'), ('ro', 'reject', 'refuz'), ('ro', 'reject', 'nu')
$$;
COMMENT ON FUNCTION mail_default_keywords() IS
    'The built-in confirm/reject keywords in en, lt, pl, he and ro (R51); table mail_keyword overrides a language.';

-- The keywords in force for a language: the tenant's own, else the defaults.
CREATE FUNCTION mail_keywords(language text) RETURNS TABLE (kind text, word text)
    LANGUAGE sql STABLE AS $$
    SELECT k.kind, k.word FROM ticketdesk.mail_keyword k
     WHERE k.tenant_id = ticketdesk.current_tenant() AND k.language = $1
    UNION ALL
    SELECT d.kind, d.word FROM ticketdesk.mail_default_keywords() d
     WHERE d.language = $1
       AND NOT EXISTS (SELECT 1 FROM ticketdesk.mail_keyword k
                        WHERE k.tenant_id = ticketdesk.current_tenant() AND k.language = $1)
$$;
COMMENT ON FUNCTION mail_keywords(text) IS
    'The confirm/reject keywords in force for a language: the tenant''s rows in mail_keyword, else the defaults.';

-- 'confirm' or 'reject' when the first line of a reply is a keyword of the
-- language (or of English): the keyword alone, or followed by punctuation
-- and a reason ("Reject: on holiday", "Resping - în concediu"). "No problem"
-- is no keyword: a word must not go on after it. NULL otherwise.
CREATE FUNCTION mail_keyword_of(reply text, language text) RETURNS text
    LANGUAGE sql STABLE AS $$
    WITH first AS (
        SELECT lower(btrim(split_part(btrim(coalesce($1, ''), E' \t\n'), E'\n', 1), E' \t')) AS line
    )
    SELECT k.kind
      FROM first,
           (SELECT * FROM ticketdesk.mail_keywords(coalesce($2, 'en'))
            UNION ALL
            SELECT * FROM ticketdesk.mail_keywords('en')) k
     WHERE starts_with(first.line, k.word)
       AND left(ltrim(substr(first.line, length(k.word) + 1)), 1)
           = ANY (ARRAY['', ':', ',', ';', '.', '!', '-', '–', '—'])
     ORDER BY length(k.word) DESC
     LIMIT 1
$$;
COMMENT ON FUNCTION mail_keyword_of(text, text) IS
    'confirm or reject when the reply''s first line is a keyword of the language or of English (R51); else null.';

-- The tenant's mail settings; the table's defaults when it has no row.
CREATE FUNCTION mail_settings() RETURNS mail_config
    LANGUAGE plpgsql STABLE AS $$
DECLARE
    result ticketdesk.mail_config;
BEGIN
    SELECT * INTO result FROM ticketdesk.mail_config c WHERE c.tenant_id = ticketdesk.current_tenant();
    IF NOT FOUND THEN
        -- The same values as the column defaults of table mail_config.
        result := ROW(ticketdesk.current_tenant(), interval '14 days', 30, interval '1 hour',
                      'ticketdesk', '{}'::text[]);
    END IF;
    RETURN result;
END $$;
COMMENT ON FUNCTION mail_settings() IS 'The current tenant''s row of mail_config, or the defaults.';

-- The ticket a mail answers: the first of its In-Reply-To and References ids
-- that is the Message-ID of a mail we took in or of a remark.
CREATE FUNCTION mail_thread(refs text[]) RETURNS bigint
    LANGUAGE sql STABLE AS $$
    SELECT x.ticket_id
      FROM unnest($1) WITH ORDINALITY AS r(id, n)
     CROSS JOIN LATERAL (
        SELECT i.ticket_id FROM ticketdesk.mail_intake i
         WHERE i.tenant_id = ticketdesk.current_tenant() AND i.mail_id = r.id AND i.ticket_id IS NOT NULL
        UNION ALL
        SELECT m.ticket_id FROM ticketdesk.message m
         WHERE m.tenant_id = ticketdesk.current_tenant() AND m.email_message_id = r.id
     ) x
     ORDER BY r.n
     LIMIT 1
$$;
COMMENT ON FUNCTION mail_thread(text[]) IS
    'The ticket whose mail or remark has one of these Message-IDs (In-Reply-To first), or null.';

-- How an address takes part in a ticket: requester (its contact, customer or
-- requesting employee), assignee, watcher; NULL for a stranger.
CREATE FUNCTION mail_participant(tk ticket, address text) RETURNS text
    LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN EXISTS (SELECT 1 FROM ticketdesk.contact c
                      WHERE c.tenant_id = $1.tenant_id AND c.contact_id = $1.contact_id AND lower(c.email) = $2)
          OR EXISTS (SELECT 1 FROM ticketdesk.customer u
                      WHERE u.tenant_id = $1.tenant_id AND u.customer_id = $1.customer_id AND lower(u.email) = $2)
          OR EXISTS (SELECT 1 FROM ticketdesk.agent a
                      WHERE a.tenant_id = $1.tenant_id AND a.agent_id = $1.requester_agent_id AND lower(a.email) = $2)
            THEN 'requester'
        WHEN EXISTS (SELECT 1 FROM ticketdesk.agent a
                      WHERE a.tenant_id = $1.tenant_id AND a.agent_id = $1.assignee_id AND lower(a.email) = $2)
            THEN 'assignee'
        WHEN EXISTS (SELECT 1 FROM ticketdesk.watcher w
                       LEFT JOIN ticketdesk.agent a ON a.tenant_id = w.tenant_id AND a.agent_id = w.agent_id
                       LEFT JOIN ticketdesk.contact c ON c.tenant_id = w.tenant_id AND c.contact_id = w.contact_id
                      WHERE w.tenant_id = $1.tenant_id AND w.ticket_id = $1.ticket_id
                        AND $2 IN (lower(a.email), lower(c.email)))
            THEN 'watcher'
    END
$$;
COMMENT ON FUNCTION mail_participant(ticket, text) IS
    'requester, assignee or watcher when the address takes part in the ticket; null otherwise.';

-- Stores a mail's files on a ticket (and remark). Files over
-- ticketdesk.max_attachment_size are left in the raw mail, and an internal
-- remark says so. Returns how many were stored.
CREATE FUNCTION mail_store_parts(ticket_id bigint, message_id bigint, parts mail_part[]) RETURNS integer
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    limit_bytes bigint := ticketdesk.max_attachment_bytes();
    part        ticketdesk.mail_part;
    stored      integer := 0;
    skipped     text[] := '{}';
BEGIN
    FOREACH part IN ARRAY coalesce(parts, '{}') LOOP
        IF octet_length(part.data) > limit_bytes THEN
            skipped := skipped || format('%s (%s bytes)', part.filename, octet_length(part.data));
            CONTINUE;
        END IF;
        INSERT INTO ticketdesk.attachment (tenant_id, ticket_id, message_id, filename, content_type, data,
                                           size_bytes, sha256)
        VALUES (ticketdesk.current_tenant(), ticket_id, message_id, part.filename, part.content_type,
                part.data, 0, ''::bytea);
        stored := stored + 1;
    END LOOP;
    IF cardinality(skipped) > 0 THEN
        INSERT INTO ticketdesk.message (tenant_id, ticket_id, internal, body)
        VALUES (ticketdesk.current_tenant(), ticket_id, true,
                format('Not attached, larger than ticketdesk.max_attachment_size (%s bytes): %s. '
                       'The raw mail in table mail_intake still holds them.',
                       limit_bytes, array_to_string(skipped, ', ')));
    END IF;
    RETURN stored;
END $$;
COMMENT ON FUNCTION mail_store_parts(bigint, bigint, mail_part[]) IS
    'Internal: attaches a mail''s files to a ticket or remark, leaving out files over the size limit.';

-- Decides what a parsed mail does, and does it: only stored (machine-made,
-- our own, over the rate limit), a reply on its ticket (with confirm, reject,
-- reopen), or a new ticket. Returns the intake row to record; ingest_mail
-- calls it inside a subtransaction and records any error as a failed intake.
CREATE FUNCTION mail_act(intake mail_intake, p mail_parsed, center_id bigint) RETURNS mail_intake
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    t            integer := intake.tenant_id;
    cfg          ticketdesk.mail_config := ticketdesk.mail_settings();
    sender       text := p.from_addr;
    own          text[];
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
    intake.ticket_id := ticketdesk.mail_thread(p.refs);

    -- Loop and bounce protection: machine-made mail, our own mail and storms
    -- are stored, never acted on.
    own := ARRAY(SELECT lower(c.email) FROM ticketdesk.center c WHERE c.tenant_id = t AND c.email IS NOT NULL)
           || ARRAY(SELECT lower(a) FROM unnest(cfg.own_addresses) a);
    intake.reason := CASE
        WHEN p.auto_reason IS NOT NULL THEN 'machine-made mail: ' || p.auto_reason
        WHEN EXISTS (SELECT 1 FROM unnest(p.x_loop) x
                      WHERE lower(x) = lower(cfg.loop_token) OR lower(x) = ANY (own))
            THEN 'our own mail: it carries our X-Loop header'
        WHEN sender = ANY (own) THEN format('our own mail: sent from %s', sender)
    END;
    IF intake.reason IS NULL THEN
        SELECT count(*) INTO recent FROM ticketdesk.mail_intake i
         WHERE i.tenant_id = t AND i.sender = sender AND i.received_at > now() - cfg.rate_window
           AND i.intake_id <> intake.intake_id;
        IF recent >= cfg.rate_limit THEN
            intake.reason := format('rate limit: %s mails from %s within %s minutes (limit %s)',
                                    recent, sender, round(extract(epoch FROM cfg.rate_window) / 60),
                                    cfg.rate_limit);
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
            SELECT * INTO tk FROM ticketdesk.ticket k WHERE k.tenant_id = t AND k.reference = tag;
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
COMMENT ON FUNCTION mail_act(mail_intake, mail_parsed, bigint) IS
    'Internal: threads a parsed mail and acts on it (store only, reply, confirm/reject, reopen, new ticket).';

-- Takes in one raw mail (R02, R51, R52). The same Message-ID twice changes
-- nothing and returns the first intake. A mail that cannot be read or acted
-- on is recorded as failed with its reason; only a NULL message is an error.
CREATE FUNCTION ingest_mail(raw bytea, center_id bigint DEFAULT NULL) RETURNS mail_intake
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    t       integer := ticketdesk.current_tenant();
    p       ticketdesk.mail_parsed;
    intake  ticketdesk.mail_intake;
    done    ticketdesk.mail_intake;
    mail_key text;
BEGIN
    IF raw IS NULL THEN
        RAISE EXCEPTION 'ingest_mail needs the raw message'
            USING ERRCODE = 'TD630', HINT = 'Pass the whole message, headers and body, as bytea.';
    END IF;
    PERFORM ticketdesk.require('center', center_id);
    p := ticketdesk.parse_mail(raw);
    mail_key := coalesce(p.message_id, 'sha256:' || encode(sha256(raw), 'hex'));

    -- Claim the Message-ID first: a concurrent copy waits here, then finds it taken.
    INSERT INTO ticketdesk.mail_intake AS i (tenant_id, mail_id, sent_at, sender, subject, reason,
                                             size_bytes, raw)
    VALUES (t, mail_key, p.sent_at, p.from_addr, p.subject, p.error, octet_length(raw),
            CASE WHEN octet_length(raw) <= pg_size_bytes(current_setting('ticketdesk.mail_max_size')) THEN raw END)
    ON CONFLICT ON CONSTRAINT mail_intake_once DO NOTHING
    RETURNING * INTO intake;
    IF intake.intake_id IS NULL THEN
        SELECT * INTO intake FROM ticketdesk.mail_intake i WHERE i.tenant_id = t AND i.mail_id = mail_key;
        RETURN intake;
    END IF;
    IF p.error IS NOT NULL THEN
        RETURN intake;
    END IF;

    BEGIN
        done := ticketdesk.mail_act(intake, p, center_id);
    EXCEPTION WHEN OTHERS THEN
        done := intake;
        done.outcome := 'failed';
        done.reason := format('%s (SQLSTATE %s)', SQLERRM, SQLSTATE);
    END;
    UPDATE ticketdesk.mail_intake i
       SET outcome = done.outcome, action = done.action, reason = done.reason, flagged = done.flagged,
           center_id = done.center_id, ticket_id = done.ticket_id, message_id = done.message_id,
           contact_id = done.contact_id, agent_id = done.agent_id
     WHERE i.tenant_id = t AND i.intake_id = intake.intake_id
    RETURNING * INTO intake;
    RETURN intake;
END $$;
COMMENT ON FUNCTION ingest_mail(bytea, bigint) IS
    'Takes in one raw mail: a new ticket, a reply on its ticket (confirm/reject/reopen), or stored only; once per Message-ID (R02, R51).';
