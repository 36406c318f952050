-- ticketdesk install script, assembled from schema/*.sql in file-name order.
\echo Use "CREATE EXTENSION ticketdesk" to load this file. \quit

-- Statuses of a ticket's life. The allowed moves between them are data
-- (table transition); the order here is only the order of the lifecycle.
CREATE TYPE ticket_status AS ENUM (
    'new', 'assigned', 'acknowledged', 'in_progress', 'waiting',
    'resolved', 'confirmed', 'closed', 'cancelled');

-- Where a ticket stands, coarser than its status (column ticket.phase). The
-- queue and job indexes select tickets by phase, never by status, so that the
-- moves inside a phase (acknowledge, start, wait, resume) change no indexed
-- column and can be HOT updates.
CREATE TYPE ticket_phase AS ENUM ('open', 'resolved', 'confirmed', 'finished');
-- The phase of a status: new to waiting are open, closed and cancelled finished.
CREATE FUNCTION ticket_phase_of(ticket_status) RETURNS ticket_phase
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'ticketdesk_ticket_phase_of';
COMMENT ON FUNCTION ticket_phase_of(ticket_status) IS
    'The phase of a status (generation expression of ticket.phase): open, resolved, confirmed or finished.';

-- The reference of a ticket number (generation expression of ticket.reference):
-- "TD-" and the number, at least six digits.
CREATE FUNCTION ticket_reference_of(bigint) RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'ticketdesk_ticket_reference_of';
COMMENT ON FUNCTION ticket_reference_of(bigint) IS
    'The reference of a ticket number (generation expression of ticket.reference): TD- and at least six digits.';
-- Its inverse: a ticket is found by its reference through the primary key.
CREATE FUNCTION ticket_number_of(text) RETURNS bigint
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'ticketdesk_ticket_number_of';
COMMENT ON FUNCTION ticket_number_of(text) IS
    'The ticket number whose reference the text is, exactly as ticket_reference_of writes it (TD-000123: 123); NULL for any other text.';

-- Ordered from least to most pressing, so that priorities compare with < and >.
CREATE TYPE ticket_priority AS ENUM ('low', 'normal', 'high', 'urgent');

-- Value ranges of the columns written on the hot path (ticket's weights and
-- workflow stage, the load counters) are domains, not table CHECK constraints.
-- PostgreSQL 15 reads back and plans every CHECK constraint of a table for
-- each statement that inserts or updates a row of it, whatever the statement
-- changes (8% of a status transition for the ticket's three); a domain's
-- constraint is planned once per session and checked only on the values a
-- statement assigns. The rule holds the same with triggers off.
-- Is a weight 1 to 5? Raises TD302 when not: the domain's check.
CREATE FUNCTION weight_in_range(smallint) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'ticketdesk_weight_in_range';
COMMENT ON FUNCTION weight_in_range(smallint) IS
    'The check of domain ticket_weight: true for 1 to 5, else the error TD302.';
CREATE DOMAIN ticket_weight AS smallint CHECK (weight_in_range(VALUE));
COMMENT ON DOMAIN ticket_weight IS 'A weight from 1 (least) to 5 (most): requester and dispatcher weights.';
CREATE DOMAIN stage_number AS smallint CHECK (VALUE >= 1);
COMMENT ON DOMAIN stage_number IS 'The number of a workflow stage, from 1.';
CREATE DOMAIN load_count AS integer CHECK (VALUE >= 0);
COMMENT ON DOMAIN load_count IS 'A load counter or cap of agent_load: never negative.';

-- How a request reached the desk (R16, R17).
CREATE TYPE ticket_channel AS ENUM ('web', 'email', 'phone', 'api', 'schedule', 'internal');

-- The current tenant: the setting ticketdesk.tenant, 1 (the default tenant) when unset.
CREATE FUNCTION current_tenant() RETURNS integer
    LANGUAGE c STABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'ticketdesk_current_tenant';
COMMENT ON FUNCTION current_tenant() IS
    'The tenant this session works for: the setting ticketdesk.tenant (default 1, the default tenant).';

-- The largest attachment accepted, in bytes: the setting ticketdesk.max_attachment_size.
CREATE FUNCTION max_attachment_bytes() RETURNS bigint
    LANGUAGE c STABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'ticketdesk_max_attachment_bytes';
COMMENT ON FUNCTION max_attachment_bytes() IS
    'The largest attachment accepted, in bytes (setting ticketdesk.max_attachment_size).';
