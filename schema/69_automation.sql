-- Time-driven automation: auto-confirm and auto-close rules (R22),
-- reminders (R23, R31), the escalation ladder (R28, R32), and the notices
-- the jobs decide to send, each once.

-- After how many business days a resolved ticket is confirmed, and a
-- confirmed one closed, per centre and type (NULL matches any; the most
-- specific row wins). A NULL number switches that step off.
CREATE TABLE closing_rule (
    tenant_id          integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    closing_rule_id    bigserial,
    center_id          bigint,
    type_id            bigint,
    confirm_after_days integer,
    close_after_days   integer,
    -- The requester is reminded this many business days before the automatic confirmation.
    remind_before_days integer,
    PRIMARY KEY (tenant_id, closing_rule_id),
    UNIQUE NULLS NOT DISTINCT (tenant_id, center_id, type_id),
    FOREIGN KEY (tenant_id, center_id) REFERENCES center ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, type_id) REFERENCES ticket_type ON DELETE CASCADE
);
COMMENT ON TABLE closing_rule IS 'Auto-confirm and auto-close after N and M business days, per centre and type (R22).';

CREATE FUNCTION closing_rule_check() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.confirm_after_days < 0 OR NEW.close_after_days < 0 OR NEW.remind_before_days < 0 THEN
        RAISE EXCEPTION 'business days of a closing rule cannot be negative'
            USING ERRCODE = 'TD620',
                  DETAIL = format('confirm_after_days is %s, close_after_days %s, remind_before_days %s.',
                                  coalesce(NEW.confirm_after_days::text, 'unset'),
                                  coalesce(NEW.close_after_days::text, 'unset'),
                                  coalesce(NEW.remind_before_days::text, 'unset')),
                  HINT = 'Give 0 or more business days, or NULL to switch the step off.';
    END IF;
    IF NEW.remind_before_days IS NOT NULL AND NEW.remind_before_days >= coalesce(NEW.confirm_after_days, 0) THEN
        RAISE EXCEPTION 'the reminder must come after the resolution and before the automatic confirmation'
            USING ERRCODE = 'TD621',
                  DETAIL = format('remind_before_days is %s and confirm_after_days %s.',
                                  NEW.remind_before_days, coalesce(NEW.confirm_after_days::text, 'unset')),
                  HINT = 'Make remind_before_days smaller than confirm_after_days.';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER closing_rule_check BEFORE INSERT OR UPDATE ON closing_rule
    FOR EACH ROW EXECUTE FUNCTION closing_rule_check();

-- A reminder on a ticket (R23, R31): a lead time before its deadline or its
-- planned start, or a fixed moment; to the assignee and/or the delegator.
CREATE TABLE ticket_reminder (
    tenant_id     integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    reminder_id   bigserial,
    ticket_id     bigint NOT NULL,
    basis         text NOT NULL CHECK (basis IN ('deadline', 'planned_start', 'fixed')),
    lead          interval NOT NULL DEFAULT '0',
    remind_at     timestamptz,           -- for basis fixed
    to_assignee   boolean NOT NULL DEFAULT true,
    to_delegator  boolean NOT NULL DEFAULT false,
    note          text,
    created_by    bigint,
    sent_at       timestamptz,
    PRIMARY KEY (tenant_id, reminder_id),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES ticket,
    FOREIGN KEY (tenant_id, created_by) REFERENCES agent,
    CHECK ((basis = 'fixed') = (remind_at IS NOT NULL)),
    CHECK (lead >= interval '0'),
    CHECK (to_assignee OR to_delegator)
);
-- The job reads unsent reminders only.
CREATE INDEX ticket_reminder_unsent_idx ON ticket_reminder (tenant_id, ticket_id) WHERE sent_at IS NULL;
COMMENT ON TABLE ticket_reminder IS 'Reminders on tickets (R23, R31); sent once by remind_due.';

-- The escalation ladder for overdue tickets (R28, R32). Level 1 fires when the
-- deadline passes; each further level after its delay in business time.
CREATE TABLE escalation_level (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    level       smallint NOT NULL CHECK (level BETWEEN 1 AND 9),
    after       interval NOT NULL,      -- business time after the deadline
    notify      text NOT NULL CHECK (notify IN ('assignee_and_delegator', 'supervisor')),
    PRIMARY KEY (tenant_id, level)
);
COMMENT ON TABLE escalation_level IS 'Escalation ladder: who is told how long after a missed deadline (R28, R32).';

