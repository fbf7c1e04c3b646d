-- @marketmeter/postgres schema version 3 (customer_changes) for the default schema "marketmeter".
-- For another schema, print postgresMigrations({ schema }) instead. Then start the stores with migrate: false.

BEGIN;

ALTER TABLE "marketmeter".customers ADD COLUMN IF NOT EXISTS change_xid bigint NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS customers_change ON "marketmeter".customers (change_xid);

INSERT INTO "marketmeter".schema_migrations (version, name) VALUES (3, 'customer_changes') ON CONFLICT (version) DO NOTHING;

COMMIT;
