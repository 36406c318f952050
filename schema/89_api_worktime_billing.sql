-- Billing runs and their export (R14).

-- Internal: the "no rate" error, usable inside a query.
CREATE FUNCTION raise_no_rate(customer_id bigint, work_type work_type) RETURNS numeric
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'no rate applies to % work for customer %', work_type, customer_id
        USING ERRCODE = 'TD582',
              DETAIL = 'Table ticketdesk.rate has no row for this customer and work type, for the customer, for the work type, or a default.',
              HINT = 'Add a rate, e.g. INSERT INTO ticketdesk.rate (hourly) VALUES (50) for a default; nothing was billed.';
END $$;

-- Bills a month (R14): one line per customer and item, for completed work
-- done up to the end of the month and not billed yet, plus credit or debit
-- lines for billed entries corrected since. The included entries are marked
-- billed in the same transaction. A second run for the same month returns
-- the first one; no entry is ever billed twice. A month that is not over
-- yet is refused unless force.
CREATE FUNCTION billing_run(month date, force boolean DEFAULT false) RETURNS billing_run
    LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    t         integer := ticketdesk.current_tenant();
    first_day date := date_trunc('month', month)::date;
    month_end timestamptz := date_trunc('month', month) + interval '1 month';
    cfg       ticketdesk.work_setting;
    result    ticketdesk.billing_run;
