-- The lifecycle moves. Each is one UPDATE of the ticket; the lifecycle
-- trigger decides whether the move is allowed and records it, so a plain
-- UPDATE by an ERP is held to exactly the same rules.

-- Moves a ticket to a status, recording the note with the change. The
-- named moves below are this with a fixed status.
CREATE FUNCTION move(ticket_id bigint, status ticket_status, note text DEFAULT NULL) RETURNS ticket
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    result ticketdesk.ticket;
    caller_note text;
BEGIN
    caller_note := ticketdesk.set_note(note);
    UPDATE ticketdesk.ticket k SET status = move.status
     WHERE k.tenant_id = ticketdesk.current_tenant() AND k.ticket_id = move.ticket_id
    RETURNING * INTO result;
    PERFORM ticketdesk.set_note(caller_note);
    IF result.ticket_id IS NULL THEN
        PERFORM ticketdesk.raise_not_found('ticket', ticket_id);
    END IF;
    RETURN result;
END $$;
COMMENT ON FUNCTION move(bigint, ticket_status, text) IS
    'Moves a ticket to a status if table transition allows it; the note goes into the history.';

CREATE FUNCTION acknowledge(ticket_id bigint, note text DEFAULT NULL) RETURNS ticket
    LANGUAGE sql AS $$ SELECT * FROM ticketdesk.move(ticket_id, 'acknowledged', note) $$;
COMMENT ON FUNCTION acknowledge(bigint, text) IS 'The assignee confirms they saw the ticket (R10, R51).';

CREATE FUNCTION reject(ticket_id bigint, reason text DEFAULT NULL) RETURNS ticket
    LANGUAGE sql AS $$ SELECT * FROM ticketdesk.move(ticket_id, 'new', reason) $$;
COMMENT ON FUNCTION reject(bigint, text) IS
    'The assignee rejects the assignment (R51); the ticket goes back to its centre''s queue.';

CREATE FUNCTION start_work(ticket_id bigint, note text DEFAULT NULL) RETURNS ticket
    LANGUAGE sql AS $$ SELECT * FROM ticketdesk.move(ticket_id, 'in_progress', note) $$;
COMMENT ON FUNCTION start_work(bigint, text) IS 'The assignee starts work (R19).';

CREATE FUNCTION wait_for_customer(ticket_id bigint, note text DEFAULT NULL) RETURNS ticket
    LANGUAGE sql AS $$ SELECT * FROM ticketdesk.move(ticket_id, 'waiting', note) $$;
COMMENT ON FUNCTION wait_for_customer(bigint, text) IS 'Work pauses until the customer answers.';

CREATE FUNCTION resume(ticket_id bigint, note text DEFAULT NULL) RETURNS ticket
    LANGUAGE sql AS $$ SELECT * FROM ticketdesk.move(ticket_id, 'in_progress', note) $$;
COMMENT ON FUNCTION resume(bigint, text) IS 'Work goes on after the customer answered.';

CREATE FUNCTION confirm(ticket_id bigint, note text DEFAULT NULL) RETURNS ticket
    LANGUAGE sql AS $$ SELECT * FROM ticketdesk.move(ticket_id, 'confirmed', note) $$;
COMMENT ON FUNCTION confirm(bigint, text) IS 'The requester confirms the resolution (R19).';

CREATE FUNCTION reopen(ticket_id bigint, reason text DEFAULT NULL) RETURNS ticket
    LANGUAGE sql AS $$ SELECT * FROM ticketdesk.move(ticket_id, 'in_progress', reason) $$;
COMMENT ON FUNCTION reopen(bigint, text) IS
    'The requester does not accept the resolution, or the ticket needs more work: back to in progress.';

CREATE FUNCTION close(ticket_id bigint, note text DEFAULT NULL) RETURNS ticket
    LANGUAGE sql AS $$ SELECT * FROM ticketdesk.move(ticket_id, 'closed', note) $$;
COMMENT ON FUNCTION close(bigint, text) IS 'The dispatcher closes a resolved or confirmed ticket (R19).';

CREATE FUNCTION cancel(ticket_id bigint, reason text DEFAULT NULL) RETURNS ticket
    LANGUAGE sql AS $$ SELECT * FROM ticketdesk.move(ticket_id, 'cancelled', reason) $$;
COMMENT ON FUNCTION cancel(bigint, text) IS 'Cancels a ticket that is not finished.';

-- Assigns a ticket to an agent (R18, R50); a reassignment when it is already held.
CREATE FUNCTION assign(ticket_id bigint, agent_id bigint, note text DEFAULT NULL) RETURNS ticket
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    result ticketdesk.ticket;
    caller_note text;
BEGIN
    IF agent_id IS NULL THEN
        RAISE EXCEPTION 'assigning a ticket needs an agent'
            USING ERRCODE = 'TD203', HINT = 'Pass agent_id, or use reject or redirect to return the ticket to a queue.';
    END IF;
    PERFORM ticketdesk.require('agent', agent_id);
    caller_note := ticketdesk.set_note(note);
    UPDATE ticketdesk.ticket k SET assignee_id = agent_id, status = 'assigned'
     WHERE k.tenant_id = ticketdesk.current_tenant() AND k.ticket_id = assign.ticket_id
    RETURNING * INTO result;
    PERFORM ticketdesk.set_note(caller_note);
    IF result.ticket_id IS NULL THEN
        PERFORM ticketdesk.raise_not_found('ticket', ticket_id);
    END IF;
    RETURN result;
