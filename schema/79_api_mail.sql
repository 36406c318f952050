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
    LANGUAGE plpgsql STABLE AS $$
DECLARE
    line text := lower(btrim(split_part(btrim(coalesce(reply, ''), E' \t\n'), E'\n', 1), E' \t'));
BEGIN
    RETURN (SELECT k.kind
              FROM (SELECT * FROM ticketdesk.mail_keywords(coalesce(mail_keyword_of.language, 'en'))
                    UNION ALL
                    SELECT * FROM ticketdesk.mail_keywords('en')) k
             WHERE starts_with(line, k.word)
               AND left(ltrim(substr(line, length(k.word) + 1)), 1)
                   = ANY (ARRAY['', ':', ',', ';', '.', '!', '-', '–', '—'])
             ORDER BY length(k.word) DESC
             LIMIT 1);
END $$;
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
    -- The sender of our notifications is ours too; they carry it as their
    -- X-Loop (src/smtp.c).
    IF coalesce(current_setting('ticketdesk.mail_from', true), '') <> '' THEN
        result.own_addresses := result.own_addresses || current_setting('ticketdesk.mail_from', true);
    END IF;
    RETURN result;
END $$;
COMMENT ON FUNCTION mail_settings() IS
    'The current tenant''s row of mail_config, or the defaults; own_addresses also holds ticketdesk.mail_from.';

-- The ticket a mail answers: the first of its In-Reply-To and References ids
-- that is the Message-ID of a mail we took in, of a remark, or of a
-- notification we sent (outbox.message_key). The <TD-000123@domain> thread
-- id that notifications also carry is not one of them: it is guessable.
CREATE FUNCTION mail_thread(refs text[]) RETURNS bigint
    LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT x.ticket_id
              FROM unnest(refs) WITH ORDINALITY AS r(id, n)
             CROSS JOIN LATERAL (
                SELECT i.ticket_id FROM ticketdesk.mail_intake i
                 WHERE i.tenant_id = ticketdesk.current_tenant() AND i.mail_id = r.id AND i.ticket_id IS NOT NULL
                UNION ALL
                SELECT m.ticket_id FROM ticketdesk.message m
                 WHERE m.tenant_id = ticketdesk.current_tenant() AND m.email_message_id = r.id
                UNION ALL
                -- A notification we sent: its Message-ID is <message_key@domain>.
                SELECT o.ticket_id FROM ticketdesk.outbox o
                 WHERE o.tenant_id = ticketdesk.current_tenant() AND o.ticket_id IS NOT NULL
                   AND o.message_key = CASE WHEN r.id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}@'
                                            THEN split_part(r.id, '@', 1)::uuid END
             ) x
             ORDER BY r.n
             LIMIT 1);
END $$;
COMMENT ON FUNCTION mail_thread(text[]) IS
    'The ticket whose mail or remark has one of these Message-IDs (In-Reply-To first), or null.';

-- How an address takes part in a ticket: requester (its contact, customer or
-- requesting employee), assignee, watcher; NULL for a stranger.
CREATE FUNCTION mail_participant(tk ticket, address text) RETURNS text
    LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM ticketdesk.contact c
                WHERE c.tenant_id = tk.tenant_id AND c.contact_id = tk.contact_id AND lower(c.email) = mail_participant.address)
       OR EXISTS (SELECT 1 FROM ticketdesk.customer u
                   WHERE u.tenant_id = tk.tenant_id AND u.customer_id = tk.customer_id AND lower(u.email) = mail_participant.address)
       OR EXISTS (SELECT 1 FROM ticketdesk.agent a
                   WHERE a.tenant_id = tk.tenant_id AND a.agent_id = tk.requester_agent_id AND lower(a.email) = mail_participant.address) THEN
        RETURN 'requester';
    END IF;
    IF EXISTS (SELECT 1 FROM ticketdesk.agent a
                WHERE a.tenant_id = tk.tenant_id AND a.agent_id = tk.assignee_id AND lower(a.email) = mail_participant.address) THEN
        RETURN 'assignee';
    END IF;
    IF EXISTS (SELECT 1 FROM ticketdesk.watcher w
                 LEFT JOIN ticketdesk.agent a ON a.tenant_id = w.tenant_id AND a.agent_id = w.agent_id
                 LEFT JOIN ticketdesk.contact c ON c.tenant_id = w.tenant_id AND c.contact_id = w.contact_id
                WHERE w.tenant_id = tk.tenant_id AND w.ticket_id = tk.ticket_id
                  AND mail_participant.address IN (lower(a.email), lower(c.email))) THEN
        RETURN 'watcher';
    END IF;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION mail_participant(ticket, text) IS
    'requester, assignee or watcher when the address takes part in the ticket; null otherwise.';