BEGIN
    IF month IS NULL THEN
        RAISE EXCEPTION 'a billing run needs a month'
            USING ERRCODE = 'TD583', HINT = 'Pass any day of the month, e.g. date ''2026-03-01''.';
    END IF;
    IF month_end > now() AND NOT coalesce(force, false) THEN
        RAISE EXCEPTION 'month % is not over yet', to_char(first_day, 'YYYY-MM')
            USING ERRCODE = 'TD581',
                  DETAIL = format('It ends at %s.', to_char(month_end, 'YYYY-MM-DD HH24:MI TZ')),
                  HINT = 'Wait for the month to end, or pass force => true to bill the work completed so far.';
    END IF;
    -- Runs of one tenant take turns; a concurrent run for the same month
    -- finds the first one's result below.
    cfg := ticketdesk.work_settings(lock => true);
    SELECT * INTO result FROM ticketdesk.billing_run r WHERE r.tenant_id = t AND r.month = first_day;
    IF FOUND THEN
        RETURN result;
    END IF;
    INSERT INTO ticketdesk.billing_run (tenant_id, month, forced, currency)
    VALUES (t, first_day, month_end > now(), cfg.currency)
    RETURNING * INTO result;

    WITH due AS MATERIALIZED (
        -- Entries not billed since their last change, finished before the end of the month.
        SELECT e.entry_id, e.ticket_id, e.work_type, e.period, e.minutes, e.confirmed_at, q.changes
          FROM ticketdesk.billing_due q
          JOIN ticketdesk.time_entry e ON e.tenant_id = q.tenant_id AND e.entry_id = q.entry_id
         WHERE q.tenant_id = t AND NOT upper_inf(e.period) AND upper(e.period) <= month_end
    ), done AS (
        -- Their tickets, each looked at once.
        SELECT c.ticket_id, c.customer_id, c.completed, c.approved
          FROM ticketdesk.ticket_completion c
         WHERE c.tenant_id = t AND c.customer_id IS NOT NULL
           AND c.ticket_id IN (SELECT d.ticket_id FROM due d)
    ), cand AS (
        SELECT d.entry_id, d.ticket_id, d.work_type, d.changes, d.minutes, k.customer_id,
               EXISTS (SELECT 1 FROM ticketdesk.billed_item b WHERE b.tenant_id = t AND b.entry_id = d.entry_id)
                   AS billed_before,
               k.completed AND (d.confirmed_at IS NOT NULL OR k.approved) AS billable
          FROM due d JOIN done k ON k.ticket_id = d.ticket_id
    ), want AS (
        -- What each entry should have been billed in total: rounded minutes.
        SELECT c.*, greatest(cfg.minimum_minutes,
                             ceil(c.minutes::numeric / cfg.rounding_minutes)::integer * cfg.rounding_minutes)
                        AS bill_minutes
          FROM cand c WHERE c.billed_before OR c.billable
    ), prev AS (
        -- What earlier runs billed per entry and work type, at which price.
        SELECT b.entry_id, b.work_type, sum(b.minutes)::integer AS minutes,
               (array_agg(b.unit_price ORDER BY b.billed_id DESC))[1] AS unit_price
          FROM ticketdesk.billed_item b
         WHERE b.tenant_id = t AND b.entry_id IN (SELECT w.entry_id FROM want w WHERE w.billed_before)
         GROUP BY b.entry_id, b.work_type
    ), delta AS (
        SELECT coalesce(w.entry_id, p.entry_id) AS entry_id, coalesce(w.work_type, p.work_type) AS work_type,
               coalesce(w.bill_minutes, 0) - coalesce(p.minutes, 0) AS minutes, p.unit_price AS prev_price
          FROM want w FULL JOIN prev p ON p.entry_id = w.entry_id AND p.work_type = w.work_type
    ), pairs AS (
        SELECT DISTINCT x.customer_id, d.work_type FROM delta d JOIN want x ON x.entry_id = d.entry_id
         WHERE d.minutes <> 0 AND d.prev_price IS NULL
    ), prices AS (
        SELECT p.customer_id, p.work_type,
               (SELECT r.hourly FROM ticketdesk.rate r
                 WHERE r.tenant_id = t AND (r.customer_id = p.customer_id OR r.customer_id IS NULL)
                   AND (r.work_type = p.work_type OR r.work_type IS NULL)
                 ORDER BY r.customer_id IS NULL, r.work_type IS NULL LIMIT 1) AS hourly
          FROM pairs p
    ), fees AS (
        -- Fixed fees of accepted tickets (approved, or confirmed or closed)
        -- whose work ended before the month's end (or, without time, that
        -- were resolved before it).
        SELECT k.ticket_id, k.customer_id, k.type_id,
               (SELECT f.amount FROM ticketdesk.ticket_fee f
                 WHERE f.tenant_id = t AND f.type_id = k.type_id
                   AND (f.customer_id = k.customer_id OR f.customer_id IS NULL)
                 ORDER BY f.customer_id IS NULL LIMIT 1) AS amount
          FROM ticketdesk.ticket_completion k
         WHERE k.tenant_id = t AND k.customer_id IS NOT NULL
           AND k.type_id IN (SELECT f.type_id FROM ticketdesk.ticket_fee f WHERE f.tenant_id = t)
           AND k.completed AND (k.status IN ('confirmed', 'closed') OR k.approved)
           AND NOT EXISTS (SELECT 1 FROM ticketdesk.billed_item b
                            WHERE b.tenant_id = t AND b.ticket_id = k.ticket_id AND b.kind = 'fee')
           AND coalesce((SELECT max(upper(e.period)) FROM ticketdesk.time_entry e
                          WHERE e.tenant_id = t AND e.ticket_id = k.ticket_id), k.resolved_at) <= month_end
    ), items AS (
        SELECT x.ticket_id, d.entry_id, x.customer_id,
               CASE WHEN x.billed_before THEN 'correction' ELSE 'work' END AS kind,
               d.work_type, NULL::bigint AS type_id, d.minutes,
               coalesce(d.prev_price, pr.hourly, ticketdesk.raise_no_rate(x.customer_id, d.work_type)) AS unit_price
          FROM delta d
          JOIN want x ON x.entry_id = d.entry_id
          LEFT JOIN prices pr ON pr.customer_id = x.customer_id AND pr.work_type = d.work_type
         WHERE d.minutes <> 0
        UNION ALL
        SELECT f.ticket_id, NULL, f.customer_id, 'fee', NULL, f.type_id, NULL, f.amount
          FROM fees f WHERE f.amount IS NOT NULL
    ), numbered AS (
        -- Items that share customer, kind, work or ticket type and price share a line.
        SELECT i.*, (dense_rank() OVER (ORDER BY i.customer_id,
                                                 array_position(ARRAY['work', 'correction', 'fee'], i.kind),
                                                 i.work_type, i.type_id, i.unit_price))::integer AS line_no
          FROM items i
    ), lines AS (
        SELECT n.line_no, n.customer_id, n.kind, n.work_type, n.type_id, n.unit_price,
               sum(n.minutes)::integer AS minutes, count(DISTINCT n.ticket_id)::integer AS tickets,
               count(n.entry_id)::integer AS entries, count(*)::integer AS items
          FROM numbered n
         GROUP BY n.line_no, n.customer_id, n.kind, n.work_type, n.type_id, n.unit_price
    ), new_lines AS (
        INSERT INTO ticketdesk.billing_line (tenant_id, run_id, line_no, customer_id, kind, work_type, type_id,
                                             item, quantity, unit, unit_price, amount, minutes, tickets, entries)
        SELECT t, result.run_id, l.line_no, l.customer_id, l.kind, l.work_type, l.type_id,
               CASE WHEN l.kind = 'fee' THEN 'fee: ' || ty.code ELSE l.kind || ': ' || l.work_type END,
               CASE WHEN l.kind = 'fee' THEN l.items ELSE round(l.minutes / 60.0, 2) END,
               CASE WHEN l.kind = 'fee' THEN 'pcs' ELSE 'h' END,
               l.unit_price,
               CASE WHEN l.kind = 'fee' THEN l.items * l.unit_price ELSE round(l.minutes * l.unit_price / 60, 2) END,
               l.minutes, l.tickets, l.entries
          FROM lines l
          LEFT JOIN ticketdesk.ticket_type ty ON ty.tenant_id = t AND ty.type_id = l.type_id
        RETURNING amount
    ), new_items AS (
        INSERT INTO ticketdesk.billed_item (tenant_id, run_id, line_no, ticket_id, entry_id, kind, work_type,
                                            minutes, unit_price)
        SELECT t, result.run_id, n.line_no, n.ticket_id, n.entry_id, n.kind, n.work_type, n.minutes, n.unit_price
          FROM numbered n
    ), billed AS (
        -- The entries looked at leave the queue. One changed meanwhile by a
        -- concurrent correction fails the changes test on its new version:
        -- it stays due, and the next run bills the difference.
        DELETE FROM ticketdesk.billing_due q USING want w
         WHERE q.tenant_id = t AND q.entry_id = w.entry_id AND q.changes = w.changes
    )
    UPDATE ticketdesk.billing_run r
       SET lines = (SELECT count(*) FROM new_lines), total = coalesce((SELECT sum(amount) FROM new_lines), 0)
     WHERE r.tenant_id = t AND r.run_id = result.run_id
    RETURNING * INTO result;
    RETURN result;