CREATE FUNCTION escalation_level_check() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.after < interval '0' OR extract(day FROM NEW.after) <> 0 OR extract(month FROM NEW.after) <> 0 THEN
        RAISE EXCEPTION 'an escalation delay is working time, 0 or more hours'
            USING ERRCODE = 'TD622', DETAIL = format('The delay of level %s is %s.', NEW.level, NEW.after),
                  HINT = 'Give the delay in hours and minutes of working time, e.g. 8 hours.';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER escalation_level_check BEFORE INSERT OR UPDATE ON escalation_level
    FOR EACH ROW EXECUTE FUNCTION escalation_level_check();

-- What the jobs decided to tell whom. The key makes each notice happen once:
-- a reminder id, an escalation level, or the resolution a confirmation
-- reminder is about. The notification outbox (issue 5) delivers them.
CREATE TABLE automation_notice (
    tenant_id      integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    notice_id      bigserial,
    ticket_id      bigint NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('reminder', 'overdue', 'escalation', 'confirm_reminder')),
    key            text NOT NULL,
    due_at         timestamptz NOT NULL,
    agent_ids      bigint[] NOT NULL DEFAULT '{}',
    contact_ids    bigint[] NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, notice_id),
    UNIQUE (tenant_id, ticket_id, kind, key),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES ticket
);
COMMENT ON TABLE automation_notice IS 'Notices decided by the jobs (reminders, overdue, escalations), each once per key.';

-- Due columns the jobs scan: only tickets in the relevant status are indexed,
-- so a sweep costs what is due, not the size of the table.
-- They select by phase, not status, as the queue indexes do (50_ticket.sql).
CREATE INDEX ticket_resolved_due_idx ON ticket (tenant_id, resolved_at) WHERE phase = 'resolved';
CREATE INDEX ticket_confirmed_due_idx ON ticket (tenant_id, confirmed_at) WHERE phase = 'confirmed';
CREATE INDEX ticket_deadline_open_idx ON ticket (tenant_id, deadline)
    WHERE deadline IS NOT NULL AND phase = 'open';

-- The notification texts of the automation notices, in English (the outbox
-- falls back to English for other languages). seed_tenant calls it.
CREATE FUNCTION seed_automation(tenant integer, seeded boolean DEFAULT false) RETURNS void
    LANGUAGE sql AS $$
    INSERT INTO ticketdesk.notify_template (tenant_id, event, channel, language, subject, body_text, seeded)
    SELECT seed_automation.tenant, t.event, t.channel, 'en', t.subject, t.body, seed_automation.seeded
      FROM (VALUES
        ('due_reminder', 'email', 'Reminder: {{subject}}', $t$Hello {{recipient}},

this is a reminder about {{reference}} "{{subject}}".
Deadline: {{deadline}}
{{note}}

{{link}}$t$),
        ('due_reminder', 'sms', NULL, 'Reminder {{reference}}: {{subject}}, due {{deadline}}. {{note}} {{link}}'),
        ('escalation', 'email', 'Overdue: {{subject}}', $t$Hello {{recipient}},

{{reference}} "{{subject}}" is overdue: its deadline was {{deadline}}.
Assignee: {{assignee}}
Priority: {{priority}}
{{note}}

{{link}}$t$),
        ('escalation', 'sms', NULL, 'Overdue {{reference}} (due {{deadline}}, {{assignee}}): {{subject}} {{link}}'),
        ('confirm_reminder', 'email', 'Is your request solved? {{subject}}', $t$Hello {{recipient}},

we resolved your request {{reference}} "{{subject}}":
{{resolution}}

{{note}}

{{link}}

Kind regards,
{{sender}}$t$),
        ('confirm_reminder', 'sms', NULL, '{{reference}} is resolved; reply if it is not, or it will be confirmed automatically. {{link}}')
      ) AS t(event, channel, subject, body)
$$;
COMMENT ON FUNCTION seed_automation(integer, boolean) IS
    'Fills a tenant''s notification texts for reminders, escalations and confirmation reminders (internal; seed_tenant calls it).';
