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
-- never shadows a table they use (test security_audit). The role_* helpers
-- name every table with its schema.
ALTER FUNCTION create_tenant(text, text) SET search_path = pg_catalog, ticketdesk, pg_temp;
ALTER FUNCTION run_jobs_all_tenants(timestamptz) SET search_path = pg_catalog, ticketdesk, pg_temp;
ALTER FUNCTION automation_notice_send() SET search_path = pg_catalog, ticketdesk, pg_temp;
ALTER FUNCTION notify_ticket_event() SET search_path = pg_catalog, ticketdesk, pg_temp;
ALTER FUNCTION notify_queue(integer, bigint, text, bigint, bigint, bigint, text[], text, jsonb, bigint, text)
    SET search_path = pg_catalog, ticketdesk, pg_temp;
ALTER FUNCTION enqueue(bigint, text, bigint, bigint, text[], text, jsonb) SET search_path = pg_catalog, ticketdesk, pg_temp;
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
