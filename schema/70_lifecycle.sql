-- The lifecycle, enforced in one place: C triggers on ticket.

-- The agent this session acts as: the setting ticketdesk.agent when set (it
-- must name an agent of the tenant, TD203), else the agent whose login_role
-- is the current database role.
CREATE FUNCTION current_agent() RETURNS bigint
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'ticketdesk_current_agent';
COMMENT ON FUNCTION current_agent() IS
    'The agent this session acts as: setting ticketdesk.agent, else the agent mapped to current_user.';

-- BEFORE INSERT OR UPDATE: validates the move against table transition and
-- the input rules, normalises status and assignee, stamps the times.
CREATE FUNCTION ticket_lifecycle() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'ticketdesk_ticket_lifecycle';
CREATE TRIGGER ticket_lifecycle BEFORE INSERT OR UPDATE ON ticket
    FOR EACH ROW EXECUTE FUNCTION ticket_lifecycle();

-- AFTER INSERT OR UPDATE: writes one history row per changed field.
CREATE FUNCTION ticket_record_history() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'ticketdesk_ticket_history';
CREATE TRIGGER ticket_history AFTER INSERT OR UPDATE ON ticket
    FOR EACH ROW EXECUTE FUNCTION ticket_record_history();

-- Any change to the transition table invalidates every backend's cached copy:
-- at once in this transaction, in the others after commit.
CREATE FUNCTION transition_changed() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'ticketdesk_transition_changed';
CREATE TRIGGER transition_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON transition
    FOR EACH STATEMENT EXECUTE FUNCTION transition_changed();
