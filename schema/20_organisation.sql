-- Organisation: service centres (a tree), agents, centre membership, profiles.

-- A service centre: a named team that solves given categories of problems (R15).
CREATE TABLE center (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    center_id   bigserial,
    parent_id   bigint,
    code        text NOT NULL CHECK (code ~ '\S'),
    name        text NOT NULL CHECK (name ~ '\S'),
    email       text,               -- the centre's mailbox address, for inbound mail
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, center_id),
    UNIQUE (tenant_id, code),
    FOREIGN KEY (tenant_id, parent_id) REFERENCES center (tenant_id, center_id)
);
CREATE INDEX center_parent_idx ON center (tenant_id, parent_id);
COMMENT ON TABLE center IS 'Service centres as a tree (R15); a category of a centre serves the centres beneath it.';

-- An employee who can register, dispatch or execute tickets.
CREATE TABLE agent (
    tenant_id     integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    agent_id      bigserial,
    name          text NOT NULL CHECK (name ~ '\S'),
    email         text,
    phone         text,
    language      text NOT NULL DEFAULT 'en' CHECK (language ~ '^[a-z]{2}$'),
    supervisor_id bigint,
    login_role    name,             -- the database role this agent logs in as, if any
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, agent_id),
    UNIQUE (tenant_id, login_role),
    FOREIGN KEY (tenant_id, supervisor_id) REFERENCES agent (tenant_id, agent_id)
);
CREATE INDEX agent_email_idx ON agent (tenant_id, lower(email));
COMMENT ON TABLE agent IS 'Employees; login_role maps a database role to the agent.';

-- Who works in a centre, and in which role (R15, R18).
CREATE TABLE center_member (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    center_id   bigint NOT NULL,
    agent_id    bigint NOT NULL,
    role        text NOT NULL CHECK (role IN ('dispatcher', 'executor')),
    PRIMARY KEY (tenant_id, center_id, agent_id, role),
    FOREIGN KEY (tenant_id, center_id) REFERENCES center,
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agent
);
CREATE INDEX center_member_agent_idx ON center_member (tenant_id, agent_id);
COMMENT ON TABLE center_member IS 'Centre membership: dispatchers distribute, executors do the work.';

-- A profile (salesperson, customer service, ...) under a main kind (R38).
CREATE TABLE profile (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    profile_id  bigserial,
    kind        text NOT NULL CHECK (kind IN ('employee', 'customer', 'supplier')),
    code        text NOT NULL CHECK (code ~ '\S'),
    name        text NOT NULL CHECK (name ~ '\S'),
    PRIMARY KEY (tenant_id, profile_id),
    UNIQUE (tenant_id, code)
);
COMMENT ON TABLE profile IS 'Profiles of kind employee, customer or supplier (R38); workflow stages name them.';

CREATE TABLE agent_profile (
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenant,
    agent_id    bigint NOT NULL,
    profile_id  bigint NOT NULL,
    PRIMARY KEY (tenant_id, agent_id, profile_id),
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agent,
    FOREIGN KEY (tenant_id, profile_id) REFERENCES profile
);
CREATE INDEX agent_profile_profile_idx ON agent_profile (tenant_id, profile_id);
COMMENT ON TABLE agent_profile IS 'The profiles each agent holds (R38).';
