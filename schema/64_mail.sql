-- Inbound e-mail (R02, R51, R52): every mail received, what it did, and the
-- settings that decide how mail is threaded and when it is only stored.

-- One file of a mail, as the parser hands it over.
CREATE TYPE mail_part AS (
    filename     text,
    content_type text,
    content_id   text,      -- an inline image's Content-ID, without <>
    is_inline    boolean,
    data         bytea
);

-- What a mail says, decoded to UTF-8 (parse_mail). error is set, and most
-- other fields are null, when the mail could not be read.
CREATE TYPE mail_parsed AS (
    error        text,
    message_id   text,      -- without <>
    in_reply_to  text,
    refs         text[],    -- In-Reply-To, then References: the ids this mail answers
    subject      text,
    from_name    text,
    from_addr    text,      -- lower case
    reply_to     text,
    recipients   text[],    -- To, Cc, Delivered-To, X-Original-To, Envelope-To: lower case
    sent_at      timestamptz,
    auto_reason  text,      -- why a machine sent it (Auto-Submitted, Precedence, bounce), or null
    x_loop       text[],
    body         text,      -- text/plain, or text derived from HTML-only mail
    reply_text   text,      -- the body without the quoted earlier mail
    html_only    boolean,
    parts        mail_part[]
);

-- Per tenant: how mail is handled. A tenant without a row uses the defaults
-- (mail_settings()).
CREATE TABLE mail_config (
    tenant_id     integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    -- A reply to a closed ticket reopens it within this time after closing;
    -- later it opens a new ticket linked to the old one.
    reopen_window interval NOT NULL DEFAULT '14 days' CHECK (reopen_window >= '0'),
    -- More than rate_limit mails from one sender within rate_window are only stored.
    rate_limit    integer NOT NULL DEFAULT 30 CHECK (rate_limit > 0),
    rate_window   interval NOT NULL DEFAULT '1 hour' CHECK (rate_window > '0'),
    -- The X-Loop value ticketdesk puts on the mail it sends; mail carrying it is ours.
    loop_token    text NOT NULL DEFAULT 'ticketdesk' CHECK (loop_token ~ '\S'),
    -- Addresses that are ours besides the centres' mailboxes (e.g. the notifications sender).
    own_addresses text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (tenant_id)
);
COMMENT ON TABLE mail_config IS
    'Inbound mail settings per tenant: reopen window, per-sender rate limit, X-Loop token, own addresses.';

-- Confirm and reject keywords per language (R51). A tenant's rows for a
-- language replace the built-in defaults of that language
-- (mail_default_keywords()).
CREATE TABLE mail_keyword (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    language    text NOT NULL CHECK (language ~ '^[a-z]{2}$'),
    kind        text NOT NULL CHECK (kind IN ('confirm', 'reject')),
    word        text NOT NULL CHECK (word ~ '\S' AND word = lower(btrim(word))),
    PRIMARY KEY (tenant_id, language, kind, word)
);
COMMENT ON TABLE mail_keyword IS
    'Confirm/reject keywords per language for replies (R51); replace the built-in defaults of a language.';

