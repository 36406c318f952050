-- ticketdesk 0.4 -> 0.5. Each section names the change it brings; the
-- result must equal a fresh install of 0.5 (test/t/004_upgrade.pl compares
-- the two, object by object).
\echo Use "ALTER EXTENSION ticketdesk UPDATE TO '0.5'" to load this file. \quit

-- Session 5 (notify5): the worker's result names the key columns of the
-- outbox's indexes in its SET list, so that a new entry never starts a
-- bottom-up deletion pass (schema/88_api_notify.sql, outbox_record).
CREATE OR REPLACE FUNCTION outbox_record(tenant_ids integer[], outbox_ids bigint[], errors text[],
                              permanent boolean[], max_attempts integer DEFAULT 8,
                              backoff_base interval DEFAULT '30 s', backoff_cap interval DEFAULT '1 hour',
                              languages text[] DEFAULT NULL, senders text[] DEFAULT NULL,
                              subjects text[] DEFAULT NULL, texts text[] DEFAULT NULL,
                              htmls text[] DEFAULT NULL, payloads jsonb[] DEFAULT NULL)
    RETURNS integer
    LANGUAGE plpgsql
    SET enable_hashjoin = off SET enable_mergejoin = off SET enable_seqscan = off SET jit = off
    AS $$
DECLARE
    recorded integer;
BEGIN
    WITH r AS (
        SELECT * FROM unnest(tenant_ids, outbox_ids, errors, permanent, languages, senders, subjects, texts,
                             htmls, payloads)
               AS r(tenant_id, outbox_id, error, permanent, language, sender, subject, body_text, body_html, payload)
    )
    UPDATE ticketdesk.outbox o
           SET outbox_id = o.outbox_id, message_key = o.message_key, ticket_id = o.ticket_id,
               event_id = o.event_id,
               status = CASE WHEN r.error IS NULL THEN 'sent'
                             WHEN r.permanent OR o.attempts >= outbox_record.max_attempts THEN 'dead'
                             ELSE 'queued' END::ticketdesk.outbox_status,
               sent_at = CASE WHEN r.error IS NULL THEN clock_timestamp() END,
               leased_until = NULL,
               last_error = coalesce(r.error, o.last_error),
               next_attempt_at = CASE WHEN r.error IS NULL OR r.permanent OR o.attempts >= outbox_record.max_attempts
                                      THEN NULL
                                      ELSE clock_timestamp()
                                           + least(outbox_record.backoff_cap,
                                                   outbox_record.backoff_base * power(2, least(o.attempts - 1, 40)))
                                             * (0.5 + random() / 2) END,
               language = CASE WHEN o.body_text IS NULL AND r.body_text IS NOT NULL THEN r.language ELSE o.language END,
               sender_name = CASE WHEN o.body_text IS NULL AND r.body_text IS NOT NULL THEN r.sender ELSE o.sender_name END,
               subject = CASE WHEN o.body_text IS NULL AND r.body_text IS NOT NULL THEN r.subject ELSE o.subject END,
               body_html = CASE WHEN o.body_text IS NULL AND r.body_text IS NOT NULL THEN r.body_html ELSE o.body_html END,
               payload = CASE WHEN o.body_text IS NULL AND r.body_text IS NOT NULL THEN r.payload ELSE o.payload END,
               body_text = coalesce(o.body_text, r.body_text)
          FROM r
     WHERE o.tenant_id = r.tenant_id AND o.outbox_id = r.outbox_id AND o.status = 'sending';
    GET DIAGNOSTICS recorded = ROW_COUNT;
    RETURN recorded;
END $$;

