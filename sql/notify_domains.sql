-- The value rules of the notification domains (notify_event,
-- notify_recipient, language_code) are C functions (src/notify_values.c)
-- that give exactly what the regular expressions they replace gave. Each
-- function is compared with its regular expression on the edge cases, and
-- a value that breaks a rule is refused with the domain's error (23514).
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS ticketdesk CASCADE;
CREATE EXTENSION ticketdesk;
RESET client_min_messages;
SET search_path = ticketdesk, public;

CREATE TEMP TABLE sample (v text);
INSERT INTO sample VALUES
    (''), (' '), (E'\t'), (E'\n \r'), (E'\x1c'), (E'\x7f'), ('a'), ('z'), ('_'), ('-'), ('A'), ('Z'),
    ('ab'), ('lt'), ('LT'), ('l t'), ('ltu'), ('ą'), ('ąb'), ('é'), (E'\u00a0'), (E'\u3000'), (E'\u3000x'),
    (E' \u2003 '), ('registered'), ('assigned_to_me'), ('Registered'), ('reg-istered'), ('reg istered'),
    (repeat('a', 40)), (repeat('a', 41)), (repeat('_', 40)), (E'lt\n'), ('rita@acme.test'), ('+37060000001');

-- Every value gets the same answer from the function and from the expression.
SELECT count(*) AS values,
       count(*) FILTER (WHERE notify_event_valid(v) = (v ~ '^[a-z_]{1,40}$')) AS event_same,
       count(*) FILTER (WHERE language_code_valid(v) = (v ~ '^[a-z]{2}$')) AS language_same,
       count(*) FILTER (WHERE not_blank(v) = (v ~ '\S')) AS recipient_same
  FROM sample;
-- What each rule lets through.
SELECT string_agg(quote_literal(v), ', ' ORDER BY v COLLATE "C") FILTER (WHERE notify_event_valid(v)) AS events,
       string_agg(quote_literal(v), ', ' ORDER BY v COLLATE "C") FILTER (WHERE language_code_valid(v)) AS languages,
       count(*) FILTER (WHERE not_blank(v)) AS not_blank
  FROM sample WHERE length(v) < 20;

-- The domains refuse what their rules refuse.
SELECT 'Registered'::notify_event;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT repeat('a', 41)::notify_event;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT 'ltu'::language_code;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT E' \t '::notify_recipient;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT 'assigned'::notify_event AS event, 'ro'::language_code AS language, '-'::notify_recipient AS recipient;
-- And so does the outbox, whichever way a row comes in.
INSERT INTO outbox (event, channel, recipient, body_text, language) VALUES ('note', 'email', '   ', 'x', 'en');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO outbox (event, channel, recipient, body_text, language) VALUES ('note', 'email', 'a@b.test', 'x', 'EN');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
