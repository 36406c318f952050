-- The work-completion act (R12): a printable HTML document, or plain text,
-- in the requester's language, for one ticket or a customer's period.

-- The act's wording in the five default languages.
CREATE FUNCTION act_label(language text, key text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT '{
      "en": {"title": "Work completion act", "customer": "Customer", "tax_id": "Tax ID", "site": "Site",
             "period": "Period", "ticket": "Ticket", "subject": "Subject", "work_done": "Work done",
             "status": "Status", "approved": "Approved by", "date": "Date", "time": "Time",
             "agent": "Technician", "work_type": "Work type", "minutes": "Minutes", "note": "Note",
             "confirmed": "Confirmed by", "not_confirmed": "not confirmed", "corrected": "corrected, originally",
             "ticket_total": "Ticket total", "total": "Total", "hours": "h:mm",
             "normal": "Normal work", "travel": "Travel", "after_hours": "After-hours work",
             "performed_by": "Performed by", "accepted_by": "Accepted by", "signature": "name, date, signature"},
      "lt": {"title": "Atliktų darbų aktas", "customer": "Užsakovas", "tax_id": "Įmonės kodas", "site": "Objektas",
             "period": "Laikotarpis", "ticket": "Užklausa", "subject": "Tema", "work_done": "Atlikti darbai",
             "status": "Būsena", "approved": "Patvirtino vadovas", "date": "Data", "time": "Laikas",
             "agent": "Technikas", "work_type": "Darbo rūšis", "minutes": "Minutės", "note": "Pastaba",
             "confirmed": "Patvirtino", "not_confirmed": "nepatvirtinta", "corrected": "pataisyta, buvo",
             "ticket_total": "Iš viso užklausai", "total": "Iš viso", "hours": "val:min",
             "normal": "Įprastas darbas", "travel": "Kelionė", "after_hours": "Darbas ne darbo valandomis",
             "performed_by": "Darbus atliko", "accepted_by": "Darbus priėmė", "signature": "vardas, pavardė, data, parašas"},
      "pl": {"title": "Protokół wykonania prac", "customer": "Klient", "tax_id": "NIP", "site": "Miejsce",
             "period": "Okres", "ticket": "Zgłoszenie", "subject": "Temat", "work_done": "Wykonane prace",
             "status": "Status", "approved": "Zatwierdził kierownik", "date": "Data", "time": "Czas",
             "agent": "Technik", "work_type": "Rodzaj pracy", "minutes": "Minuty", "note": "Uwagi",
             "confirmed": "Potwierdził", "not_confirmed": "niepotwierdzone", "corrected": "poprawiono, pierwotnie",
             "ticket_total": "Razem zgłoszenie", "total": "Razem", "hours": "godz:min",
             "normal": "Praca standardowa", "travel": "Dojazd", "after_hours": "Praca po godzinach",
             "performed_by": "Wykonał", "accepted_by": "Odebrał", "signature": "imię i nazwisko, data, podpis"},
      "he": {"title": "דוח ביצוע עבודה", "customer": "לקוח", "tax_id": "ח.פ.", "site": "אתר",
             "period": "תקופה", "ticket": "קריאה", "subject": "נושא", "work_done": "העבודה שבוצעה",
             "status": "מצב", "approved": "אושר על ידי המנהל", "date": "תאריך", "time": "שעות",
             "agent": "טכנאי", "work_type": "סוג עבודה", "minutes": "דקות", "note": "הערה",
             "confirmed": "אושר על ידי", "not_confirmed": "לא אושר", "corrected": "תוקן, במקור",
             "ticket_total": "סה״כ לקריאה", "total": "סה״כ", "hours": "שעות:דקות",
             "normal": "עבודה רגילה", "travel": "נסיעה", "after_hours": "עבודה מחוץ לשעות העבודה",
             "performed_by": "בוצע על ידי", "accepted_by": "התקבל על ידי", "signature": "שם, תאריך, חתימה"},
      "ro": {"title": "Proces-verbal de execuție a lucrărilor", "customer": "Client", "tax_id": "CUI", "site": "Locație",
             "period": "Perioada", "ticket": "Solicitare", "subject": "Subiect", "work_done": "Lucrări efectuate",
             "status": "Stare", "approved": "Aprobat de manager", "date": "Data", "time": "Interval",
             "agent": "Tehnician", "work_type": "Tip de lucru", "minutes": "Minute", "note": "Notă",
             "confirmed": "Confirmat de", "not_confirmed": "neconfirmat", "corrected": "corectat, inițial",
             "ticket_total": "Total solicitare", "total": "Total", "hours": "ore:min",
             "normal": "Lucru normal", "travel": "Deplasare", "after_hours": "Lucru în afara programului",
             "performed_by": "Executat de", "accepted_by": "Recepționat de", "signature": "nume, data, semnătura"}
    }'::jsonb -> language ->> key
