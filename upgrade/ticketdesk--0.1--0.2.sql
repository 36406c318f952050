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
