-- Automatic priority (R06, R24): the matrix computation, its explanation,
-- and the dispatcher's override. doc/priority.md has the formula.

-- The priority of a cell of the matrix for the current tenant, moved by the
-- weights and the deadline. STABLE: it reads the rules (through the
-- backend's cache) and the setting ticketdesk.deadline_near; with the same
-- rules, setting and arguments it always gives the same result.
CREATE FUNCTION compute_priority(
    center_id            bigint,
    category_id          bigint,
    internal_category_id bigint,
    requester_weight     integer DEFAULT 3,
    dispatcher_weight    integer DEFAULT NULL,
    deadline             timestamptz DEFAULT NULL,
    as_of                timestamptz DEFAULT now()
) RETURNS ticket_priority
    LANGUAGE c STABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'ticketdesk_compute_priority';
COMMENT ON FUNCTION compute_priority(bigint, bigint, bigint, integer, integer, timestamptz, timestamptz) IS
    'The automatic priority (R24): the most specific matrix rule, moved by both weights and the deadline as of as_of.';

-- Every step of compute_priority with the same arguments, as numbers.
CREATE FUNCTION priority_factors(
    center_id            bigint,
    category_id          bigint,
    internal_category_id bigint,
    requester_weight     integer,
    dispatcher_weight    integer,
    deadline             timestamptz,
    as_of                timestamptz DEFAULT now(),
    OUT rule_id           bigint,
    OUT base              ticket_priority,
    OUT requester_points  integer,
    OUT dispatcher_points integer,
    OUT weight_shift      integer,
    OUT deadline_state    text,
    OUT deadline_shift    integer,
    OUT priority          ticket_priority
) RETURNS record
    LANGUAGE c STABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'ticketdesk_priority_factors';
COMMENT ON FUNCTION priority_factors(bigint, bigint, bigint, integer, integer, timestamptz, timestamptz) IS
    'The steps of compute_priority as numbers: matched rule, base, weight points and shift, deadline state and shift, result.';

-- Internal: an integer with its sign, as in "+2" or "-1" or "0".
CREATE FUNCTION priority_signed(n integer) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT CASE WHEN n > 0 THEN '+' ELSE '' END || n $$;
COMMENT ON FUNCTION priority_signed(integer) IS 'Internal: an integer with its sign (+2, -1, 0).';

-- Internal: a number of levels in words, as in "+1 level" or "-2 levels".
CREATE FUNCTION priority_levels(n integer) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
    SELECT ticketdesk.priority_signed(n) || CASE WHEN abs(n) = 1 THEN ' level' ELSE ' levels' END $$;
COMMENT ON FUNCTION priority_levels(integer) IS 'Internal: a number of levels with its sign, in words.';

-- Internal: a priority rule's cell in words.
CREATE FUNCTION priority_cell_text(rule_id bigint) RETURNS text
    LANGUAGE sql STABLE AS $$
    SELECT format('rule %s: %s × %s', r.rule_id,
                  CASE WHEN r.category_id IS NOT NULL THEN format('category %s (%s)', k.code, r.category_id)
                       WHEN r.center_id IS NOT NULL THEN format('centre %s (%s)', c.code, r.center_id)
                       ELSE 'every centre' END,
                  CASE WHEN r.internal_category_id IS NOT NULL
                       THEN format('internal category %s (%s)', i.code, r.internal_category_id)
                       ELSE 'any internal category' END)
      FROM ticketdesk.priority_rule r
      LEFT JOIN ticketdesk.category k ON k.tenant_id = r.tenant_id AND k.category_id = r.category_id
      LEFT JOIN ticketdesk.center c ON c.tenant_id = r.tenant_id AND c.center_id = r.center_id
      LEFT JOIN ticketdesk.internal_category i
             ON i.tenant_id = r.tenant_id AND i.internal_category_id = r.internal_category_id
     WHERE r.tenant_id = ticketdesk.current_tenant() AND r.rule_id = priority_cell_text.rule_id
$$;
COMMENT ON FUNCTION priority_cell_text(bigint) IS 'Internal: a priority rule''s cell in words.';

-- Why compute_priority gives what it gives, one row per factor: the rule
-- that matched (or none), each weight, the deadline, and the result.
CREATE FUNCTION explain_priority(
    center_id            bigint,
    category_id          bigint,
    internal_category_id bigint,
    requester_weight     integer,
    dispatcher_weight    integer,
    deadline             timestamptz,
    as_of                timestamptz DEFAULT now()
) RETURNS TABLE (step integer, factor text, input text, effect text, priority ticket_priority)
    LANGUAGE sql STABLE AS $$
    WITH f AS (
        SELECT * FROM ticketdesk.priority_factors($1, $2, $3, $4, $5, $6, $7)
    ), signed AS (
        SELECT f.*, (f.base::text) AS base_text,
               array_position(enum_range(NULL::ticketdesk.ticket_priority), f.base) - 1
                   + f.weight_shift + f.deadline_shift AS level,
               ticketdesk.priority_signed(f.weight_shift) AS shift_text,
               ticketdesk.priority_levels(f.weight_shift) AS shift_levels,
               ticketdesk.priority_levels(f.deadline_shift) AS deadline_levels,
               ticketdesk.priority_signed(f.deadline_shift) AS deadline_text
          FROM f
    )
    SELECT 1, 'rule',
           CASE WHEN s.rule_id IS NULL THEN 'no rule for this cell'
                ELSE ticketdesk.priority_cell_text(s.rule_id) END,
           CASE WHEN s.rule_id IS NULL THEN 'base normal' ELSE 'base ' || s.base_text END,
           s.base
      FROM signed s
    UNION ALL
    SELECT 2, 'requester weight', $4::text,
           ticketdesk.priority_signed(s.requester_points) || ' points', NULL
      FROM signed s
    UNION ALL
    SELECT 3, 'dispatcher weight', coalesce($5::text, 'not set'),
           CASE WHEN $5 IS NULL THEN 'none'
                ELSE ticketdesk.priority_signed(s.dispatcher_points) || ' points (counts twice)' END,
           NULL
      FROM signed s
    UNION ALL
    SELECT 4, 'weights', ticketdesk.priority_signed(s.requester_points + coalesce(s.dispatcher_points, 0)) || ' points',
           s.shift_levels || ' (half the points, toward zero)', NULL
      FROM signed s
    UNION ALL
    SELECT 5, 'deadline',
           CASE s.deadline_state
               WHEN 'none' THEN 'none'
               WHEN 'passed' THEN 'passed'
               WHEN 'near' THEN 'near (within ' || current_setting('ticketdesk.deadline_near') || ')'
               ELSE 'far (more than ' || current_setting('ticketdesk.deadline_near') || ' away)' END,
           s.deadline_levels, NULL
      FROM signed s
    UNION ALL
    SELECT 6, 'result',
           s.base_text || ' ' || s.shift_text || ' ' || s.deadline_text,
           CASE WHEN s.level > 3 THEN 'capped at urgent'
                WHEN s.level < 0 THEN 'held at low'
                ELSE 'within low..urgent' END,
           s.priority
      FROM signed s
    ORDER BY 1
$$;
COMMENT ON FUNCTION explain_priority(bigint, bigint, bigint, integer, integer, timestamptz, timestamptz) IS
    'Why compute_priority gives its result: the matched rule, each weight, the deadline and the result, one row each.';

-- Why a ticket has its priority (the dispatcher's "why is this urgent?"):
-- the explanation of its inputs as of as_of, then the dispatcher's override
-- if there is one, or the stored priority if it is no longer the computed
-- one (a rule changed, or the deadline came nearer, since its last change).
CREATE FUNCTION explain_priority(ticket_id bigint, as_of timestamptz DEFAULT now())
    RETURNS TABLE (step integer, factor text, input text, effect text, priority ticket_priority)
    LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_variable
DECLARE
    k ticketdesk.ticket;
BEGIN
    SELECT * INTO k FROM ticketdesk.ticket x
     WHERE x.tenant_id = ticketdesk.current_tenant() AND x.ticket_id = explain_priority.ticket_id;
    IF NOT FOUND THEN
        PERFORM ticketdesk.raise_not_found('ticket', ticket_id);
    END IF;
    RETURN QUERY
        SELECT e.step, e.factor, e.input, e.effect, e.priority
          FROM ticketdesk.explain_priority(k.center_id, k.category_id, k.internal_category_id,
                                           k.requester_weight, k.dispatcher_weight, k.deadline, as_of) e;
    IF k.priority_fixed THEN
        RETURN QUERY SELECT 7, 'override', 'fixed by the dispatcher',
                            'replaces the computed priority', k.priority;
    ELSIF k.priority IS DISTINCT FROM ticketdesk.compute_priority(
              k.center_id, k.category_id, k.internal_category_id, k.requester_weight,
              k.dispatcher_weight, k.deadline, as_of) THEN
        RETURN QUERY SELECT 7, 'stored', 'computed at the ticket''s last change',
                            'the rules or the deadline''s nearness moved since', k.priority;
    END IF;
END $$;
COMMENT ON FUNCTION explain_priority(bigint, timestamptz) IS
    'Why a ticket has its priority: its matrix rule, weights and deadline as of as_of, and the override if fixed.';

-- Internal: sets or clears the dispatcher's override in one update, with
-- the note recorded in the history. Clearing it makes the trigger compute
-- the priority again.
CREATE FUNCTION set_priority_fixed(ticket_id bigint, fixed boolean, priority ticket_priority, note text)
    RETURNS ticket
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    result ticketdesk.ticket;
    caller_note text;
BEGIN
    caller_note := ticketdesk.set_note(note);
    UPDATE ticketdesk.ticket k
       SET priority_fixed = fixed,
           priority = CASE WHEN fixed THEN set_priority_fixed.priority ELSE k.priority END
     WHERE k.tenant_id = ticketdesk.current_tenant() AND k.ticket_id = set_priority_fixed.ticket_id
    RETURNING * INTO result;
    PERFORM ticketdesk.set_note(caller_note);
    IF result.ticket_id IS NULL THEN
        PERFORM ticketdesk.raise_not_found('ticket', ticket_id);
    END IF;
    RETURN result;
END $$;
COMMENT ON FUNCTION set_priority_fixed(bigint, boolean, ticket_priority, text) IS
    'Internal: sets (with a priority) or clears the dispatcher''s priority override.';

-- The dispatcher's override: the ticket keeps this priority, whatever the
-- matrix, the weights and the deadline say, until released.
CREATE FUNCTION fix_priority(ticket_id bigint, priority ticket_priority, note text DEFAULT NULL) RETURNS ticket
    LANGUAGE plpgsql AS $$
BEGIN
    IF priority IS NULL THEN
        RAISE EXCEPTION 'fixing a priority needs a priority'
            USING ERRCODE = 'TD505',
                  HINT = 'Pass low, normal, high or urgent; to let the matrix decide again, call ticketdesk.release_priority.';
    END IF;
    RETURN ticketdesk.set_priority_fixed(ticket_id, true, priority, note);
END $$;
COMMENT ON FUNCTION fix_priority(bigint, ticket_priority, text) IS
    'The dispatcher''s override: fixes a ticket''s priority; recorded in the history (priority, priority_fixed).';

-- Ends the override: the priority is computed again, at once.
CREATE FUNCTION release_priority(ticket_id bigint, note text DEFAULT NULL) RETURNS ticket
    LANGUAGE sql AS $$ SELECT * FROM ticketdesk.set_priority_fixed(ticket_id, false, NULL, note) $$;
COMMENT ON FUNCTION release_priority(bigint, text) IS
    'Ends the dispatcher''s override: the ticket''s priority is computed from the matrix again.';
