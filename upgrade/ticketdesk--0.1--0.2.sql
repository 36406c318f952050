-- ticketdesk 0.1 -> 0.2. Each section names the change it brings; the
-- result must equal a fresh install of 0.2 (test/t/004_upgrade.pl compares
-- the two, object by object).
\echo Use "ALTER EXTENSION ticketdesk UPDATE TO '0.2'" to load this file. \quit

--
-- Secrets (schema/63_secret.sql, 96_secret_grants.sql).
--
CREATE DOMAIN secret_name AS text
    CHECK (VALUE ~ '^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$' AND length(VALUE) <= 63);
COMMENT ON DOMAIN secret_name IS
    'A secret''s name: lower-case words joined by dots, e.g. smtp.password, imap.3.password.';

CREATE TABLE secret (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    name        secret_name NOT NULL,
    value       text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    updated_by  name NOT NULL DEFAULT current_user,
    PRIMARY KEY (tenant_id, name)
);
COMMENT ON TABLE secret IS
    'Credentials of the tenant (SMTP, IMAP, gateways); readable only by ticketdesk_admin and superusers.';

-- What an administrator may list without the values showing on screen.
CREATE VIEW secret_names WITH (security_invoker = true) AS
    SELECT tenant_id, name, updated_at, updated_by FROM secret;
COMMENT ON VIEW secret_names IS 'The tenant''s secrets without their values.';

-- Refuses a caller that is not an administrator of the tenant (superusers
-- are members of every role).
CREATE FUNCTION require_admin(what text) RETURNS void
    LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF NOT ticketdesk.is_admin() THEN
        RAISE EXCEPTION 'permission denied to %', what
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('Role %s is not a member of ticketdesk_admin.', current_user),
                  HINT = 'Ask an administrator of the tenant.';
    END IF;
END $$;
COMMENT ON FUNCTION require_admin(text) IS
    'Raises 42501 unless the current role is a member of ticketdesk_admin; what names the refused action.';

-- The errors below never echo the value: they name the secret only.
CREATE FUNCTION set_secret(name text, value text) RETURNS void
    LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    PERFORM ticketdesk.require_admin('set a secret');
    IF name IS NULL OR name !~ '^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$' OR length(name) > 63 THEN
        RAISE EXCEPTION 'invalid secret name %', coalesce(quote_literal(name), 'NULL')
            USING ERRCODE = 'TD730',
                  DETAIL = 'A secret''s name is lower-case words of letters, digits and _ joined by dots, at most 63 characters.',
                  HINT = 'For example smtp.password or imap.1.password.';
    END IF;
    IF value IS NULL OR value = '' THEN
        RAISE EXCEPTION 'secret % has no value', name
            USING ERRCODE = 'TD731',
                  DETAIL = 'A secret cannot be NULL or empty.',
                  HINT = 'To remove a secret, call drop_secret.';
    END IF;
    INSERT INTO ticketdesk.secret AS s (name, value) VALUES (set_secret.name, set_secret.value)
        ON CONFLICT (tenant_id, name) DO UPDATE
           SET value = excluded.value, updated_at = now(), updated_by = current_user;
END $$;
COMMENT ON FUNCTION set_secret(text, text) IS
    'Stores or replaces a secret of the current tenant (administrators only). The value never appears in errors or events.';

CREATE FUNCTION drop_secret(name text) RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ticketdesk.require_admin('drop a secret');
    DELETE FROM ticketdesk.secret s WHERE s.tenant_id = ticketdesk.current_tenant() AND s.name = drop_secret.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'secret % does not exist', coalesce(quote_literal(name), 'NULL')
            USING ERRCODE = 'TD732',
                  DETAIL = format('Tenant %s has no secret of that name.', ticketdesk.current_tenant()),
                  HINT = 'SELECT name FROM ticketdesk.secret_names lists them.';
    END IF;
END $$;
COMMENT ON FUNCTION drop_secret(text) IS 'Removes a secret of the current tenant (administrators only).';

-- What 90_tenancy.sql and 95_roles.sql give every table.
ALTER TABLE secret ENABLE ROW LEVEL SECURITY;
ALTER TABLE secret FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON secret
    USING (tenant_id = (SELECT ticketdesk.session_tenant()))
    WITH CHECK (tenant_id = (SELECT ticketdesk.session_tenant()));
CREATE TRIGGER forbid_tenant_change BEFORE UPDATE OF tenant_id ON secret
    FOR EACH ROW EXECUTE FUNCTION forbid_tenant_change();
