-- Billing (R14): rates and fixed fees, monthly billing runs, the per-entry
-- ledger that makes every run bill each entry once, and the invoice lines
-- handed to the ERP.

-- Hourly rates per tenant, optionally per customer and per work type. The
-- most specific rate applies: customer and type, customer, type, default.
CREATE TABLE rate (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    rate_id     bigserial,
    customer_id bigint,
    work_type   work_type,
    hourly      numeric(12,2) NOT NULL,
    PRIMARY KEY (tenant_id, rate_id),
    CONSTRAINT rate_once UNIQUE NULLS NOT DISTINCT (tenant_id, customer_id, work_type),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customer
);
COMMENT ON TABLE rate IS 'Hourly rates: per tenant, optionally per customer and per work type (R14).';

-- A fixed fee per completed ticket of a type, optionally per customer.
CREATE TABLE ticket_fee (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    fee_id      bigserial,
    type_id     bigint NOT NULL,
    customer_id bigint,
    amount      numeric(12,2) NOT NULL,
    PRIMARY KEY (tenant_id, fee_id),
    CONSTRAINT ticket_fee_once UNIQUE NULLS NOT DISTINCT (tenant_id, type_id, customer_id),
    FOREIGN KEY (tenant_id, type_id) REFERENCES ticket_type,
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customer
);
COMMENT ON TABLE ticket_fee IS 'Fixed fees per completed ticket of a type, optionally per customer (R14).';

-- Refuses negative prices with their own SQLSTATE, whichever way they come.
-- The argument names the price column.
CREATE FUNCTION price_check() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    price numeric := (to_jsonb(NEW) ->> TG_ARGV[0])::numeric;
BEGIN
    IF price < 0 THEN
        RAISE EXCEPTION 'a % cannot be negative', CASE TG_TABLE_NAME WHEN 'rate' THEN 'rate' ELSE 'fee' END
            USING ERRCODE = 'TD580',
                  DETAIL = format('%s.%s is %s.', TG_TABLE_NAME, TG_ARGV[0], price),
                  HINT = 'Give a price of 0 or more; a credit comes from a correction of the billed time.';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER rate_price_check BEFORE INSERT OR UPDATE ON rate
    FOR EACH ROW EXECUTE FUNCTION price_check('hourly');
CREATE TRIGGER ticket_fee_price_check BEFORE INSERT OR UPDATE ON ticket_fee
    FOR EACH ROW EXECUTE FUNCTION price_check('amount');

-- One billing run per tenant and month.
CREATE TABLE billing_run (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    run_id      bigserial,
    month       date NOT NULL CHECK (month = date_trunc('month', month)),
    forced      boolean NOT NULL DEFAULT false,
    currency    text NOT NULL,
    lines       integer NOT NULL DEFAULT 0,
    total       numeric(14,2) NOT NULL DEFAULT 0,
    created_by  name NOT NULL DEFAULT current_user,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, run_id),
    UNIQUE (tenant_id, month)
);
COMMENT ON TABLE billing_run IS 'Monthly billing runs (R14): one per tenant and month.';

-- The invoice lines of a run: one per customer and item (R14).
CREATE TABLE billing_line (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    run_id      bigint NOT NULL,
    line_no     integer NOT NULL,
    customer_id bigint NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('work', 'correction', 'fee')),
    work_type   work_type,
    type_id     bigint,
    item        text NOT NULL,
    quantity    numeric(12,2) NOT NULL,
    unit        text NOT NULL CHECK (unit IN ('h', 'pcs')),
    unit_price  numeric(12,2) NOT NULL,
    amount      numeric(14,2) NOT NULL,
    minutes     integer,
    tickets     integer NOT NULL,
    entries     integer NOT NULL,
    PRIMARY KEY (tenant_id, run_id, line_no),
    FOREIGN KEY (tenant_id, run_id) REFERENCES billing_run,
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customer,
    FOREIGN KEY (tenant_id, type_id) REFERENCES ticket_type
);
COMMENT ON TABLE billing_line IS 'Invoice lines of a billing run, one per customer and item (R14).';

-- The ledger: what each run billed for each entry (work and corrections, in
-- minutes at a rate) and each ticket (fees). The sum over an entry's rows is
-- what has been billed for it so far; a later run bills only the difference.
CREATE TABLE billed_item (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    billed_id   bigserial,
    run_id      bigint NOT NULL,
    line_no     integer NOT NULL,
    ticket_id   bigint NOT NULL,
    entry_id    bigint,
    kind        text NOT NULL CHECK (kind IN ('work', 'correction', 'fee')),
    work_type   work_type,
    minutes     integer,
    unit_price  numeric(12,2) NOT NULL,
    PRIMARY KEY (tenant_id, billed_id),
    -- No foreign keys to the line, the ticket or the entry: a run writes the
    -- lines and the ledger in one statement, tickets are never deleted (their
    -- history refers to them), and trigger time_entry_delete refuses to delete
    -- a billed entry. A key check would lock every billed entry's row.
    CHECK ((kind = 'fee') = (entry_id IS NULL))
);
CREATE INDEX billed_item_entry_idx ON billed_item (tenant_id, entry_id) WHERE entry_id IS NOT NULL;
-- A ticket's fee is billed once.
CREATE UNIQUE INDEX billed_item_fee_once ON billed_item (tenant_id, ticket_id) WHERE kind = 'fee';
-- An entry is billed at most once per run.
CREATE UNIQUE INDEX billed_item_entry_once ON billed_item (tenant_id, run_id, entry_id, work_type)
    WHERE entry_id IS NOT NULL;
