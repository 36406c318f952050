-- Notifications: the durable outbox, the templates the messages are
-- rendered from, the channel policy and the recipients' own preferences.
-- doc/notify.md tells the whole story.

-- Where a message stands. queued: waiting for its next try; sending: claimed
-- by the worker under a lease; sent; dead: gave up after the last try, with
-- the error kept; cancelled: stopped by an admin.
CREATE TYPE outbox_status AS ENUM ('queued', 'sending', 'sent', 'dead', 'cancelled');

-- A new message's key: ordered by time, so that keys are added at the
-- right edge of their unique index, and random in the rest (src/message_key.c).
CREATE FUNCTION message_key_new() RETURNS uuid
    LANGUAGE c VOLATILE PARALLEL SAFE AS 'MODULE_PATHNAME', 'ticketdesk_message_key_new';
COMMENT ON FUNCTION message_key_new() IS
    'A new outbox message key: a version 7 UUID, 48 bits of Unix time in milliseconds and 74 random bits.';

-- The value rules of the outbox's columns are domains, not table CHECKs:
-- PostgreSQL 15 plans a table's CHECK constraints again for every statement
-- that writes it (the notification INSERT of each ticket change, each claim
-- and each result); a domain's rule is planned once per session and
-- checked only on the values a statement assigns (schema/00_types.sql).
-- Their rules are C functions (src/notify_values.c), not regular
-- expressions: the same rules at a tenth of the cost.
CREATE FUNCTION notify_event_valid(text) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'ticketdesk_notify_event_valid';
COMMENT ON FUNCTION notify_event_valid(text) IS
    'The check of domain notify_event: 1 to 40 characters, each a to z or "_" (as ''^[a-z_]{1,40}$'').';
CREATE FUNCTION language_code_valid(text) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'ticketdesk_language_code_valid';
COMMENT ON FUNCTION language_code_valid(text) IS
    'The check of domain language_code: two characters a to z (as ''^[a-z]{2}$'').';
CREATE FUNCTION not_blank(text) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'ticketdesk_not_blank';
COMMENT ON FUNCTION not_blank(text) IS
    'The check of domain notify_recipient: a character that is not a space (as ''\S'').';
CREATE DOMAIN notify_event AS text CHECK (notify_event_valid(VALUE));
COMMENT ON DOMAIN notify_event IS 'A notification event name: 1 to 40 lower-case letters or "_".';
CREATE DOMAIN notify_channel AS text CHECK (VALUE IN ('email', 'sms', 'webhook'));
COMMENT ON DOMAIN notify_channel IS 'A notification channel: email, sms or webhook.';
CREATE DOMAIN notify_recipient AS text CHECK (not_blank(VALUE));
COMMENT ON DOMAIN notify_recipient IS 'A mail address, a phone number, or "-" for a webhook: not blank.';
CREATE DOMAIN language_code AS text CHECK (language_code_valid(VALUE));
COMMENT ON DOMAIN language_code IS 'A two-letter ISO 639-1 language code, lower case.';