-- Stores a mail's files on a ticket (and remark). Files over
-- ticketdesk.max_attachment_size are left in the raw mail, and an internal
-- remark says so. Returns how many were stored. One INSERT for all files:
-- large files are not copied around part by part.
CREATE FUNCTION mail_store_parts(ticket_id bigint, message_id bigint, parts mail_part[]) RETURNS integer
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    limit_bytes bigint := ticketdesk.max_attachment_bytes();
    stored      integer;
    skipped     text;
BEGIN
    IF cardinality(parts) IS NULL OR cardinality(parts) = 0 THEN
        RETURN 0;
    END IF;
    INSERT INTO ticketdesk.attachment (tenant_id, ticket_id, message_id, filename, content_type, data,
                                       size_bytes, sha256)
    SELECT ticketdesk.current_tenant(), ticket_id, message_id, x.filename, x.content_type, x.data, 0, ''::bytea
      FROM unnest(parts) x
     WHERE octet_length(x.data) <= limit_bytes;
    GET DIAGNOSTICS stored = ROW_COUNT;
    IF stored < cardinality(parts) THEN
        SELECT string_agg(format('%s (%s bytes)', x.filename, octet_length(x.data)), ', ')
          INTO skipped FROM unnest(parts) x WHERE octet_length(x.data) > limit_bytes;
        INSERT INTO ticketdesk.message (tenant_id, ticket_id, internal, body)
        VALUES (ticketdesk.current_tenant(), ticket_id, true,
                format('Not attached, larger than ticketdesk.max_attachment_size (%s bytes): %s. '
                       'The raw mail in table mail_intake still holds them.', limit_bytes, skipped));
    END IF;
    RETURN stored;
END $$;
COMMENT ON FUNCTION mail_store_parts(bigint, bigint, mail_part[]) IS
    'Internal: attaches a mail''s files to a ticket or remark, leaving out files over the size limit.';

-- Decides what a parsed mail does, and does it: only stored (machine-made,
-- our own, over the rate limit), a reply on its ticket (with confirm, reject,
-- reopen), or a new ticket. Returns the intake row to record (not yet
-- written); ingest_mail calls it inside a subtransaction and records any
-- error as a failed intake.
CREATE FUNCTION mail_act(intake mail_intake, p mail_parsed, center_id bigint) RETURNS mail_intake
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
COMMENT ON FUNCTION mail_act(mail_intake, mail_parsed, bigint) IS
    'Internal: threads a parsed mail and acts on it (store only, reply, confirm/reject, reopen, new ticket).';

-- Takes in one raw mail (R02, R51, R52). The same Message-ID twice changes
-- nothing and returns the first intake. A mail that cannot be read or acted
-- on is recorded as failed with its reason; only a NULL message is an error.
-- Returns the intake row as stored, but without raw (NULL): a large mail is
-- not copied back to the caller.
CREATE FUNCTION ingest_mail(raw bytea, center_id bigint DEFAULT NULL) RETURNS mail_intake
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    t        integer := ticketdesk.current_tenant();
    p        ticketdesk.mail_parsed;
    intake   ticketdesk.mail_intake;
    done     ticketdesk.mail_intake;
    mail_key text;
