-- History retention (issue 8): the history tables (ticket_event, approval,
-- gate_bypass) are append-only for everyone; purge_history is the one way to
-- remove old history, and every purge is recorded here. See doc/security.md.

-- One row per purge: who, when, how old, how much. Written by purge_history
-- only (TD721), never changed or removed (TD406).
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