END $$;
COMMENT ON FUNCTION billing_run(date, boolean) IS
    'Bills a month (R14): lines per customer and item, entries marked billed; idempotent per month; force bills a month not over yet.';

-- A billing run's lines as one JSON document for an ERP.
CREATE FUNCTION billing_export_json(run_id bigint) RETURNS jsonb
    LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_variable
DECLARE
    result jsonb;
BEGIN
    SELECT jsonb_build_object(
               'run_id', r.run_id, 'month', to_char(r.month, 'YYYY-MM'), 'currency', r.currency,
               'forced', r.forced, 'total', r.total,
               'lines', coalesce((SELECT jsonb_agg(to_jsonb(x) - 'run_id' - 'month' - 'currency' ORDER BY x.line_no)
                                    FROM ticketdesk.billing_export x WHERE x.run_id = r.run_id), '[]'))
      INTO result
      FROM ticketdesk.billing_run r
     WHERE r.tenant_id = ticketdesk.current_tenant() AND r.run_id = billing_export_json.run_id;
    IF result IS NULL THEN
        RAISE EXCEPTION 'billing run % does not exist', run_id
            USING ERRCODE = 'TD584', HINT = 'See table ticketdesk.billing_run for the runs of this tenant.';
    END IF;
    RETURN result;
END $$;
COMMENT ON FUNCTION billing_export_json(bigint) IS
    'A billing run and its lines as JSON for an ERP (layout: doc/worktime.md).';