BEGIN
    IF raw IS NULL THEN
        RAISE EXCEPTION 'ingest_mail needs the raw message'
            USING ERRCODE = 'TD630', HINT = 'Pass the whole message, headers and body, as bytea.';
    END IF;
    IF center_id IS NOT NULL THEN
        PERFORM ticketdesk.require('center', center_id);
    END IF;
    p := ticketdesk.parse_mail(raw);
    mail_key := coalesce(p.message_id, 'sha256:' || encode(sha256(raw), 'hex'));

    -- Once per Message-ID: a concurrent copy of the same mail waits on this
    -- lock until the first commits, then finds its intake row.
    PERFORM pg_advisory_xact_lock(hashtextextended('ticketdesk.mail_intake ' || t || ' ' || mail_key, 0));
    SELECT i.tenant_id, i.intake_id, i.mail_id, i.received_at, i.sent_at, i.sender, i.subject, i.outcome,
           i.action, i.reason, i.flagged, i.center_id, i.ticket_id, i.message_id, i.contact_id, i.agent_id,
           i.size_bytes, NULL::bytea
      INTO intake FROM ticketdesk.mail_intake i WHERE i.tenant_id = t AND i.mail_id = mail_key;
    IF FOUND THEN
        RETURN intake;
    END IF;

    intake := ROW(t, NULL, mail_key, now(), p.sent_at, p.from_addr, p.subject, 'failed', NULL, p.error,
                  false, NULL, NULL, NULL, NULL, NULL, octet_length(raw), NULL);
    done := intake;
    IF p.error IS NULL THEN
        BEGIN
            done := ticketdesk.mail_act(intake, p, center_id);
        EXCEPTION WHEN OTHERS THEN
            done := intake;
            done.reason := format('%s (SQLSTATE %s)', SQLERRM, SQLSTATE);
        END;
    END IF;

    -- One row for the mail, written last; the raw mail is kept but not read back.
    INSERT INTO ticketdesk.mail_intake AS i (tenant_id, mail_id, received_at, sent_at, sender, subject, outcome,
                                             action, reason, flagged, center_id, ticket_id, message_id,
                                             contact_id, agent_id, size_bytes, raw)
    VALUES (t, mail_key, done.received_at, done.sent_at, done.sender, done.subject, done.outcome, done.action,
            done.reason, done.flagged, done.center_id, done.ticket_id, done.message_id, done.contact_id,
            done.agent_id, done.size_bytes,
            CASE WHEN octet_length(raw) <= pg_size_bytes(current_setting('ticketdesk.mail_max_size')) THEN raw END)
    RETURNING i.intake_id INTO done.intake_id;
    RETURN done;
END $$;
COMMENT ON FUNCTION ingest_mail(bytea, bigint) IS
    'Takes in one raw mail: a new ticket, a reply on its ticket (confirm/reject/reopen), or stored only; once per Message-ID (R02, R51).';

-- Takes in the mail with this UID from an IMAP mailbox (the worker calls it,
-- one mail per transaction): ingest_mail with the mailbox's centre, and the
-- mailbox's last UID moved on in the same transaction. A UID at or below the
-- last one taken is skipped (NULL); a new UIDVALIDITY (the folder was
-- recreated, UIDs start again) resets the count, and Message-IDs still keep
-- mail from being taken twice.
CREATE FUNCTION mail_take(mailbox_id bigint, uidvalidity bigint, uid bigint, raw bytea) RETURNS mail_intake
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    box    ticketdesk.mail_mailbox;
    result ticketdesk.mail_intake;
BEGIN
    IF uid IS NULL OR uid <= 0 OR uidvalidity IS NULL OR uidvalidity <= 0 THEN
        RAISE EXCEPTION 'an IMAP UID and UIDVALIDITY are positive numbers'
            USING ERRCODE = 'TD633',
                  DETAIL = format('UID %s, UIDVALIDITY %s.', coalesce(uid::text, 'missing'),
                                  coalesce(uidvalidity::text, 'missing')),
                  HINT = 'Pass the values the IMAP server reported for the folder and the message.';
    END IF;
    -- The row lock orders two pollers of the same mailbox.
    SELECT * INTO box FROM ticketdesk.mail_mailbox b
     WHERE b.tenant_id = ticketdesk.current_tenant() AND b.mailbox_id = mail_take.mailbox_id
       FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'mailbox % does not exist', mailbox_id
            USING ERRCODE = 'TD631',
                  DETAIL = format('Tenant %s has no mailbox with id %s.', ticketdesk.current_tenant(), mailbox_id),
                  HINT = 'Check the mailbox id, and that the setting ticketdesk.tenant names the right tenant.';
    END IF;
    IF NOT box.enabled THEN
        RAISE EXCEPTION 'mailbox % is disabled', mailbox_id
            USING ERRCODE = 'TD632', HINT = 'Set mail_mailbox.enabled to take mail from it again.';
    END IF;
    IF box.uidvalidity IS DISTINCT FROM uidvalidity THEN
        box.last_uid := 0;
    END IF;
    IF uid <= box.last_uid THEN
        RETURN NULL;
    END IF;
    result := ticketdesk.ingest_mail(raw, box.center_id);
    UPDATE ticketdesk.mail_mailbox b
       SET last_uid = uid, uidvalidity = mail_take.uidvalidity, last_poll_at = now(), last_error = NULL
     WHERE b.tenant_id = box.tenant_id AND b.mailbox_id = box.mailbox_id;
    RETURN result;
END $$;
COMMENT ON FUNCTION mail_take(bigint, bigint, bigint, bytea) IS
    'Takes in one IMAP mail by UID and moves the mailbox''s last UID on in the same transaction; NULL if already taken.';