-- One message to one recipient over one channel. The transaction that
-- changes a ticket writes only who gets what (event, recipient, channel,
-- language, the key); the text is rendered from the templates when the
-- worker claims the row, and stored on it with the result of the first
-- attempt, so every retry sends the same text. outbox_message shows any
-- row as it is or will be sent.
CREATE TABLE outbox (
    tenant_id       integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    outbox_id       bigserial,
    ticket_id       bigint,
    event_id        bigint,             -- the ticket_event that caused it, if any
    event           notify_event NOT NULL,
    channel         notify_channel NOT NULL,
    recipient       notify_recipient NOT NULL,   -- mail address, phone number, or '-' for a webhook
    recipient_name  text,
    agent_id        bigint,             -- the recipient, when an agent
    contact_id      bigint,             -- the recipient, when a contact person
    -- The recipient's language when queued; the text's (the template's) once rendered.
    language        language_code NOT NULL DEFAULT 'en',
    sender_name     text,               -- the mail is sent in this person's name (R41); NULL: chosen when rendered
    thread          text,               -- the ticket reference: subject tag and mail thread
    note            text,               -- {{note}}: the note of the change, e.g. the reason of a rejection
    vars            jsonb,              -- more placeholder values given when queued (enqueue's vars)
    subject         text,               -- the rendered text: NULL until the first attempt is recorded
    body_text       text,
    body_html       text,
    payload         jsonb,              -- the JSON body of an HTTP channel
    -- Stable per row: the Message-ID of a mail, the idempotency key of a POST.
    message_key     uuid NOT NULL DEFAULT message_key_new(),
    status          outbox_status NOT NULL DEFAULT 'queued',
    attempts        integer NOT NULL DEFAULT 0,
    -- When it is due; NULL once sent, dead or cancelled. A claimed row keeps
    -- it and is due again when its lease (leased_until) runs out.
    next_attempt_at timestamptz DEFAULT now(),
    leased_until    timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    PRIMARY KEY (tenant_id, outbox_id),
    UNIQUE (tenant_id, message_key),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES ticket,
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agent,
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contact,
    CHECK (body_text IS NOT NULL OR ticket_id IS NOT NULL),
    CHECK (body_text IS NULL OR channel <> 'email' OR subject IS NOT NULL)
) WITH (fillfactor = 45);
-- The worker's claim reads the due rows only: its cost follows the backlog.
-- No index names status, leased_until or attempts, the columns a claim
-- changes, so a claim is a HOT update and writes no index entry, provided
-- the new version fits on the page. A claim takes the rows queued together,
-- so it needs room for a second copy of every row of a page: with the fill
-- factor at 70 only 4 claims in 9 were HOT when many rows were queued at
-- once, at 45 all are. (The result changes indexed columns, next_attempt_at
-- and sent_at, and adds the text: it moves the row in any case.)
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
-- One message per event, channel and recipient, however often it is queued
-- (an event is of one ticket, so naming the ticket first changes nothing of
-- that; a message of no event is never a duplicate, its event_id being
-- NULL). Led by the ticket, the same index finds a ticket's messages (its
-- foreign key's look-ups among them): outbox has no index of the ticket
-- alone, one index entry less for every message queued and recorded. A
-- constraint, not a bare index, so that ON CONFLICT can name it: a column
-- list there would meet notify_queue's parameter ticket_id.
ALTER TABLE outbox ADD CONSTRAINT outbox_event_once UNIQUE (tenant_id, ticket_id, event_id, event, channel, recipient);
-- Retention prunes sent rows by age.
CREATE INDEX outbox_sent_idx ON outbox (sent_at) WHERE sent_at IS NOT NULL;
COMMENT ON TABLE outbox IS
    'Durable outbox of notifications (e-mail, SMS, webhook): recipient, status, attempts, next try, last error; the text once sent (outbox_message renders it before).';

-- The text of a notification, per event, channel and language. Rows made by
-- CREATE EXTENSION are seeded; a tenant overrides one by adding its own row
-- for the same event, channel and language.
CREATE TABLE notify_template (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    template_id bigserial,
    event       text NOT NULL CHECK (event ~ '^[a-z_]{1,40}$'),
    channel     text NOT NULL CHECK (channel IN ('email', 'sms')),
    language    text NOT NULL CHECK (language ~ '^[a-z]{2}$'),
    subject     text,               -- e-mail only; the reference tag is added in front
    body_text   text NOT NULL CHECK (body_text ~ '\S'),
    body_html   text,               -- e-mail only; NULL: made from body_text
    seeded      boolean NOT NULL DEFAULT false,
    PRIMARY KEY (tenant_id, template_id),
    UNIQUE (tenant_id, event, channel, language, seeded),
    CHECK (channel <> 'email' OR subject IS NOT NULL)
);
COMMENT ON TABLE notify_template IS
    'Notification texts per event, channel and language, with {{placeholders}}; a tenant row overrides a built-in one.';

-- Which channels an event goes by, per tenant, event and priority (R30).
-- The most specific row wins: an event's own row over event '*', a
-- priority's own row over priority NULL, a tenant's row over a built-in one.
-- channels is what is sent; allowed is what a recipient's own preference
-- may choose from (R09).
CREATE TABLE notify_policy (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    policy_id   bigserial,
    event       text NOT NULL DEFAULT '*' CHECK (event ~ '^([a-z_]{1,40}|\*)$'),
    priority    ticket_priority,
    channels    text[] NOT NULL CHECK (channels <@ ARRAY['email', 'sms'] AND cardinality(channels) > 0),
    allowed     text[] NOT NULL CHECK (allowed <@ ARRAY['email', 'sms']),
    seeded      boolean NOT NULL DEFAULT false,
    PRIMARY KEY (tenant_id, policy_id),
    UNIQUE NULLS NOT DISTINCT (tenant_id, event, priority, seeded),
    CHECK (channels <@ allowed)
);
COMMENT ON TABLE notify_policy IS
    'Channel policy per event and priority (R30): the channels sent, and those a recipient''s preference may pick (R09).';

-- A person's own choice of channels (R09). For contacts without a row here,
-- contact.preferred_channel counts ('sms' or 'email'; 'phone' states none).
CREATE TABLE notify_preference (
    tenant_id     integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    preference_id bigserial,
    agent_id      bigint,
    contact_id    bigint,
    channels      text[] NOT NULL CHECK (channels <@ ARRAY['email', 'sms'] AND cardinality(channels) > 0),
    PRIMARY KEY (tenant_id, preference_id),
    UNIQUE NULLS NOT DISTINCT (tenant_id, agent_id, contact_id),
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agent,
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contact,
    CHECK (num_nonnulls(agent_id, contact_id) = 1)
);
COMMENT ON TABLE notify_preference IS 'The channels an agent or contact prefers (R09), honoured where the policy allows.';

-- Fills a tenant's default channel policy and notification texts in English,
-- Lithuanian, Polish, Hebrew and Romanian. seed_tenant calls it.
-- Placeholders: {{reference}} {{subject}} {{description}} {{priority}}
-- {{status}} {{center}} {{assignee}} {{requester}} {{recipient}} {{sender}}
-- {{link}} {{deadline}} {{resolution}} {{note}}.
CREATE FUNCTION seed_notify(tenant integer, seeded boolean DEFAULT false) RETURNS void
    LANGUAGE sql AS $seed$
    -- R30: every priority by e-mail; high and urgent also by SMS.
    INSERT INTO ticketdesk.notify_policy (tenant_id, event, priority, channels, allowed, seeded)
    VALUES (seed_notify.tenant, '*', NULL, '{email}', '{email}', seed_notify.seeded),
           (seed_notify.tenant, '*', 'high', '{email,sms}', '{email,sms}', seed_notify.seeded),
           (seed_notify.tenant, '*', 'urgent', '{email,sms}', '{email,sms}', seed_notify.seeded);

    INSERT INTO ticketdesk.notify_template (tenant_id, event, channel, language, subject, body_text, seeded)
    SELECT seed_notify.tenant, t.event, 'email', t.language, t.subject, t.body, seed_notify.seeded
      FROM (VALUES
    -- registered: to the requester, in the name of the handling agent (R05, R41)
    ('registered', 'en', 'Thank you for your request: {{subject}}', $t$Hello {{recipient}},

thank you for your request. We have registered it under the reference {{reference}} and will get back to you as soon as possible.

Subject: {{subject}}
Priority: {{priority}}

You can follow your request here: {{link}}

Kind regards,
{{sender}}$t$),
    ('registered', 'lt', 'Dėkojame už jūsų užklausą: {{subject}}', $t$Laba diena,

dėkojame už jūsų užklausą. Ją užregistravome numeriu {{reference}} ir atsakysime kuo greičiau.

Tema: {{subject}}
Prioritetas: {{priority}}

Užklausos eigą galite stebėti čia: {{link}}

Pagarbiai
{{sender}}$t$),
    ('registered', 'pl', 'Dziękujemy za zgłoszenie: {{subject}}', $t$Dzień dobry,

dziękujemy za Państwa zgłoszenie. Zarejestrowaliśmy je pod numerem {{reference}} i odpowiemy najszybciej, jak to możliwe.

Temat: {{subject}}
Priorytet: {{priority}}

Postęp zgłoszenia można śledzić tutaj: {{link}}

Z poważaniem
{{sender}}$t$),
    ('registered', 'he', 'תודה על פנייתך: {{subject}}', $t$שלום {{recipient}},

תודה על פנייתך. רשמנו אותה תחת מספר {{reference}} ונחזור אליך בהקדם האפשרי.

נושא: {{subject}}
עדיפות: {{priority}}

אפשר לעקוב אחר הפנייה כאן: {{link}}

בברכה,
{{sender}}$t$),
    ('registered', 'ro', 'Vă mulțumim pentru solicitare: {{subject}}', $t$Bună ziua, {{recipient}},

vă mulțumim pentru solicitare. Am înregistrat-o cu numărul {{reference}} și vă vom răspunde cât mai curând posibil.

Subiect: {{subject}}
Prioritate: {{priority}}

Puteți urmări solicitarea aici: {{link}}

Cu stimă,
{{sender}}$t$),

    -- assigned: to the new assignee (R09, R28, R40, R51)
    ('assigned', 'en', 'Assigned to you: {{subject}}', $t$Hello {{recipient}},

ticket {{reference}} has been assigned to you.

Subject: {{subject}}
Priority: {{priority}}
Requester: {{requester}}
Due: {{deadline}}

{{description}}

Please acknowledge or reject it here: {{link}}$t$),
    ('assigned', 'lt', 'Jums priskirta užduotis: {{subject}}', $t$Laba diena,

jums priskirta užklausa {{reference}}.

Tema: {{subject}}
Prioritetas: {{priority}}
Užsakovas: {{requester}}
Terminas: {{deadline}}

{{description}}

Patvirtinkite arba atmeskite ją čia: {{link}}$t$),
    ('assigned', 'pl', 'Przydzielono Ci zgłoszenie: {{subject}}', $t$Dzień dobry,

przydzielono Ci zgłoszenie {{reference}}.

Temat: {{subject}}
Priorytet: {{priority}}
Zgłaszający: {{requester}}
Termin: {{deadline}}

{{description}}

Potwierdź lub odrzuć je tutaj: {{link}}$t$),
    ('assigned', 'he', 'הוקצתה לך פנייה: {{subject}}', $t$שלום {{recipient}},

הפנייה {{reference}} הוקצתה לך.

נושא: {{subject}}
עדיפות: {{priority}}
פונה: {{requester}}
מועד יעד: {{deadline}}

{{description}}

נא לאשר או לדחות אותה כאן: {{link}}$t$),
    ('assigned', 'ro', 'V-a fost atribuită o solicitare: {{subject}}', $t$Bună ziua, {{recipient}},

solicitarea {{reference}} v-a fost atribuită.

Subiect: {{subject}}
Prioritate: {{priority}}
Solicitant: {{requester}}
Termen: {{deadline}}

{{description}}

Vă rugăm să o confirmați sau să o refuzați aici: {{link}}$t$),

    -- handler_assigned: to the requester, when someone takes the request (R05)
    ('handler_assigned', 'en', 'Your request is being handled: {{subject}}', $t$Hello {{recipient}},

your request {{reference}} has been assigned to {{assignee}}, who will take care of it.

You can follow your request here: {{link}}

Kind regards,
{{sender}}$t$),
    ('handler_assigned', 'lt', 'Jūsų užklausa perduota vykdyti: {{subject}}', $t$Laba diena,

jūsų užklausą {{reference}} perėmė {{assignee}}, kuris ja pasirūpins.

Užklausos eigą galite stebėti čia: {{link}}

Pagarbiai
{{sender}}$t$),
    ('handler_assigned', 'pl', 'Zajmujemy się Państwa zgłoszeniem: {{subject}}', $t$Dzień dobry,

Państwa zgłoszenie {{reference}} zostało przekazane do realizacji. Zajmie się nim {{assignee}}.

Postęp zgłoszenia można śledzić tutaj: {{link}}

Z poważaniem
{{sender}}$t$),
    ('handler_assigned', 'he', 'פנייתך בטיפול: {{subject}}', $t$שלום {{recipient}},

פנייתך {{reference}} הועברה לטיפולו של {{assignee}}.

אפשר לעקוב אחר הפנייה כאן: {{link}}

בברכה,
{{sender}}$t$),
    ('handler_assigned', 'ro', 'Solicitarea dumneavoastră este în lucru: {{subject}}', $t$Bună ziua, {{recipient}},

solicitarea dumneavoastră {{reference}} a fost preluată de {{assignee}}, care se va ocupa de ea.

Puteți urmări solicitarea aici: {{link}}

Cu stimă,
{{sender}}$t$),

    -- acknowledged: to the requester, the assignee confirmed (R10)
    ('acknowledged', 'en', 'Your request has been accepted: {{subject}}', $t$Hello {{recipient}},

{{assignee}} has accepted your request {{reference}} and will start work on it.

You can follow your request here: {{link}}

Kind regards,
{{sender}}$t$),
    ('acknowledged', 'lt', 'Jūsų užklausa priimta: {{subject}}', $t$Laba diena,

{{assignee}} priėmė jūsų užklausą {{reference}} ir netrukus pradės darbą.

Užklausos eigą galite stebėti čia: {{link}}

Pagarbiai
{{sender}}$t$),
    ('acknowledged', 'pl', 'Państwa zgłoszenie zostało przyjęte: {{subject}}', $t$Dzień dobry,

{{assignee}} przyjął(-ęła) Państwa zgłoszenie {{reference}} i wkrótce rozpocznie pracę.

Postęp zgłoszenia można śledzić tutaj: {{link}}

Z poważaniem
{{sender}}$t$),
    ('acknowledged', 'he', 'פנייתך התקבלה לטיפול: {{subject}}', $t$שלום {{recipient}},

{{assignee}} אישר/ה את קבלת פנייתך {{reference}} ויתחיל/תתחיל לטפל בה בקרוב.

אפשר לעקוב אחר הפנייה כאן: {{link}}

בברכה,
{{sender}}$t$),
    ('acknowledged', 'ro', 'Solicitarea dumneavoastră a fost acceptată: {{subject}}', $t$Bună ziua, {{recipient}},

{{assignee}} a acceptat solicitarea dumneavoastră {{reference}} și va începe lucrul în curând.

Puteți urmări solicitarea aici: {{link}}

Cu stimă,
{{sender}}$t$),

    -- rejected: to the centre's dispatchers, the assignee gave it back (R51)
    ('rejected', 'en', 'Assignment rejected: {{subject}}', $t$Hello {{recipient}},

{{sender}} has rejected ticket {{reference}}. It is back in the queue of {{center}} and needs a new assignee.

Reason: {{note}}

Open the ticket: {{link}}$t$),
    ('rejected', 'lt', 'Užduotis atmesta: {{subject}}', $t$Laba diena,

{{sender}} atmetė užklausą {{reference}}. Ji grąžinta į padalinio „{{center}}“ eilę, ir jai reikia paskirti naują vykdytoją.

Priežastis: {{note}}

Atverti užklausą: {{link}}$t$),
    ('rejected', 'pl', 'Odrzucono przydział: {{subject}}', $t$Dzień dobry,

{{sender}} odrzucił(-a) zgłoszenie {{reference}}. Wróciło ono do kolejki zespołu „{{center}}” i wymaga przydzielenia nowej osoby.

Powód: {{note}}

Otwórz zgłoszenie: {{link}}$t$),
    ('rejected', 'he', 'ההקצאה נדחתה: {{subject}}', $t$שלום {{recipient}},

{{sender}} דחה/דחתה את הפנייה {{reference}}. הפנייה חזרה לתור של {{center}} וצריך להקצות לה מטפל חדש.

סיבה: {{note}}

לפתיחת הפנייה: {{link}}$t$),
    ('rejected', 'ro', 'Atribuire refuzată: {{subject}}', $t$Bună ziua, {{recipient}},

{{sender}} a refuzat solicitarea {{reference}}. Aceasta a revenit în coada echipei {{center}} și trebuie atribuită altcuiva.

Motiv: {{note}}

Deschideți solicitarea: {{link}}$t$),

    -- resolved: to the requester and the watchers (R05)
    ('resolved', 'en', 'Resolved: {{subject}}', $t$Hello {{recipient}},

request {{reference}} has been resolved.

Resolution: {{resolution}}

If the problem persists, you can reopen the request here: {{link}}

Kind regards,
{{sender}}$t$),
    ('resolved', 'lt', 'Išspręsta: {{subject}}', $t$Laba diena,

užklausa {{reference}} išspręsta.

Sprendimas: {{resolution}}

Jei problema neišnyko, užklausą galite vėl atverti čia: {{link}}

Pagarbiai
{{sender}}$t$),
    ('resolved', 'pl', 'Rozwiązano: {{subject}}', $t$Dzień dobry,

zgłoszenie {{reference}} zostało rozwiązane.

Rozwiązanie: {{resolution}}

Jeśli problem nadal występuje, można ponownie otworzyć zgłoszenie tutaj: {{link}}

Z poważaniem
{{sender}}$t$),
    ('resolved', 'he', 'הפנייה טופלה: {{subject}}', $t$שלום {{recipient}},

הפנייה {{reference}} טופלה.

פתרון: {{resolution}}

אם הבעיה עדיין קיימת, אפשר לפתוח את הפנייה מחדש כאן: {{link}}

בברכה,
{{sender}}$t$),
    ('resolved', 'ro', 'Rezolvată: {{subject}}', $t$Bună ziua, {{recipient}},

solicitarea {{reference}} a fost rezolvată.

Soluție: {{resolution}}

Dacă problema persistă, puteți redeschide solicitarea aici: {{link}}

Cu stimă,
{{sender}}$t$),

    -- confirmed: to the assignee, the requester accepted the resolution
    ('confirmed', 'en', 'Resolution confirmed: {{subject}}', $t$Hello {{recipient}},

the requester has confirmed the resolution of ticket {{reference}}.

{{note}}

Open the ticket: {{link}}$t$),
    ('confirmed', 'lt', 'Sprendimas patvirtintas: {{subject}}', $t$Laba diena,

užsakovas patvirtino užklausos {{reference}} sprendimą.

{{note}}

Atverti užklausą: {{link}}$t$),
    ('confirmed', 'pl', 'Rozwiązanie potwierdzone: {{subject}}', $t$Dzień dobry,

zgłaszający potwierdził rozwiązanie zgłoszenia {{reference}}.

{{note}}

Otwórz zgłoszenie: {{link}}$t$),
    ('confirmed', 'he', 'הפתרון אושר: {{subject}}', $t$שלום {{recipient}},

הפונה אישר/ה את הפתרון של הפנייה {{reference}}.

{{note}}

לפתיחת הפנייה: {{link}}$t$),
    ('confirmed', 'ro', 'Soluție confirmată: {{subject}}', $t$Bună ziua, {{recipient}},

solicitantul a confirmat soluția pentru solicitarea {{reference}}.

{{note}}

Deschideți solicitarea: {{link}}$t$),

    -- closed: to the requester and the watchers
    ('closed', 'en', 'Closed: {{subject}}', $t$Hello {{recipient}},

request {{reference}} is now closed. Thank you for working with us.

You can still read it here: {{link}}

Kind regards,
{{sender}}$t$),
    ('closed', 'lt', 'Uždaryta: {{subject}}', $t$Laba diena,

užklausa {{reference}} uždaryta. Dėkojame, kad kreipėtės.

Ją vis dar galite peržiūrėti čia: {{link}}

Pagarbiai
{{sender}}$t$),
    ('closed', 'pl', 'Zamknięto: {{subject}}', $t$Dzień dobry,

zgłoszenie {{reference}} zostało zamknięte. Dziękujemy za kontakt.

Nadal można je przejrzeć tutaj: {{link}}

Z poważaniem
{{sender}}$t$),
    ('closed', 'he', 'הפנייה נסגרה: {{subject}}', $t$שלום {{recipient}},

הפנייה {{reference}} נסגרה. תודה שפנית אלינו.

אפשר עדיין לעיין בה כאן: {{link}}

בברכה,
{{sender}}$t$),
    ('closed', 'ro', 'Închisă: {{subject}}', $t$Bună ziua, {{recipient}},

solicitarea {{reference}} a fost închisă. Vă mulțumim că ne-ați contactat.

O puteți consulta în continuare aici: {{link}}

Cu stimă,
{{sender}}$t$),

    -- cancelled: to the requester, the assignee and the watchers
    ('cancelled', 'en', 'Cancelled: {{subject}}', $t$Hello {{recipient}},

request {{reference}} has been cancelled.

Reason: {{note}}

Details: {{link}}

Kind regards,
{{sender}}$t$),
    ('cancelled', 'lt', 'Atšaukta: {{subject}}', $t$Laba diena,

užklausa {{reference}} atšaukta.

Priežastis: {{note}}

Išsamiau: {{link}}

Pagarbiai
{{sender}}$t$),
    ('cancelled', 'pl', 'Anulowano: {{subject}}', $t$Dzień dobry,

zgłoszenie {{reference}} zostało anulowane.

Powód: {{note}}

Szczegóły: {{link}}

Z poważaniem
{{sender}}$t$),
    ('cancelled', 'he', 'הפנייה בוטלה: {{subject}}', $t$שלום {{recipient}},

הפנייה {{reference}} בוטלה.

סיבה: {{note}}

פרטים: {{link}}

בברכה,
{{sender}}$t$),
    ('cancelled', 'ro', 'Anulată: {{subject}}', $t$Bună ziua, {{recipient}},

solicitarea {{reference}} a fost anulată.

Motiv: {{note}}

Detalii: {{link}}

Cu stimă,
{{sender}}$t$)
      ) AS t(event, language, subject, body);

    -- SMS: one short line per event; the link makes it useful on a phone (R08, R29).
    INSERT INTO ticketdesk.notify_template (tenant_id, event, channel, language, body_text, seeded)
    SELECT seed_notify.tenant, t.event, 'sms', t.language, t.body, seed_notify.seeded
      FROM (VALUES
        ('assigned', 'en', '{{reference}} assigned to you ({{priority}}): {{subject}} {{link}}'),
        ('assigned', 'lt', '{{reference}} priskirta jums ({{priority}}): {{subject}} {{link}}'),
        ('assigned', 'pl', '{{reference}} przydzielono Ci ({{priority}}): {{subject}} {{link}}'),
        ('assigned', 'he', '{{reference}} הוקצתה לך ({{priority}}): {{subject}} {{link}}'),
        ('assigned', 'ro', '{{reference}} v-a fost atribuită ({{priority}}): {{subject}} {{link}}')
      ) AS t(event, language, body);
$seed$;
COMMENT ON FUNCTION seed_notify(integer, boolean) IS
    'Internal: fills a tenant''s default channel policy and notification texts (seed_tenant calls it).';
