-- The default tenant, so a single-organisation database needs no setup.
INSERT INTO tenant (tenant_id, code, name, seeded) VALUES (1, 'default', 'Default tenant', true);
SELECT setval('tenant_tenant_id_seq', 1);
SELECT seed_tenant(1, true);