END $$;
COMMENT ON FUNCTION assign(bigint, bigint, text) IS 'Assigns or reassigns a ticket to an agent (R18, R50).';

-- Resolves a ticket with the resolution text the requester will confirm (R19).
CREATE FUNCTION resolve(ticket_id bigint, resolution text, note text DEFAULT NULL) RETURNS ticket
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    result ticketdesk.ticket;
    caller_note text;
BEGIN
    caller_note := ticketdesk.set_note(note);
    UPDATE ticketdesk.ticket k SET status = 'resolved', resolution = resolve.resolution
     WHERE k.tenant_id = ticketdesk.current_tenant() AND k.ticket_id = resolve.ticket_id
    RETURNING * INTO result;
    PERFORM ticketdesk.set_note(caller_note);
    IF result.ticket_id IS NULL THEN
        PERFORM ticketdesk.raise_not_found('ticket', ticket_id);
    END IF;
    RETURN result;
END $$;
COMMENT ON FUNCTION resolve(bigint, text, text) IS 'Records the resolution and resolves the ticket (R19).';

-- Redirects a ticket to another centre's queue (R18). Its category stays
-- only if it also serves the new centre.
CREATE FUNCTION redirect(ticket_id bigint, center_id bigint, reason text DEFAULT NULL) RETURNS ticket
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    result ticketdesk.ticket;
    caller_note text;
BEGIN
    IF center_id IS NULL THEN
        RAISE EXCEPTION 'redirecting a ticket needs a centre'
            USING ERRCODE = 'TD202', HINT = 'Pass center_id: the centre that should handle the ticket.';
    END IF;
    PERFORM ticketdesk.require('center', center_id);
    caller_note := ticketdesk.set_note(reason);
    UPDATE ticketdesk.ticket k
       SET center_id = redirect.center_id,
           status = 'new',
           category_id = CASE WHEN ticketdesk.category_fits(k.category_id, redirect.center_id)
                              THEN k.category_id END
     WHERE k.tenant_id = ticketdesk.current_tenant() AND k.ticket_id = redirect.ticket_id
    RETURNING * INTO result;
    PERFORM ticketdesk.set_note(caller_note);
    IF result.ticket_id IS NULL THEN
        PERFORM ticketdesk.raise_not_found('ticket', ticket_id);
    END IF;
    RETURN result;
END $$;
COMMENT ON FUNCTION redirect(bigint, bigint, text) IS 'Redirects a ticket to another centre''s dispatcher queue (R18).';

-- The dispatcher's corrections (R18): any argument left NULL stays as it is.
CREATE FUNCTION correct(ticket_id bigint,
                        category_id bigint DEFAULT NULL,
                        internal_category_id bigint DEFAULT NULL,
                        dispatcher_weight integer DEFAULT NULL,
                        requester_weight integer DEFAULT NULL,
                        deadline timestamptz DEFAULT NULL,
                        type text DEFAULT NULL,
                        note text DEFAULT NULL) RETURNS ticket
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    current ticketdesk.ticket;
    type_ref bigint;
    result ticketdesk.ticket;
    caller_note text;
BEGIN
    -- Locked, so a concurrent redirect cannot change the centre checked below.
    SELECT * INTO current FROM ticketdesk.ticket k
     WHERE k.tenant_id = ticketdesk.current_tenant() AND k.ticket_id = correct.ticket_id
       FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM ticketdesk.raise_not_found('ticket', ticket_id);
    END IF;
    PERFORM ticketdesk.require('category', category_id);
    PERFORM ticketdesk.require_category_fits(category_id, current.center_id);
    PERFORM ticketdesk.require('internal category', internal_category_id);
    IF type IS NOT NULL THEN
        SELECT x.type_id INTO type_ref FROM ticketdesk.ticket_type x
         WHERE x.tenant_id = current.tenant_id AND x.code = correct.type;
        IF type_ref IS NULL THEN
            RAISE EXCEPTION 'ticket type "%" does not exist', type
                USING ERRCODE = 'TD207', HINT = 'Use one of the codes in table ticketdesk.ticket_type.';
        END IF;
    END IF;
    IF dispatcher_weight NOT BETWEEN 1 AND 5 OR requester_weight NOT BETWEEN 1 AND 5 THEN
        RAISE EXCEPTION 'weights must be between 1 and 5'
            USING ERRCODE = 'TD302',
                  DETAIL = format('dispatcher_weight is %s, requester_weight is %s.',
                                  coalesce(dispatcher_weight::text, 'unchanged'),
                                  coalesce(requester_weight::text, 'unchanged')),
                  HINT = '1 is the least important, 5 the most; 3 is normal.';
    END IF;
    caller_note := ticketdesk.set_note(note);
    UPDATE ticketdesk.ticket k
       SET category_id = coalesce(correct.category_id, k.category_id),
           internal_category_id = coalesce(correct.internal_category_id, k.internal_category_id),
           dispatcher_weight = coalesce(correct.dispatcher_weight, k.dispatcher_weight),
           requester_weight = coalesce(correct.requester_weight, k.requester_weight),
           deadline = coalesce(correct.deadline, k.deadline),
           type_id = coalesce(type_ref, k.type_id)
     WHERE k.tenant_id = current.tenant_id AND k.ticket_id = current.ticket_id
    RETURNING * INTO result;
    PERFORM ticketdesk.set_note(caller_note);
    RETURN result;
END $$;
COMMENT ON FUNCTION correct(bigint, bigint, bigint, integer, integer, timestamptz, text, text) IS
    'Dispatcher corrections of category, internal category, weights, deadline or type (R18); NULL keeps a value.';
