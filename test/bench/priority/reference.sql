-- test/bench/priority/reference.sql: the priority computation in plain
-- PL/pgSQL, the reference the C function is measured (and checked) against.
-- Same rules as ticketdesk.compute_priority (doc/priority.md): the most
-- specific rule of the category side (category up its tree, then the centre
-- up its tree, then the whole tenant) and, for each, of the internal
-- category side (up its tree, then any); then the weights and the deadline.
-- Written the way one would in PL/pgSQL: walk up the trees with one query
-- per node, then look each cell up in the rule table's unique index.
CREATE FUNCTION bench.priority_reference(
    center_id bigint, category_id bigint, internal_category_id bigint,
    requester_weight integer, dispatcher_weight integer, deadline timestamptz, as_of timestamptz)
RETURNS ticketdesk.ticket_priority
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_variable
DECLARE
    t          integer := ticketdesk.current_tenant();
    levels     ticketdesk.ticket_priority[] := enum_range(NULL::ticketdesk.ticket_priority);
    categories bigint[] := '{}';   -- the category and its parents
    centers    bigint[] := '{}';   -- the centre and its parents
    internals  bigint[] := '{}';   -- the internal category and its parents
    node       bigint;
    node_center bigint;
    cat        bigint;
    cen        bigint;
    i          integer;
    j          integer;
    base       ticketdesk.ticket_priority;
    points     integer;
    level      integer;
BEGIN
    IF requester_weight IS NULL OR requester_weight NOT BETWEEN 1 AND 5
       OR dispatcher_weight NOT BETWEEN 1 AND 5 THEN
        RAISE EXCEPTION 'weights must be between 1 and 5' USING ERRCODE = 'TD302';
    END IF;

    -- Walk up the trees.
    node := category_id;
    WHILE node IS NOT NULL LOOP
        categories := categories || node;
        SELECT k.parent_id, k.center_id INTO node, node_center FROM ticketdesk.category k
         WHERE k.tenant_id = t AND k.category_id = node;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'category % does not exist', category_id USING ERRCODE = 'TD206';
        END IF;
    END LOOP;
    node := coalesce(center_id, node_center);
    WHILE node IS NOT NULL LOOP
        centers := centers || node;
        SELECT c.parent_id INTO node FROM ticketdesk.center c WHERE c.tenant_id = t AND c.center_id = node;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'centre % does not exist', center_id USING ERRCODE = 'TD202';
        END IF;
    END LOOP;
    node := internal_category_id;
    WHILE node IS NOT NULL LOOP
        internals := internals || node;
        SELECT x.parent_id INTO node FROM ticketdesk.internal_category x
         WHERE x.tenant_id = t AND x.internal_category_id = node;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'internal category % does not exist', internal_category_id USING ERRCODE = 'TD210';
        END IF;
    END LOOP;
    internals := internals || NULL::bigint;   -- then any internal category

    -- The first rule met, category side first; each lookup is one probe of
    -- the unique index on the cell.
    <<search>>
    FOR i IN 1 .. cardinality(categories) + cardinality(centers) + 1 LOOP
        IF i <= cardinality(categories) THEN
            cat := categories[i];
            cen := node_center;
        ELSE
            cat := NULL;
            cen := centers[i - cardinality(categories)];   -- NULL past the end: the tenant
        END IF;
        FOR j IN 1 .. cardinality(internals) LOOP
            IF cat IS NOT NULL THEN
                SELECT r.priority INTO base FROM ticketdesk.priority_rule r
                 WHERE r.tenant_id = t AND r.center_id = cen AND r.category_id = cat
                   AND (r.internal_category_id = internals[j] OR (internals[j] IS NULL AND r.internal_category_id IS NULL));
            ELSIF cen IS NOT NULL THEN
                SELECT r.priority INTO base FROM ticketdesk.priority_rule r
                 WHERE r.tenant_id = t AND r.center_id = cen AND r.category_id IS NULL
                   AND (r.internal_category_id = internals[j] OR (internals[j] IS NULL AND r.internal_category_id IS NULL));
            ELSE
                SELECT r.priority INTO base FROM ticketdesk.priority_rule r
                 WHERE r.tenant_id = t AND r.center_id IS NULL AND r.category_id IS NULL
                   AND (r.internal_category_id = internals[j] OR (internals[j] IS NULL AND r.internal_category_id IS NULL));
            END IF;
            EXIT search WHEN FOUND;
        END LOOP;
    END LOOP;

    points := (requester_weight - 3) + coalesce(2 * (dispatcher_weight - 3), 0);
    level := array_position(levels, coalesce(base, 'normal')) - 1 + trunc(points / 2.0)::integer;
    IF deadline IS NOT NULL THEN
        IF deadline <= as_of THEN
            level := level + 2;
        ELSIF deadline - as_of <= current_setting('ticketdesk.deadline_near')::interval THEN
            level := level + 1;
        END IF;
    END IF;
    RETURN levels[greatest(0, least(3, level)) + 1];
END $$;