SELECT pg_catalog.pg_extension_config_dump('ticketdesk.secret', '');
REVOKE EXECUTE ON FUNCTION require_admin(text), set_secret(text, text), drop_secret(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION require_admin(text) TO ticketdesk_admin, ticketdesk_dispatcher, ticketdesk_agent,
    ticketdesk_requester;
REVOKE ALL ON secret, secret_names FROM PUBLIC, ticketdesk_admin, ticketdesk_dispatcher, ticketdesk_agent,
    ticketdesk_requester, ticketdesk_intake;
REVOKE EXECUTE ON FUNCTION set_secret(text, text), drop_secret(text)
    FROM PUBLIC, ticketdesk_dispatcher, ticketdesk_agent, ticketdesk_requester, ticketdesk_intake;
GRANT SELECT, INSERT, UPDATE, DELETE ON secret TO ticketdesk_admin;
GRANT SELECT ON secret_names TO ticketdesk_admin;
GRANT EXECUTE ON FUNCTION set_secret(text, text), drop_secret(text) TO ticketdesk_admin;

--
-- History retention (schema/60_history.sql, 61_retention.sql, 68_checklist.sql,
-- 96_retention.sql): the append-only guard in C, gate_bypass and approval
-- guarded like ticket_event, purge_history and its record history_purge.
--
CREATE OR REPLACE FUNCTION forbid_history_change() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'ticketdesk_history_guard';
CREATE OR REPLACE FUNCTION gate_bypass_guard() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF NOT ticketdesk.is_admin() THEN
        RAISE EXCEPTION 'only an administrator may bypass a gate'
            USING ERRCODE = 'TD575',
                  DETAIL = format('Role %s is not a member of ticketdesk_admin.', current_user),
                  HINT = 'Complete the checklist or obtain the approval, or ask an administrator.';
    END IF;
    RETURN NEW;
END $$;
DROP TRIGGER gate_bypass_guard ON gate_bypass;
CREATE TRIGGER gate_bypass_guard BEFORE INSERT ON gate_bypass
    FOR EACH ROW EXECUTE FUNCTION gate_bypass_guard();
CREATE TRIGGER gate_bypass_append_only BEFORE UPDATE OR DELETE ON gate_bypass
    FOR EACH ROW EXECUTE FUNCTION forbid_history_change();
CREATE TRIGGER gate_bypass_no_truncate BEFORE TRUNCATE ON gate_bypass
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_history_change();
CREATE TRIGGER approval_no_truncate BEFORE TRUNCATE ON approval
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_history_change();

CREATE TABLE history_purge (
    tenant_id  integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    purge_id   bigserial,
    at         timestamptz NOT NULL DEFAULT now(),
    by_role    name NOT NULL DEFAULT current_user,
    older_than interval NOT NULL,
    cutoff     timestamptz NOT NULL,
    events     bigint NOT NULL,
    approvals  bigint NOT NULL,
    bypasses   bigint NOT NULL,
    PRIMARY KEY (tenant_id, purge_id)
);
COMMENT ON TABLE history_purge IS 'The purges of old history by purge_history: who, when, the cutoff and the rows removed.';

CREATE FUNCTION history_purge_guard() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'ticketdesk_history_purge_guard';
CREATE TRIGGER history_purge_guard BEFORE INSERT OR UPDATE OR DELETE ON history_purge
    FOR EACH ROW EXECUTE FUNCTION history_purge_guard();
CREATE TRIGGER history_purge_no_truncate BEFORE TRUNCATE ON history_purge
    FOR EACH STATEMENT EXECUTE FUNCTION history_purge_guard();

-- Removes the current tenant's history of tickets closed or cancelled more
-- than older_than ago (rows older than that too), records the purge, and
-- returns the number of rows removed. Runs as the caller: an administrator of
-- the tenant or a superuser. SET search_path: its statement names everything
-- with its schema, and no operator of another schema can slip in.
CREATE FUNCTION purge_history(older_than interval) RETURNS bigint
    LANGUAGE c VOLATILE SET search_path = pg_catalog, ticketdesk, pg_temp
    AS 'MODULE_PATHNAME', 'ticketdesk_purge_history';
COMMENT ON FUNCTION purge_history(interval) IS
    'Removes the history (events, approvals, gate bypasses) of tickets closed or cancelled more than older_than ago; administrators only; returns the rows removed.';

-- What 90_tenancy.sql, 95_roles.sql and 96_retention.sql give them.
ALTER TABLE history_purge ENABLE ROW LEVEL SECURITY;
ALTER TABLE history_purge FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON history_purge
    USING (tenant_id = (SELECT ticketdesk.session_tenant()))
    WITH CHECK (tenant_id = (SELECT ticketdesk.session_tenant()));
CREATE TRIGGER forbid_tenant_change BEFORE UPDATE OF tenant_id ON history_purge
    FOR EACH ROW EXECUTE FUNCTION forbid_tenant_change();
SELECT pg_catalog.pg_extension_config_dump('ticketdesk.history_purge', '');
SELECT pg_catalog.pg_extension_config_dump('ticketdesk.history_purge_purge_id_seq', '');
REVOKE ALL ON history_purge FROM PUBLIC;
GRANT SELECT, INSERT ON history_purge TO ticketdesk_admin;
GRANT USAGE ON SEQUENCE history_purge_purge_id_seq TO ticketdesk_admin, ticketdesk_dispatcher, ticketdesk_agent,
    ticketdesk_requester;
REVOKE EXECUTE ON FUNCTION history_purge_guard(), purge_history(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION history_purge_guard() TO ticketdesk_admin, ticketdesk_dispatcher, ticketdesk_agent,
    ticketdesk_requester;
GRANT EXECUTE ON FUNCTION purge_history(interval) TO ticketdesk_admin;

-- SECURITY DEFINER functions name pg_temp last, so a caller's temporary table
-- never shadows a table they use (test security_audit).
ALTER FUNCTION create_tenant(text, text) SET search_path = pg_catalog, ticketdesk, pg_temp;
ALTER FUNCTION run_jobs_all_tenants(timestamptz) SET search_path = pg_catalog, ticketdesk, pg_temp;
ALTER FUNCTION automation_notice_send() SET search_path = pg_catalog, ticketdesk, pg_temp;
ALTER FUNCTION intake_submit(name, text, text, text) SET search_path = pg_catalog, ticketdesk, pg_temp;

--
-- IMAP poller (schema/64_mail.sql, 79_api_mail.sql, 79_mail_poll.sql): the
-- mailbox's password moves from mail_mailbox_secret into the secrets
-- (imap.<mailbox_id>.password); the URL may hold no user or password; the
-- mail worker's functions; the notifications' sender (their X-Loop) is ours.
--
-- An IMAP folder's URL: imaps://host:993/INBOX. No user or password in it:
-- they would show to everyone who reads the mailboxes and in curl's errors.
-- A domain, not a table CHECK, because a failing table CHECK prints the whole
-- row, and the URL it refuses may hold a password.
CREATE DOMAIN imap_url AS text CHECK (VALUE ~ '^imaps?://[^/@]+/[^;]+$');
COMMENT ON DOMAIN imap_url IS 'An IMAP folder URL without user or password: imap[s]://host[:port]/folder.';

INSERT INTO secret (tenant_id, name, value)
SELECT s.tenant_id, 'imap.' || s.mailbox_id || '.password', s.password FROM mail_mailbox_secret s
    ON CONFLICT (tenant_id, name) DO NOTHING;
-- Out of the extension first: that also takes it off the tables pg_dump keeps.
ALTER EXTENSION ticketdesk DROP TABLE mail_mailbox_secret;
DROP TABLE mail_mailbox_secret;
ALTER TABLE mail_mailbox DROP CONSTRAINT mail_mailbox_url_check;
ALTER TABLE mail_mailbox ALTER COLUMN url TYPE imap_url;
ALTER TABLE mail_mailbox ADD COLUMN password_secret secret_name;

CREATE OR REPLACE FUNCTION mail_settings() RETURNS mail_config
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
-- mailbox is enabled.
CREATE FUNCTION mail_poll_next() RETURNS bigint
    LANGUAGE sql STABLE AS $$
    SELECT greatest(0, ceil(extract(epoch FROM min(coalesce(b.last_poll_at + b.poll_interval, clock_timestamp()))
                                               - clock_timestamp()) * 1000))::bigint
      FROM ticketdesk.mail_mailbox b
     WHERE b.enabled
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


-- What 95_roles.sql gives every function.
REVOKE EXECUTE ON FUNCTION mail_mailbox_secret_name(mail_mailbox), mail_poll_due(),
    mail_poll_next(), mail_poll_take(integer, bigint, bigint, bigint, bytea), mail_poll_done(integer, bigint, text),
    mail_poll_wake(), mail_mailbox_changed(), mail_poll_now(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION mail_mailbox_secret_name(mail_mailbox), mail_poll_due(),
    mail_poll_next(), mail_poll_take(integer, bigint, bigint, bigint, bytea), mail_poll_done(integer, bigint, text),
    mail_poll_wake(), mail_mailbox_changed(), mail_poll_now(bigint)
    TO ticketdesk_admin, ticketdesk_dispatcher, ticketdesk_agent, ticketdesk_requester;

--
-- The principal cache (schema/95_roles.sql, src/principal.c): the helpers
-- the row-level security policies call become C functions answering from a
-- per-backend cache; contact and customer changes invalidate it; the
-- forgery guard of ticket_event is C.
--
CREATE OR REPLACE FUNCTION role_is_restricted(r name) RETURNS boolean
    LANGUAGE c STABLE STRICT PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'ticketdesk_role_is_restricted';
COMMENT ON FUNCTION role_is_restricted(name) IS
    'True when role r is limited to the rows of one person: a member of a restricted role and not of ticketdesk_admin.';
CREATE OR REPLACE FUNCTION role_principal(r name, OUT tenant_id integer, OUT agent_id bigint, OUT contact_id bigint)
    LANGUAGE c STABLE STRICT PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'ticketdesk_role_principal';
COMMENT ON FUNCTION role_principal(name) IS
    'The tenant, agent and contact role r acts as; refuses (TD700) a session whose ticketdesk.tenant is not the mapped tenant.';
CREATE OR REPLACE FUNCTION role_contacts(r name) RETURNS bigint[]
    LANGUAGE c STABLE STRICT PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'ticketdesk_role_contacts';
COMMENT ON FUNCTION role_contacts(name) IS
    'The contacts whose tickets requester r sees: itself, or every contact of its customer when the customer allows it.';
CREATE OR REPLACE FUNCTION role_customer(r name) RETURNS bigint
    LANGUAGE c STABLE STRICT PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'ticketdesk_role_customer';
COMMENT ON FUNCTION role_customer(name) IS 'The customer of the contact mapped to role r, if any.';
CREATE OR REPLACE FUNCTION role_org_customer(r name) RETURNS bigint
    LANGUAGE c STABLE STRICT PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'ticketdesk_role_org_customer';
COMMENT ON FUNCTION role_org_customer(name) IS
    'The customer whose tickets requester r sees as a whole (customer.requesters_see_organisation), if any.';
CREATE OR REPLACE FUNCTION role_centers(r name) RETURNS bigint[]
    LANGUAGE c STABLE STRICT PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'ticketdesk_role_centers';
COMMENT ON FUNCTION role_centers(name) IS
    'The centres whose tickets agent r sees besides its own: where it is dispatcher (if in ticketdesk_dispatcher) with every centre below, and the open queues of its centres.';

CREATE OR REPLACE FUNCTION session_tenant() RETURNS integer
    LANGUAGE c STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'ticketdesk_session_tenant';
CREATE OR REPLACE FUNCTION session_agent() RETURNS bigint
    LANGUAGE c STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'ticketdesk_session_agent';
CREATE OR REPLACE FUNCTION session_contact() RETURNS bigint
    LANGUAGE c STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'ticketdesk_session_contact';
CREATE OR REPLACE FUNCTION session_contacts() RETURNS bigint[]
    LANGUAGE c STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'ticketdesk_session_contacts';
CREATE OR REPLACE FUNCTION session_customer() RETURNS bigint
    LANGUAGE c STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'ticketdesk_session_customer';
CREATE OR REPLACE FUNCTION session_org_customer() RETURNS bigint
    LANGUAGE c STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'ticketdesk_session_org_customer';
CREATE OR REPLACE FUNCTION session_centers() RETURNS bigint[]
    LANGUAGE c STABLE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'ticketdesk_session_centers';
COMMENT ON FUNCTION session_tenant() IS 'The tenant the current role acts for (pinned for mapped roles).';
COMMENT ON FUNCTION session_agent() IS 'The agent mapped to the current role, if any.';
COMMENT ON FUNCTION session_contact() IS 'The contact mapped to the current role, if any.';
COMMENT ON FUNCTION session_contacts() IS 'The contacts whose tickets the current role sees (role_contacts).';
COMMENT ON FUNCTION session_customer() IS 'The customer of the contact mapped to the current role, if any.';
COMMENT ON FUNCTION session_org_customer() IS 'The customer whose tickets the current role sees as a whole, if any.';
COMMENT ON FUNCTION session_centers() IS 'The centres whose tickets the current role sees (role_centers).';

CREATE FUNCTION principal_changed() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'ticketdesk_holders_changed';
COMMENT ON FUNCTION principal_changed() IS
    'Statement trigger: invalidates the cached principals of every backend when contact or customer changes.';
CREATE TRIGGER principal_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON contact
    FOR EACH STATEMENT EXECUTE FUNCTION principal_changed();
CREATE TRIGGER principal_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON customer
    FOR EACH STATEMENT EXECUTE FUNCTION principal_changed();
-- What 95_roles.sql gives every function.
REVOKE EXECUTE ON FUNCTION principal_changed() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION principal_changed()
    TO ticketdesk_admin, ticketdesk_dispatcher, ticketdesk_agent, ticketdesk_requester;

CREATE OR REPLACE FUNCTION forbid_forged_event() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'ticketdesk_forbid_forged_event';
COMMENT ON FUNCTION forbid_forged_event() IS
    'Trigger: refuses (TD701) a ticket_event row inserted by a restricted role other than through the ticket trigger.';

--
-- Notifications queued small and rendered when the worker claims them
-- (schema/65_outbox.sql, 88_api_notify.sql; doc/notify.md). Rows already
-- queued keep their text and are sent as they are.
--
ALTER TABLE outbox
    ADD COLUMN note text,
    ADD COLUMN vars jsonb,
    ALTER COLUMN body_text DROP NOT NULL,
    ALTER COLUMN next_attempt_at DROP NOT NULL,
    DROP CONSTRAINT outbox_check,
    ADD CONSTRAINT outbox_check CHECK (body_text IS NOT NULL OR ticket_id IS NOT NULL),
    ADD CONSTRAINT outbox_check1 CHECK (body_text IS NULL OR channel <> 'email' OR subject IS NOT NULL),
    SET (fillfactor = 70);
UPDATE outbox SET next_attempt_at = NULL WHERE status IN ('sent', 'dead', 'cancelled');
DROP INDEX outbox_due_idx;
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
DROP INDEX outbox_sent_idx;
CREATE INDEX outbox_sent_idx ON outbox (sent_at) WHERE sent_at IS NOT NULL;
COMMENT ON TABLE outbox IS
    'Durable outbox of notifications (e-mail, SMS, webhook): recipient, status, attempts, next try, last error; the text once sent (outbox_message renders it before).';

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
        SELECT tenant, k.ticket_id, source_event, event_kind, c.channel, c.address, r.name,
               notify_queue.agent_id, notify_queue.contact_id, r.language, sender, k.reference, note,
               nullif(vars, '{}'::jsonb)
          FROM ticketdesk.ticket k
          -- The recipient and their own channel preference (R09).
          CROSS JOIN LATERAL (
                SELECT a.name, a.email, a.phone, a.language, p.channels AS preference
                  FROM ticketdesk.agent a
                  LEFT JOIN ticketdesk.notify_preference p ON p.tenant_id = a.tenant_id AND p.agent_id = a.agent_id
                 WHERE notify_queue.agent_id IS NOT NULL
                   AND a.tenant_id = tenant AND a.agent_id = notify_queue.agent_id
                UNION ALL
                SELECT n.name, n.email, n.phone, n.language,
                       coalesce(p.channels, CASE n.preferred_channel WHEN 'sms' THEN '{sms}'::text[]
                                                                     WHEN 'email' THEN '{email}'::text[] END)
                  FROM ticketdesk.contact n
                  LEFT JOIN ticketdesk.notify_preference p ON p.tenant_id = n.tenant_id AND p.contact_id = n.contact_id
                 WHERE notify_queue.agent_id IS NULL AND notify_queue.contact_id IS NOT NULL
                   AND n.tenant_id = tenant AND n.contact_id = notify_queue.contact_id
                UNION ALL
                SELECT u.name, u.email, coalesce(u.phone, u.work_phone), 'en', NULL
                  FROM ticketdesk.customer u
                 WHERE notify_queue.agent_id IS NULL AND notify_queue.contact_id IS NULL
                   AND u.tenant_id = tenant AND u.customer_id = notify_queue.customer_id) r
          CROSS JOIN LATERAL (
                SELECT ch AS channel, CASE ch WHEN 'email' THEN r.email WHEN 'sms' THEN r.phone END AS address
                  FROM unnest(coalesce(channels, ticketdesk.notify_channels(tenant, event_kind, k.priority,
                                                                            r.preference))) AS ch) c
         WHERE k.tenant_id = tenant AND k.ticket_id = notify_queue.ticket_id
           AND r.name IS NOT NULL
           AND c.address ~ '\S'
           AND (c.channel <> 'email' OR c.address ~ '^[^\s<>@",;]+@[^\s<>@",;]+$')
        ON CONFLICT (tenant_id, event_id, event, channel, recipient) WHERE event_id IS NOT NULL DO NOTHING
        RETURNING o.*
    LOOP
        RETURN NEXT queued;
    END LOOP;
    PERFORM ticketdesk.notify_wake();
END $$;
COMMENT ON FUNCTION notify_queue(integer, bigint, text, bigint, bigint, bigint, text[], text, jsonb, bigint, text) IS
    'Internal: queues an event''s messages for one recipient of a ticket (rendered when claimed); returns the rows queued.';

CREATE OR REPLACE FUNCTION enqueue(ticket_id bigint, event text, agent_id bigint DEFAULT NULL,
                        contact_id bigint DEFAULT NULL, channels text[] DEFAULT NULL,
                        note text DEFAULT NULL, vars jsonb DEFAULT '{}')
    RETURNS SETOF outbox
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
BEGIN
    IF num_nonnulls(agent_id, contact_id) <> 1 THEN
        RAISE EXCEPTION 'a notification goes to either an agent or a contact'
            USING ERRCODE = 'TD543', HINT = 'Pass exactly one of agent_id and contact_id.';
    END IF;
    IF event IS NULL OR event !~ '^[a-z_]{1,40}$' THEN
        RAISE EXCEPTION 'invalid notification event "%"', event
            USING ERRCODE = 'TD545',
                  HINT = 'An event name has 1 to 40 lower-case letters or "_", e.g. overdue or reminder.';
    END IF;
    IF channels IS NOT NULL AND (NOT channels <@ ARRAY['email', 'sms'] OR cardinality(channels) = 0) THEN
        RAISE EXCEPTION 'unknown notification channels %', channels
            USING ERRCODE = 'TD545', HINT = 'The channels are email and sms.';
    END IF;
    PERFORM ticketdesk.require('ticket', ticket_id);
    PERFORM ticketdesk.require('agent', agent_id);
    PERFORM ticketdesk.require('contact', contact_id);
    -- The text is rendered when the message is claimed; an event nobody
    -- wrote a text for is refused now rather than dead later.
    IF NOT EXISTS (SELECT 1 FROM ticketdesk.notify_template t
                    WHERE t.tenant_id = ticketdesk.current_tenant() AND t.event = enqueue.event) THEN
        RAISE EXCEPTION 'no template for event "%"', event
            USING ERRCODE = 'TD544',
                  DETAIL = format('Tenant %s has no template for event "%s" in any language.',
                                  ticketdesk.current_tenant(), event),
                  HINT = 'Add a row to ticketdesk.notify_template for this event.';
    END IF;
    RETURN QUERY
    SELECT * FROM ticketdesk.notify_queue(ticketdesk.current_tenant(), ticket_id, event, agent_id,
                                          contact_id, NULL, channels, note, vars);
END $$;
COMMENT ON FUNCTION enqueue(bigint, text, bigint, bigint, text[], text, jsonb) IS
    'Queues a notification of an event about a ticket for an agent or a contact (rendered from notify_template when the worker claims it); returns the rows queued.';

CREATE OR REPLACE FUNCTION notify_ticket_event() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    tk     ticketdesk.ticket;
    ev     text;
    actor  text;
    rcpt   record;
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
    SELECT * INTO tk FROM ticketdesk.ticket k WHERE k.tenant_id = NEW.tenant_id AND k.ticket_id = NEW.ticket_id;
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

    FOR rcpt IN
        SELECT DISTINCT ON (x.event, x.agent_id, x.contact_id, x.customer_id) x.*
          FROM (
            -- the requester: the contact person, else the employee, else the customer
            SELECT CASE WHEN ev = 'assigned' THEN 'handler_assigned' ELSE ev END AS event,
                   CASE WHEN tk.contact_id IS NULL THEN tk.requester_agent_id END AS agent_id,
                   tk.contact_id,
                   CASE WHEN tk.contact_id IS NULL AND tk.requester_agent_id IS NULL THEN tk.customer_id END AS customer_id,
                   1 AS rank
             WHERE 'requester' = ANY (audiences)
            UNION ALL
            SELECT ev, tk.assignee_id, NULL, NULL, 2
             WHERE 'assignee' = ANY (audiences) AND tk.assignee_id IS NOT NULL
            UNION ALL
            SELECT ev, m.agent_id, NULL, NULL, 3
              FROM ticketdesk.center_member m
             WHERE 'dispatchers' = ANY (audiences)
               AND m.tenant_id = NEW.tenant_id AND m.center_id = tk.center_id AND m.role = 'dispatcher'
            UNION ALL
            SELECT ev, w.agent_id, w.contact_id, NULL, 4
              FROM ticketdesk.watcher w
             WHERE 'watchers' = ANY (audiences) AND w.tenant_id = NEW.tenant_id AND w.ticket_id = NEW.ticket_id
          ) x
         WHERE num_nonnulls(x.agent_id, x.contact_id, x.customer_id) = 1
           AND (x.agent_id IS NULL OR x.agent_id IS DISTINCT FROM NEW.actor_agent_id)
         ORDER BY x.event, x.agent_id, x.contact_id, x.customer_id, x.rank
    LOOP
        PERFORM ticketdesk.notify_queue(NEW.tenant_id, NEW.ticket_id, rcpt.event, rcpt.agent_id,
                                        rcpt.contact_id, rcpt.customer_id, NULL, NEW.note, '{}',
                                        NEW.event_id,
                                        actor);
    END LOOP;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION notify_ticket_event() IS
    'AFTER INSERT trigger on ticket_event: queues the notifications of lifecycle events in the same transaction.';

DROP TRIGGER ticket_event_notify ON ticket_event;
-- The WHEN clause lets the history rows no one is told about (priority,
-- centre, most statuses, ...) skip the function call, checked in C.
CREATE TRIGGER ticket_event_notify AFTER INSERT ON ticket_event
    FOR EACH ROW
    WHEN (NEW.kind = 'created' OR (NEW.kind = 'assignee' AND NEW.new_value IS NOT NULL)
          OR (NEW.kind = 'status'
              AND NEW.new_value IN ('new', 'acknowledged', 'resolved', 'confirmed', 'closed', 'cancelled')))
    EXECUTE FUNCTION notify_ticket_event();

CREATE VIEW outbox_message WITH (security_invoker = true) AS
SELECT o.tenant_id, o.outbox_id, o.ticket_id, o.event_id, o.event, o.channel, o.recipient, o.recipient_name,
       o.agent_id, o.contact_id,
       CASE WHEN o.body_text IS NULL THEN coalesce(t.language, o.language) ELSE o.language END AS language,
       CASE WHEN o.body_text IS NULL THEN v.vars ->> 'sender' ELSE o.sender_name END AS sender_name,
       o.thread, o.note, o.vars,
       CASE WHEN o.body_text IS NOT NULL THEN o.subject
            WHEN o.channel = 'email' THEN '[' || o.thread || '] ' || ticketdesk.render_text(t.subject, v.vars)
       END AS subject,
       coalesce(o.body_text, x.body_text) AS body_text,
       CASE WHEN o.body_text IS NOT NULL THEN o.body_html
            WHEN o.channel = 'email' AND t.body_html IS NOT NULL THEN ticketdesk.render_markup(t.body_html, v.vars)
            WHEN o.channel = 'email' THEN ticketdesk.render_html(t.body_text, v.vars, t.language)
       END AS body_html,
       CASE WHEN o.body_text IS NOT NULL THEN o.payload
            WHEN o.channel <> 'email' AND x.body_text IS NOT NULL
            THEN jsonb_build_object('to', o.recipient, 'text', x.body_text, 'reference', o.thread,
                                    'event', o.event, 'idempotency_key', o.message_key)
       END AS payload,
       o.message_key, o.status, o.attempts, o.next_attempt_at, o.leased_until, o.last_error, o.created_at,
       o.sent_at
  FROM ticketdesk.outbox o
  -- The placeholders' values; only for a row not rendered yet.
  LEFT JOIN LATERAL (
        SELECT w.vars || jsonb_build_object('sender', coalesce(o.sender_name,
                                                               CASE WHEN o.agent_id IS NULL THEN w.vars ->> 'assignee' END,
                                                               w.vars ->> 'center')) AS vars
          FROM (SELECT jsonb_build_object(
                    'reference', k.reference,
                    'subject', k.subject,
                    'description', k.description,
                    'priority', ticketdesk.priority_label(k.priority, o.language),
                    'status', k.status,
                    'center', c.name,
                    'assignee', a.name,
                    'requester', coalesce(rc.name, ra.name, ru.name),
                    'recipient', o.recipient_name,
                    'link', rtrim(coalesce(current_setting('ticketdesk.base_url', true), ''), '/')
                            || '/ticket/' || k.reference,
                    'deadline', to_char(k.deadline, 'YYYY-MM-DD HH24:MI'),
                    'resolution', k.resolution,
                    'note', o.note) || coalesce(o.vars, '{}'::jsonb) AS vars
                  FROM ticketdesk.ticket k
                  LEFT JOIN ticketdesk.center c ON c.tenant_id = k.tenant_id AND c.center_id = k.center_id
                  LEFT JOIN ticketdesk.agent a ON a.tenant_id = k.tenant_id AND a.agent_id = k.assignee_id
                  LEFT JOIN ticketdesk.contact rc ON rc.tenant_id = k.tenant_id AND rc.contact_id = k.contact_id
                  LEFT JOIN ticketdesk.agent ra ON ra.tenant_id = k.tenant_id AND ra.agent_id = k.requester_agent_id
                  LEFT JOIN ticketdesk.customer ru ON ru.tenant_id = k.tenant_id AND ru.customer_id = k.customer_id
                 WHERE o.body_text IS NULL AND k.tenant_id = o.tenant_id AND k.ticket_id = o.ticket_id) w
       ) v ON true
  -- The template: the recipient's language, else English; the channel's
  -- own, else the mail's; a tenant's own row over a built-in one.
  LEFT JOIN LATERAL (
        SELECT t.language, t.channel, t.subject, t.body_text, t.body_html
          FROM ticketdesk.notify_template t
         WHERE o.body_text IS NULL AND t.tenant_id = o.tenant_id AND t.event = o.event
           AND t.language IN (o.language, 'en') AND t.channel IN (o.channel, 'email')
         ORDER BY t.channel = o.channel DESC, t.language = o.language DESC, t.seeded
         LIMIT 1) t ON true
  LEFT JOIN LATERAL (
        SELECT CASE WHEN o.channel = 'email' OR t.channel = o.channel THEN ticketdesk.render_text(t.body_text, v.vars)
                    ELSE o.thread || ': ' || ticketdesk.render_text(t.subject, v.vars) || ' ' || (v.vars ->> 'link')
               END AS body_text
         WHERE o.body_text IS NULL) x ON true;
COMMENT ON VIEW outbox_message IS
    'Outbox rows as sent or to be sent: stored text once tried, else rendered now from the templates and the ticket.';

CREATE FUNCTION outbox_mail(message outbox_message) RETURNS text
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'ticketdesk_outbox_mail';
COMMENT ON FUNCTION outbox_mail(outbox_message) IS
    'The RFC 5322 message an outbox_message row is sent as (Date is now; Message-ID is stable per row).';

COMMENT ON FUNCTION outbox_mail(outbox) IS
    'The RFC 5322 message an e-mail outbox row with its text stored is sent as (Date is now; Message-ID is stable per row); NULL before (outbox_mail of outbox_message renders).';

DROP FUNCTION outbox_claim(integer, interval, text[]);
CREATE FUNCTION outbox_claim(batch_size integer, lease interval, channels text[])
    RETURNS SETOF outbox_message
    LANGUAGE sql
    SET enable_hashjoin = off SET enable_mergejoin = off
    AS $$
    WITH due AS (
        SELECT o.tenant_id, o.outbox_id FROM ticketdesk.outbox o
         WHERE o.next_attempt_at <= now() AND o.status IN ('queued', 'sending')
           AND (o.leased_until IS NULL OR o.leased_until <= now())
           AND o.channel = ANY (outbox_claim.channels)
         ORDER BY o.next_attempt_at
         LIMIT outbox_claim.batch_size
           FOR UPDATE SKIP LOCKED),
    claimed AS (
        UPDATE ticketdesk.outbox o
           SET status = 'sending', attempts = o.attempts + 1, leased_until = now() + outbox_claim.lease
          FROM due
         WHERE o.tenant_id = due.tenant_id AND o.outbox_id = due.outbox_id
        RETURNING o.tenant_id, o.outbox_id, o.status, o.attempts, o.leased_until)
    SELECT m.tenant_id, m.outbox_id, m.ticket_id, m.event_id, m.event, m.channel, m.recipient, m.recipient_name,
           m.agent_id, m.contact_id, m.language, m.sender_name, m.thread, m.note, m.vars, m.subject,
           m.body_text, m.body_html, m.payload, m.message_key, c.status, c.attempts, m.next_attempt_at,
           c.leased_until, m.last_error, m.created_at, m.sent_at
      FROM claimed c
      -- Rendered row by row (OFFSET 0 keeps the planner from joining the
      -- whole view, which would render every waiting message).
      CROSS JOIN LATERAL (SELECT * FROM ticketdesk.outbox_message v
                           WHERE v.tenant_id = c.tenant_id AND v.outbox_id = c.outbox_id OFFSET 0) m
     ORDER BY m.next_attempt_at
$$;
COMMENT ON FUNCTION outbox_claim(integer, interval, text[]) IS
    'Internal (the worker): claims up to batch_size due messages of the channels under a lease, rendered.';

DROP FUNCTION outbox_record(integer[], bigint[], text[], boolean[], integer, interval, interval);
CREATE FUNCTION outbox_record(tenant_ids integer[], outbox_ids bigint[], errors text[],
                              permanent boolean[], max_attempts integer DEFAULT 8,
                              backoff_base interval DEFAULT '30 s', backoff_cap interval DEFAULT '1 hour',
                              languages text[] DEFAULT NULL, senders text[] DEFAULT NULL,
                              subjects text[] DEFAULT NULL, texts text[] DEFAULT NULL,
                              htmls text[] DEFAULT NULL, payloads jsonb[] DEFAULT NULL)
    RETURNS integer
    LANGUAGE plpgsql AS $$
DECLARE
    recorded integer;
BEGIN
    WITH r AS (
        SELECT * FROM unnest(tenant_ids, outbox_ids, errors, permanent, languages, senders, subjects, texts,
                             htmls, payloads)
               AS r(tenant_id, outbox_id, error, permanent, language, sender, subject, body_text, body_html, payload)
    )
    UPDATE ticketdesk.outbox o
           SET status = CASE WHEN r.error IS NULL THEN 'sent'
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
COMMENT ON FUNCTION outbox_record(integer[], bigint[], text[], boolean[], integer, interval, interval,
                                  text[], text[], text[], text[], text[], jsonb[]) IS
    'Internal (the worker): records delivery results and the text sent; failures retry with exponential backoff and jitter, then die.';

CREATE OR REPLACE FUNCTION outbox_prune(retention interval) RETURNS integer
    LANGUAGE sql AS $$
    WITH gone AS (
        DELETE FROM ticketdesk.outbox o
         WHERE o.sent_at < now() - outbox_prune.retention AND o.status = 'sent'
        RETURNING 1)
    SELECT count(*)::integer FROM gone
$$;
COMMENT ON FUNCTION outbox_prune(interval) IS
    'Internal (the worker): deletes sent messages older than the retention (setting ticketdesk.notify_retention).';

CREATE OR REPLACE FUNCTION outbox_cancel(outbox_id bigint) RETURNS outbox
    LANGUAGE plpgsql AS $$
DECLARE
    msg ticketdesk.outbox := ticketdesk.outbox_lock(outbox_id);
BEGIN
    UPDATE ticketdesk.outbox o SET status = 'cancelled', leased_until = NULL, next_attempt_at = NULL
     WHERE o.tenant_id = msg.tenant_id AND o.outbox_id = msg.outbox_id
    RETURNING * INTO msg;
    RETURN msg;
END $$;
COMMENT ON FUNCTION outbox_cancel(bigint) IS 'Cancels a message that has not been sent.';

-- CREATE OR REPLACE resets SECURITY DEFINER and SET; the new objects get
-- what 88_api_notify.sql and 95_roles.sql give them in a fresh install.
ALTER FUNCTION enqueue(bigint, text, bigint, bigint, text[], text, jsonb)
    SECURITY DEFINER SET search_path = pg_catalog, ticketdesk, pg_temp;
ALTER FUNCTION notify_ticket_event() SECURITY DEFINER SET search_path = pg_catalog, ticketdesk, pg_temp;
ALTER FUNCTION notify_queue(integer, bigint, text, bigint, bigint, bigint, text[], text, jsonb, bigint, text)
    SECURITY DEFINER SET search_path = pg_catalog, ticketdesk, pg_temp;
REVOKE EXECUTE ON FUNCTION outbox_claim(integer, interval, text[]), outbox_mail(outbox_message) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION outbox_record(integer[], bigint[], text[], boolean[], integer, interval, interval,
                                         text[], text[], text[], text[], text[], jsonb[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox_claim(integer, interval, text[]),
    outbox_record(integer[], bigint[], text[], boolean[], integer, interval, interval,
                  text[], text[], text[], text[], text[], jsonb[]),
    outbox_mail(outbox_message)
    TO ticketdesk_admin, ticketdesk_dispatcher, ticketdesk_agent, ticketdesk_requester;
GRANT SELECT, INSERT, UPDATE, DELETE ON outbox_message TO ticketdesk_admin;
GRANT SELECT ON outbox_message TO ticketdesk_dispatcher, ticketdesk_agent, ticketdesk_requester;
