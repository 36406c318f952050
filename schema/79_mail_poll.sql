-- The IMAP poller's side in SQL. The mail worker (src/mailpoll.c) runs as a
-- superuser in each database: it asks which mailboxes are due, reads their
-- passwords from the secrets, polls with no transaction open, takes each mail
-- in its own short transaction (mail_poll_take) and records how the poll
-- ended (mail_poll_done). See doc/mail.md, "The poller".

-- The name of the secret that holds a mailbox's password.
CREATE FUNCTION mail_mailbox_secret_name(box mail_mailbox) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(box.password_secret::text, 'imap.' || box.mailbox_id || '.password')
$$;
COMMENT ON FUNCTION mail_mailbox_secret_name(mail_mailbox) IS
    'The secret holding the mailbox''s password: password_secret, or imap.<mailbox_id>.password.';

-- The enabled mailboxes of every tenant whose poll is due, the longest
-- waiting first.
CREATE FUNCTION mail_poll_due(OUT tenant_id integer, OUT mailbox_id bigint, OUT url text, OUT username text,
                              OUT secret_name text, OUT after_fetch text, OUT move_to text,
                              OUT uidvalidity bigint, OUT last_uid bigint)
    RETURNS SETOF record
    LANGUAGE sql STABLE AS $$
    SELECT b.tenant_id, b.mailbox_id, b.url, b.username, ticketdesk.mail_mailbox_secret_name(b),
           b.after_fetch, b.move_to, b.uidvalidity, b.last_uid
      FROM ticketdesk.mail_mailbox b
     WHERE b.enabled AND (b.last_poll_at IS NULL OR b.last_poll_at + b.poll_interval <= clock_timestamp())
     ORDER BY b.last_poll_at NULLS FIRST, b.tenant_id, b.mailbox_id
$$;
COMMENT ON FUNCTION mail_poll_due() IS
    'Internal (mail worker): the enabled mailboxes of every tenant whose poll is due.';

-- Milliseconds until the next poll of any tenant falls due; NULL when no
-- mailbox is enabled. The CASE keeps that NULL: greatest() ignores NULLs,
-- so greatest(0, NULL) is 0, "due now", and until 0.9 the mail worker of
-- every database without an enabled mailbox polled in a loop at 100% of a
-- core.
CREATE FUNCTION mail_poll_next() RETURNS bigint
    LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN n.next_at IS NOT NULL
                THEN greatest(0, ceil(extract(epoch FROM n.next_at - clock_timestamp()) * 1000))::bigint
           END
      FROM (SELECT min(coalesce(b.last_poll_at + b.poll_interval, clock_timestamp())) AS next_at
              FROM ticketdesk.mail_mailbox b
             WHERE b.enabled) n
$$;
COMMENT ON FUNCTION mail_poll_next() IS
    'Internal (mail worker): milliseconds until the next poll is due, NULL when no mailbox is enabled.';

-- Takes one fetched mail for the mail worker: mail_take as the mailbox's
-- tenant. Returns the outcome, 'skipped' when the UID was taken before.
CREATE FUNCTION mail_poll_take(tenant_id integer, mailbox_id bigint, uidvalidity bigint, uid bigint, raw bytea)
    RETURNS text
    LANGUAGE plpgsql AS $$
DECLARE
    intake ticketdesk.mail_intake;
BEGIN
    PERFORM set_config('ticketdesk.tenant', tenant_id::text, true);
    intake := ticketdesk.mail_take(mailbox_id, uidvalidity, uid, raw);
    RETURN coalesce(intake.outcome, 'skipped');
END $$;
COMMENT ON FUNCTION mail_poll_take(integer, bigint, bigint, bigint, bytea) IS
    'Internal (mail worker): mail_take as the mailbox''s tenant; returns the outcome or skipped.';

-- Records the end of a poll: when, and its error (NULL when it went well).
CREATE FUNCTION mail_poll_done(tenant_id integer, mailbox_id bigint, error text) RETURNS void
    LANGUAGE sql AS $$
    UPDATE ticketdesk.mail_mailbox b
       SET last_poll_at = clock_timestamp(), last_error = error
     WHERE b.tenant_id = mail_poll_done.tenant_id AND b.mailbox_id = mail_poll_done.mailbox_id
$$;
COMMENT ON FUNCTION mail_poll_done(integer, bigint, text) IS
    'Internal (mail worker): records when a mailbox was polled and the error, if any.';

-- Wakes the database's mail worker when the current transaction commits.
CREATE FUNCTION mail_poll_wake() RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'ticketdesk_mail_poll_wake';
COMMENT ON FUNCTION mail_poll_wake() IS
    'Wakes the database''s mail worker at commit (nothing without the preloaded library).';

-- A new or changed mailbox is looked at as soon as it is committed.
CREATE FUNCTION mail_mailbox_changed() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ticketdesk.mail_poll_wake();
    RETURN NULL;
END $$;
COMMENT ON FUNCTION mail_mailbox_changed() IS 'Trigger: wakes the mail worker when a mailbox is added or changed.';
CREATE TRIGGER mail_mailbox_wake
    AFTER INSERT OR UPDATE OF url, username, password_secret, after_fetch, move_to, poll_interval, enabled
    ON mail_mailbox FOR EACH STATEMENT EXECUTE FUNCTION mail_mailbox_changed();

-- Polls a mailbox at once (rather than when its interval has passed).
CREATE FUNCTION mail_poll_now(mailbox_id bigint) RETURNS void
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
BEGIN
    UPDATE ticketdesk.mail_mailbox b SET last_poll_at = NULL
     WHERE b.tenant_id = ticketdesk.current_tenant() AND b.mailbox_id = mailbox_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'mailbox % does not exist', mailbox_id
            USING ERRCODE = 'TD631',
                  DETAIL = format('Tenant %s has no mailbox with id %s.', ticketdesk.current_tenant(), mailbox_id),
                  HINT = 'Check the mailbox id, and that the setting ticketdesk.tenant names the right tenant.';
    END IF;
    PERFORM ticketdesk.mail_poll_wake();
END $$;
COMMENT ON FUNCTION mail_poll_now(bigint) IS
    'Asks the mail worker to poll the mailbox at once (after commit).';