COMMENT ON TABLE billed_item IS 'Ledger of what each billing run billed per time entry and per ticket fee.';

-- The entries a billing run has to look at: new ones, and billed ones whose
-- time changed since. A trigger queues them; the run that bills an entry
-- removes it, in the same transaction as the ledger rows. changes counts
-- the changes, so a run never removes an entry changed while it billed it.
CREATE TABLE billing_due (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    entry_id    bigint NOT NULL,
    changes     integer NOT NULL DEFAULT 1,
    PRIMARY KEY (tenant_id, entry_id)
);
COMMENT ON TABLE billing_due IS 'Time entries due for the next billing run: not billed yet, or changed since billed.';

CREATE FUNCTION time_entry_due() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ticketdesk.billing_due AS q (tenant_id, entry_id) VALUES (NEW.tenant_id, NEW.entry_id)
        ON CONFLICT (tenant_id, entry_id) DO UPDATE SET changes = q.changes + 1;
    RETURN NULL;
END $$;
CREATE TRIGGER time_entry_due AFTER INSERT ON time_entry
    FOR EACH ROW EXECUTE FUNCTION time_entry_due();
CREATE TRIGGER time_entry_due_again AFTER UPDATE OF period, work_type ON time_entry
    FOR EACH ROW WHEN ((OLD.period, OLD.work_type) IS DISTINCT FROM (NEW.period, NEW.work_type))
    EXECUTE FUNCTION time_entry_due();

-- A billed entry stays: its ledger rows would lose their meaning. An entry
-- never billed may go, and leaves the queue with it.
CREATE FUNCTION time_entry_delete() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM ticketdesk.billed_item b WHERE b.tenant_id = OLD.tenant_id AND b.entry_id = OLD.entry_id) THEN
        RAISE EXCEPTION 'time entry % is billed and cannot be deleted', OLD.entry_id
            USING ERRCODE = 'TD587',
                  HINT = 'Correct it with ticketdesk.correct_time; the next billing run credits the difference.';
    END IF;
    DELETE FROM ticketdesk.billing_due q WHERE q.tenant_id = OLD.tenant_id AND q.entry_id = OLD.entry_id;
    RETURN OLD;
END $$;
CREATE TRIGGER time_entry_delete BEFORE DELETE ON time_entry
    FOR EACH ROW EXECUTE FUNCTION time_entry_delete();

-- Each entry's billing state: billed minutes and amount so far (the sum of
-- its ledger rows), the last run, and whether it is due for the next run.
CREATE VIEW time_entry_billing WITH (security_invoker = true) AS
SELECT e.tenant_id, e.entry_id, e.ticket_id,
       b.billed_minutes, b.billed_amount, b.last_run_id,
       b.last_run_id IS NOT NULL AS billed,
       q.entry_id IS NOT NULL AS due
  FROM time_entry e
  LEFT JOIN LATERAL (SELECT sum(i.minutes)::integer AS billed_minutes,
                            sum(round(i.minutes * i.unit_price / 60, 2)) AS billed_amount,
                            max(i.run_id) AS last_run_id
                       FROM billed_item i WHERE i.tenant_id = e.tenant_id AND i.entry_id = e.entry_id) b ON true
  LEFT JOIN billing_due q ON q.tenant_id = e.tenant_id AND q.entry_id = e.entry_id
 WHERE e.tenant_id = current_tenant();
COMMENT ON VIEW time_entry_billing IS
    'Per time entry: billed (has ledger rows), billed minutes and amount, last run, due for the next run.';

-- The export layout handed to an ERP (doc/worktime.md#export): one row per
-- invoice line, in line order. COPY it to CSV, or use billing_export_json.
CREATE VIEW billing_export WITH (security_invoker = true) AS
SELECT r.run_id, to_char(r.month, 'YYYY-MM') AS month, l.line_no,
       l.customer_id, c.tax_id AS customer_tax_id, c.name AS customer_name,
       l.kind, l.item, l.quantity, l.unit, l.unit_price, l.amount, r.currency,
       l.minutes, l.tickets, l.entries
  FROM billing_run r
  JOIN billing_line l ON l.tenant_id = r.tenant_id AND l.run_id = r.run_id
  JOIN customer c ON c.tenant_id = l.tenant_id AND c.customer_id = l.customer_id
 WHERE r.tenant_id = current_tenant();
COMMENT ON VIEW billing_export IS
    'Billing lines for the ERP, one row per line: COPY (SELECT * FROM billing_export WHERE run_id = …) TO STDOUT CSV HEADER.';
