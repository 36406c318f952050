-- The intake's tables (issue 8): which logins may submit requests, and what
-- they submitted, for the per-sender rate limit. Here, before 90_tenancy.sql,
-- so they get tenant isolation, the tenant guard and dump like every table;
-- submit_request is in 95_roles.sql.
CREATE TABLE intake_source (
    tenant_id    integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    login_role   name NOT NULL,
    center_id    bigint NOT NULL,
    max_per_hour integer NOT NULL DEFAULT 20 CHECK (max_per_hour > 0),
    PRIMARY KEY (tenant_id, login_role),
    FOREIGN KEY (tenant_id, center_id) REFERENCES center
);
CREATE UNIQUE INDEX intake_source_login_key ON intake_source (login_role);
COMMENT ON TABLE intake_source IS 'Intake logins (web forms, gateways): their tenant, centre and per-sender rate limit.';
CREATE TABLE intake_submission (
    tenant_id  integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    sender     text NOT NULL,
    at         timestamptz NOT NULL DEFAULT now(),
    ticket_id  bigint NOT NULL,
    PRIMARY KEY (tenant_id, ticket_id)
);
CREATE INDEX intake_submission_sender_idx ON intake_submission (tenant_id, lower(sender), at);
COMMENT ON TABLE intake_submission IS 'Requests submitted through submit_request, for the per-sender rate limit.';
