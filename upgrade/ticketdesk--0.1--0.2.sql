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
