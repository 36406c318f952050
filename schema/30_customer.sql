-- Customers, their contact persons, and the sites where work is done.

-- A customer: a company or a person the desk serves (R47).
CREATE TABLE customer (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    customer_id bigserial,
    name        text NOT NULL CHECK (name ~ '\S'),
    tax_id      text,
    email       text,
    phone       text,
    work_phone  text,
    address     text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, customer_id)
);
CREATE UNIQUE INDEX customer_tax_id_key ON customer (tenant_id, tax_id) WHERE tax_id IS NOT NULL;
COMMENT ON TABLE customer IS 'Customer master data (R47).';

-- A contact person, usually of a customer (R46, R47). A contact without a
-- customer is a private person, for example an unknown e-mail sender.
CREATE TABLE contact (
    tenant_id         integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    contact_id        bigserial,
    customer_id       bigint,
    name              text NOT NULL CHECK (name ~ '\S'),
    position          text,
    preferred_channel text NOT NULL DEFAULT 'email' CHECK (preferred_channel IN ('email', 'phone', 'sms')),
    phone             text,
    email             text,
    language          text NOT NULL DEFAULT 'en' CHECK (language ~ '^[a-z]{2}$'),
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, contact_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customer
);
CREATE INDEX contact_customer_idx ON contact (tenant_id, customer_id);
CREATE INDEX contact_email_idx ON contact (tenant_id, lower(email));
COMMENT ON TABLE contact IS 'Contact persons with position, preferred channel and language (R47).';

-- A place where work is done (R07, R08). address_key makes a known address
-- found again however it is spaced or capitalised.
CREATE TABLE site (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    site_id     bigserial,
    customer_id bigint,
    label       text,
    address     text NOT NULL CHECK (address ~ '\S'),
    address_key text GENERATED ALWAYS AS (lower(regexp_replace(btrim(address), '\s+', ' ', 'g'))) STORED,
    latitude    double precision CHECK (latitude BETWEEN -90 AND 90),
    longitude   double precision CHECK (longitude BETWEEN -180 AND 180),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, site_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customer,
    CHECK ((latitude IS NULL) = (longitude IS NULL)),
    CONSTRAINT site_address_key UNIQUE NULLS NOT DISTINCT (tenant_id, customer_id, address_key)
);
COMMENT ON TABLE site IS 'Sites and addresses, reused when known (R07), with optional coordinates for a map link (R08).';

-- Percent-encodes text for use in a URL query (RFC 3986 unreserved characters stay).
CREATE FUNCTION url_encode(text) RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'ticketdesk_url_encode';
COMMENT ON FUNCTION url_encode(text) IS 'Percent-encodes text for a URL (RFC 3986).';

-- A link that opens the site in an online map, on a phone too (R08): by
-- coordinates when known, else by searching the address.
CREATE FUNCTION map_link(site) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN $1.latitude IS NOT NULL THEN
            format('https://www.openstreetmap.org/?mlat=%s&mlon=%s#map=17/%s/%s',
                   $1.latitude, $1.longitude, $1.latitude, $1.longitude)
        ELSE 'https://www.openstreetmap.org/search?query=' || ticketdesk.url_encode($1.address)
    END
$$;
COMMENT ON FUNCTION map_link(site) IS 'A map link for a site (R08); call it as site.map_link.';