-- Every mail received, once per Message-ID: the raw message, where it went
-- and what it did. Failed mail stays here with its reason.
CREATE TABLE mail_intake (
    tenant_id    integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    intake_id    bigserial,
    -- The Message-ID (without <>); for mail without one, sha256: and the hex
    -- digest of the raw message, so the same bytes are still taken once.
    mail_id      text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    sent_at      timestamptz,
    sender       text,
    subject      text,
    outcome      text NOT NULL DEFAULT 'failed'
                 CHECK (outcome IN ('opened', 'replied', 'stored', 'failed')),
    -- What the mail did besides: acknowledged, rejected, confirmed, reopened,
    -- resumed, linked (a new ticket tied to an old one).
    action       text,
    reason       text,          -- why it was only stored, failed, or was flagged
    flagged      boolean NOT NULL DEFAULT false,
    center_id    bigint,
    ticket_id    bigint,
    message_id   bigint,        -- the remark made from a reply
    contact_id   bigint,        -- the sender, as a contact
    agent_id     bigint,        -- the sender, as an agent
    size_bytes   integer NOT NULL,
    -- The whole mail as received; null only over ticketdesk.mail_max_size. lz4
    -- gives up on incompressible base64 attachments far sooner than pglz.
    raw          bytea COMPRESSION lz4,
    PRIMARY KEY (tenant_id, intake_id),
    CONSTRAINT mail_intake_once UNIQUE (tenant_id, mail_id),
    FOREIGN KEY (tenant_id, center_id) REFERENCES center,
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES ticket,
    FOREIGN KEY (tenant_id, ticket_id, message_id) REFERENCES message (tenant_id, ticket_id, message_id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contact,
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agent
);
CREATE INDEX mail_intake_sender_idx ON mail_intake (tenant_id, sender, received_at);
CREATE INDEX mail_intake_ticket_idx ON mail_intake (tenant_id, ticket_id) WHERE ticket_id IS NOT NULL;
COMMENT ON TABLE mail_intake IS
    'Every inbound mail once per Message-ID: raw message, outcome (opened, replied, stored, failed), reason, ticket.';

-- The Message-ID of the mail a remark came from (or went out as), so that
-- replies to it find their ticket.
ALTER TABLE message ADD COLUMN email_message_id text;
CREATE UNIQUE INDEX message_email_message_id_key ON message (tenant_id, email_message_id)
    WHERE email_message_id IS NOT NULL;

-- Lookups by address: centres by their mailbox, people by their e-mail.
CREATE INDEX center_email_idx ON center (tenant_id, lower(email)) WHERE email IS NOT NULL;

-- An IMAP folder's URL: imaps://host:993/INBOX. No user or password in it:
-- they would show to everyone who reads the mailboxes and in curl's errors.
-- A domain, not a table CHECK, because a failing table CHECK prints the whole
-- row, and the URL it refuses may hold a password.
CREATE DOMAIN imap_url AS text CHECK (VALUE ~ '^imaps?://[^/@]+/[^;]+$');
COMMENT ON DOMAIN imap_url IS 'An IMAP folder URL without user or password: imap[s]://host[:port]/folder.';

-- IMAP mailboxes polled by the background worker (R02): one per centre or
-- more. The worker fetches by UID and records the last UID it took in the
-- same transaction as the ingest (mail_take), so across crashes no mail is
-- lost or taken twice.
CREATE TABLE mail_mailbox (
    tenant_id     integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    mailbox_id    bigserial,
    center_id     bigint NOT NULL,          -- mail that names no centre's address goes here
    url           imap_url NOT NULL,
    username      text NOT NULL CHECK (username ~ '\S'),
    -- The secret (schema/63_secret.sql) that holds the password; NULL means
    -- imap.<mailbox_id>.password. Only ticketdesk_admin and the worker read it.
    password_secret secret_name,
    -- After a mail is taken in: mark it \Seen, or move it to move_to.
    after_fetch   text NOT NULL DEFAULT 'seen' CHECK (after_fetch IN ('seen', 'move')),
    move_to       text,
    poll_interval interval NOT NULL DEFAULT '1 minute' CHECK (poll_interval >= '1 second'),
    enabled       boolean NOT NULL DEFAULT true,
    uidvalidity   bigint,                   -- of the folder when last_uid was taken
    last_uid      bigint NOT NULL DEFAULT 0 CHECK (last_uid >= 0),
    last_poll_at  timestamptz,
    last_error    text,
    PRIMARY KEY (tenant_id, mailbox_id),
    FOREIGN KEY (tenant_id, center_id) REFERENCES center,
    CHECK (after_fetch <> 'move' OR (move_to IS NOT NULL AND move_to ~ '\S'))
);
COMMENT ON TABLE mail_mailbox IS
    'IMAP mailboxes polled by UID: URL, user, what to do after fetching, last UID taken (with UIDVALIDITY).';
