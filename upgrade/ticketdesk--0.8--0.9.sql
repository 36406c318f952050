-- ticketdesk 0.8 -> 0.9. Each section names the change it brings; the
-- result must equal a fresh install of 0.9 (test/t/004_upgrade.pl compares
-- the two, object by object).
\echo Use "ALTER EXTENSION ticketdesk UPDATE TO '0.9'" to load this file. \quit

-- mail_poll_next() says NULL again when no mailbox is enabled: greatest()
-- ignores NULLs, so greatest(0, NULL) was 0, "due now", and the mail worker
-- of every database without an enabled mailbox polled in a loop at 100% of
-- a core. CREATE OR REPLACE keeps the function's privileges.
CREATE OR REPLACE FUNCTION mail_poll_next() RETURNS bigint
    LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN n.next_at IS NOT NULL
                THEN greatest(0, ceil(extract(epoch FROM n.next_at - clock_timestamp()) * 1000))::bigint
           END
      FROM (SELECT min(coalesce(b.last_poll_at + b.poll_interval, clock_timestamp())) AS next_at
              FROM ticketdesk.mail_mailbox b
             WHERE b.enabled) n
$$;

-- (the lead's sections end here; helpers' sections follow)