$$;
COMMENT ON FUNCTION act_label(text, text) IS 'The act''s wording for a key in one of en, lt, pl, he, ro.';

-- Escapes text for HTML element content and attribute values.
CREATE FUNCTION html_escape(value text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT replace(replace(replace(replace(replace(value, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'),
                           '"', '&quot;'), '''', '&#39;')
$$;
COMMENT ON FUNCTION html_escape(text) IS 'Escapes & < > " and '' for HTML.';

-- Internal: minutes as h:mm.
CREATE FUNCTION hours_text(minutes bigint) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
    SELECT format('%s%s:%s', CASE WHEN minutes < 0 THEN '-' ELSE '' END, abs(minutes) / 60,
                  lpad((abs(minutes) % 60)::text, 2, '0'))
$$;

-- Internal: renders the act over the given tickets' entries within a period.
CREATE FUNCTION render_act(customer_id bigint, tickets bigint[], period tstzrange, format text, language text)
    RETURNS text
    LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_variable
DECLARE
    t     integer := ticketdesk.current_tenant();
    html  boolean := format = 'html';
    L     text := language;
    cu    ticketdesk.customer;
    k     record;
    e     record;
    w     record;
    out   text := '';
    sites text;
    last_moment timestamptz;
    grand bigint := 0;
BEGIN
    IF format IS NULL OR format NOT IN ('html', 'text') THEN
        RAISE EXCEPTION 'unknown act format "%"', format
            USING ERRCODE = 'TD586', HINT = 'The act is produced as html or text.';
    END IF;
    IF ticketdesk.act_label(L, 'title') IS NULL THEN
        RAISE EXCEPTION 'the act is not available in language "%"', L
            USING ERRCODE = 'TD585', HINT = 'Use one of en, lt, pl, he, ro.';
    END IF;
    SELECT * INTO cu FROM ticketdesk.customer c WHERE c.tenant_id = t AND c.customer_id = render_act.customer_id;
    SELECT string_agg(DISTINCT s.address, '; ') INTO sites
      FROM ticketdesk.ticket x JOIN ticketdesk.site s ON s.tenant_id = x.tenant_id AND s.site_id = x.site_id
     WHERE x.tenant_id = t AND x.ticket_id = ANY (tickets);
    IF period IS NULL THEN
        SELECT tstzrange(min(lower(x.period)), max(upper(x.period)), '[]') INTO period
          FROM ticketdesk.time_entry x WHERE x.tenant_id = t AND x.ticket_id = ANY (tickets) AND NOT upper_inf(x.period);
    END IF;

    -- The last day shown: the period's end is exclusive.
    last_moment := upper(period) - interval '1 microsecond';

    IF html THEN
        out := format(E'<!DOCTYPE html>\n<html lang="%s" dir="%s">\n<head>\n<meta charset="utf-8">\n<title>%s</title>\n'
                      || '<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;width:100%%}'
                      || 'th,td{border:1px solid #888;padding:.3em;text-align:start}'
                      || '.sign{margin-top:3em;display:flex;gap:4em}.sign div{border-top:1px solid #000;flex:1}'
                      || E'@media print{body{margin:0}}</style>\n</head>\n<body>\n<h1>%s</h1>\n<dl>\n',
                      L, CASE WHEN L = 'he' THEN 'rtl' ELSE 'ltr' END,
                      ticketdesk.act_label(L, 'title'), ticketdesk.act_label(L, 'title'));
        out := out || format(E'<dt>%s</dt><dd>%s%s</dd>\n', ticketdesk.act_label(L, 'customer'),
                             ticketdesk.html_escape(coalesce(cu.name, '-')),
                             coalesce(' (' || ticketdesk.act_label(L, 'tax_id') || ' ' || ticketdesk.html_escape(cu.tax_id) || ')', ''));
        IF sites IS NOT NULL THEN
            out := out || format(E'<dt>%s</dt><dd>%s</dd>\n', ticketdesk.act_label(L, 'site'), ticketdesk.html_escape(sites));
        END IF;
        out := out || format(E'<dt>%s</dt><dd>%s</dd>\n</dl>\n', ticketdesk.act_label(L, 'period'),
                             coalesce(to_char(lower(period), 'YYYY-MM-DD') || ' – ' || to_char(last_moment, 'YYYY-MM-DD'), '-'));
    ELSE
        out := upper(ticketdesk.act_label(L, 'title')) || E'\n\n'
            || format(E'%s: %s%s\n', ticketdesk.act_label(L, 'customer'), coalesce(cu.name, '-'),
                      coalesce(' (' || ticketdesk.act_label(L, 'tax_id') || ' ' || cu.tax_id || ')', ''))
            || coalesce(ticketdesk.act_label(L, 'site') || ': ' || sites || E'\n', '')
            || format(E'%s: %s\n', ticketdesk.act_label(L, 'period'),
                      coalesce(to_char(lower(period), 'YYYY-MM-DD') || ' - ' || to_char(last_moment, 'YYYY-MM-DD'), '-'));
    END IF;

    FOR k IN
        SELECT x.ticket_id, x.reference, x.subject, x.status, x.resolution,
               (SELECT a.name FROM ticketdesk.approval p
                  JOIN ticketdesk.agent a ON a.tenant_id = p.tenant_id AND a.agent_id = p.decided_by
                 WHERE p.tenant_id = x.tenant_id AND p.ticket_id = x.ticket_id AND p.resolved_at = x.resolved_at
                   AND ticketdesk.ticket_approved(x.tenant_id, x.ticket_id, x.resolved_at)
                 ORDER BY p.approval_id DESC LIMIT 1) AS approved_by
          FROM ticketdesk.ticket x
         WHERE x.tenant_id = t AND x.ticket_id = ANY (tickets)
         ORDER BY x.ticket_id
    LOOP
        IF html THEN
            out := out || format(E'<h2>%s %s: %s</h2>\n<p>%s: %s</p>\n', ticketdesk.act_label(L, 'ticket'),
                                 k.reference, ticketdesk.html_escape(k.subject),
                                 ticketdesk.act_label(L, 'work_done'), ticketdesk.html_escape(coalesce(k.resolution, '-')))
                || coalesce('<p>' || ticketdesk.act_label(L, 'approved') || ': '
                            || ticketdesk.html_escape(k.approved_by) || E'</p>\n', '')
                || format(E'<table>\n<tr><th>%s</th><th>%s</th><th>%s</th><th>%s</th><th>%s</th><th>%s</th></tr>\n',
                          ticketdesk.act_label(L, 'time'), ticketdesk.act_label(L, 'agent'),
                          ticketdesk.act_label(L, 'work_type'), ticketdesk.act_label(L, 'minutes'),
                          ticketdesk.act_label(L, 'confirmed'), ticketdesk.act_label(L, 'note'));
        ELSE
            out := out || format(E'\n%s %s: %s\n%s: %s\n', ticketdesk.act_label(L, 'ticket'), k.reference, k.subject,
                                 ticketdesk.act_label(L, 'work_done'), coalesce(k.resolution, '-'))
                || coalesce(ticketdesk.act_label(L, 'approved') || ': ' || k.approved_by || E'\n', '');
        END IF;
        FOR e IN
            SELECT x.period, x.work_type, x.minutes, x.note, x.confirmed_by, x.original_period, x.original_type,
                   a.name AS agent
              FROM ticketdesk.time_entry x
              JOIN ticketdesk.agent a ON a.tenant_id = x.tenant_id AND a.agent_id = x.agent_id
             WHERE x.tenant_id = t AND x.ticket_id = k.ticket_id AND NOT upper_inf(x.period)
               AND x.period && period
             ORDER BY lower(x.period), x.entry_id
        LOOP
            IF html THEN
                out := out || format(E'<tr><td>%s%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n',
                                     ticketdesk.period_text(e.period),
                                     coalesce(' <small>(' || ticketdesk.act_label(L, 'corrected') || ' '
                                              || ticketdesk.period_text(e.original_period) || ')</small>', ''),
                                     ticketdesk.html_escape(e.agent), ticketdesk.act_label(L, e.work_type::text),
                                     e.minutes,
                                     coalesce(ticketdesk.html_escape(e.confirmed_by), ticketdesk.act_label(L, 'not_confirmed')),
                                     coalesce(ticketdesk.html_escape(e.note), ''));
            ELSE
                out := out || format(E'  %s  %s  %s  %s min  %s: %s%s%s\n',
                                     ticketdesk.period_text(e.period), e.agent, ticketdesk.act_label(L, e.work_type::text),
                                     e.minutes, ticketdesk.act_label(L, 'confirmed'),
                                     coalesce(e.confirmed_by, ticketdesk.act_label(L, 'not_confirmed')),
                                     coalesce(' (' || ticketdesk.act_label(L, 'corrected') || ' '
                                              || ticketdesk.period_text(e.original_period) || ')', ''),
                                     coalesce('  ' || e.note, ''));
            END IF;
        END LOOP;
        SELECT coalesce(sum(x.minutes), 0) AS m INTO w FROM ticketdesk.time_entry x
         WHERE x.tenant_id = t AND x.ticket_id = k.ticket_id AND NOT upper_inf(x.period) AND x.period && period;
        grand := grand + w.m;
        IF html THEN
            out := out || format(E'<tr><th colspan="3">%s</th><th>%s</th><th colspan="2">%s %s</th></tr>\n</table>\n',
                                 ticketdesk.act_label(L, 'ticket_total'), w.m, ticketdesk.hours_text(w.m),
                                 ticketdesk.act_label(L, 'hours'));
        ELSE
            out := out || format(E'  %s: %s min (%s %s)\n', ticketdesk.act_label(L, 'ticket_total'), w.m,
                                 ticketdesk.hours_text(w.m), ticketdesk.act_label(L, 'hours'));
        END IF;
    END LOOP;

    -- Totals per work type, then the grand total and the signatures.
    out := out || CASE WHEN html THEN format(E'<h2>%s</h2>\n<table>\n', ticketdesk.act_label(L, 'total'))
                       ELSE format(E'\n%s:\n', ticketdesk.act_label(L, 'total')) END;
    FOR w IN
        SELECT x.work_type, sum(x.minutes) AS m FROM ticketdesk.time_entry x
         WHERE x.tenant_id = t AND x.ticket_id = ANY (tickets) AND NOT upper_inf(x.period) AND x.period && period
         GROUP BY x.work_type ORDER BY x.work_type
    LOOP
        out := out || format(CASE WHEN html THEN E'<tr><td>%s</td><td>%s</td><td>%s %s</td></tr>\n'
                                  ELSE E'  %s: %s min (%s %s)\n' END,
                             ticketdesk.act_label(L, w.work_type::text), w.m, ticketdesk.hours_text(w.m),
                             ticketdesk.act_label(L, 'hours'));
    END LOOP;
    IF html THEN
        out := out || format(E'<tr><th>%s</th><th>%s</th><th>%s %s</th></tr>\n</table>\n'
                             || E'<div class="sign"><div>%s<br><small>%s</small></div><div>%s<br><small>%s</small></div></div>\n'
                             || E'</body>\n</html>\n',
                             ticketdesk.act_label(L, 'total'), grand, ticketdesk.hours_text(grand), ticketdesk.act_label(L, 'hours'),
                             ticketdesk.act_label(L, 'performed_by'), ticketdesk.act_label(L, 'signature'),
                             ticketdesk.act_label(L, 'accepted_by'), ticketdesk.act_label(L, 'signature'));
    ELSE
        out := out || format(E'  %s: %s min (%s %s)\n\n%s: ____________________\n%s: ____________________\n',
                             ticketdesk.act_label(L, 'total'), grand, ticketdesk.hours_text(grand), ticketdesk.act_label(L, 'hours'),
                             ticketdesk.act_label(L, 'performed_by'), ticketdesk.act_label(L, 'accepted_by'));
    END IF;
    RETURN out;
END $$;

-- The act for one ticket (R12), in the requester's language unless one is given.
CREATE FUNCTION work_act(ticket_id bigint, format text DEFAULT 'html', language text DEFAULT NULL) RETURNS text
    LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_variable
DECLARE
    k    ticketdesk.ticket;
    lang text;
BEGIN
    SELECT * INTO k FROM ticketdesk.ticket x
     WHERE x.tenant_id = ticketdesk.current_tenant() AND x.ticket_id = work_act.ticket_id;
    IF NOT FOUND THEN
        PERFORM ticketdesk.raise_not_found('ticket', ticket_id);
    END IF;
    SELECT coalesce(c.language, a.language) INTO lang
      FROM (SELECT 1) one
      LEFT JOIN ticketdesk.contact c ON c.tenant_id = k.tenant_id AND c.contact_id = k.contact_id
      LEFT JOIN ticketdesk.agent a ON a.tenant_id = k.tenant_id AND a.agent_id = k.requester_agent_id;
    IF language IS NULL AND ticketdesk.act_label(lang, 'title') IS NULL THEN
        lang := 'en';
    END IF;
    RETURN ticketdesk.render_act(k.customer_id, ARRAY[k.ticket_id], NULL, format, coalesce(language, lang));
END $$;
COMMENT ON FUNCTION work_act(bigint, text, text) IS
    'The work-completion act of a ticket (R12) as html or text, in the requester''s language (en, lt, pl, he, ro) unless given.';

-- The act for a customer's tickets with time in a period (R12). The language
-- defaults to that of the customer's first contact person.
CREATE FUNCTION customer_work_act(customer_id bigint, period_from date, period_to date,
                                  format text DEFAULT 'html', language text DEFAULT NULL) RETURNS text
    LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_variable
DECLARE
    t       integer := ticketdesk.current_tenant();
    span    tstzrange;
    tickets bigint[];
    lang    text;
BEGIN
    PERFORM ticketdesk.require('customer', customer_id);
    IF period_from IS NULL OR period_to IS NULL OR period_to < period_from THEN
        RAISE EXCEPTION 'an act needs a period from one day to the same or a later day'
            USING ERRCODE = 'TD560',
                  DETAIL = format('The period runs from %s to %s.', coalesce(to_char(period_from, 'YYYY-MM-DD'), 'nothing'),
                                  coalesce(to_char(period_to, 'YYYY-MM-DD'), 'nothing')),
                  HINT = 'Give period_from and period_to, e.g. the first and last day of a month.';
    END IF;
    span := tstzrange(period_from::timestamptz, (period_to + 1)::timestamptz);
    SELECT array_agg(DISTINCT e.ticket_id ORDER BY e.ticket_id) INTO tickets
      FROM ticketdesk.time_entry e
      JOIN ticketdesk.ticket k ON k.tenant_id = e.tenant_id AND k.ticket_id = e.ticket_id
     WHERE e.tenant_id = t AND k.customer_id = customer_work_act.customer_id AND e.period && span
       AND NOT upper_inf(e.period);
    SELECT c.language INTO lang FROM ticketdesk.contact c
     WHERE c.tenant_id = t AND c.customer_id = customer_work_act.customer_id ORDER BY c.contact_id LIMIT 1;
    IF language IS NULL AND ticketdesk.act_label(lang, 'title') IS NULL THEN
        lang := 'en';
    END IF;
    RETURN ticketdesk.render_act(customer_id, coalesce(tickets, '{}'), span, format, coalesce(language, lang));
END $$;
COMMENT ON FUNCTION customer_work_act(bigint, date, date, text, text) IS
    'The work-completion act of a customer''s tickets with time in a period (R12), as html or text.';
