-- @marketmeter/postgres schema version 1 (init) for the default schema "marketmeter".
-- For another schema, print postgresMigrations({ schema }) instead. Then start the stores with migrate: false.

BEGIN;

CREATE SCHEMA IF NOT EXISTS "marketmeter";

CREATE TABLE IF NOT EXISTS "marketmeter".schema_migrations (
  version integer PRIMARY KEY,
  name text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);

-- One row per grain: identity x dimension x UTC hour (epoch milliseconds).
CREATE TABLE IF NOT EXISTS "marketmeter".grains (
  key text PRIMARY KEY,
  identity text NOT NULL,
  dimension text NOT NULL,
  hour bigint NOT NULL,
  quantity bigint NOT NULL CHECK (quantity >= 0),
  allocations jsonb,
  state text NOT NULL CHECK (state IN ('pending', 'closed', 'retrying', 'sent', 'rejected', 'expired', 'uncertain')),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at bigint,
  lease_owner text,
  lease_until bigint,
  lease_token bigint NOT NULL DEFAULT 0,
  uncertain boolean NOT NULL DEFAULT false,
  metering_record_id text,
  reason text,
  last_error text,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  closed_at bigint,
  settled_at bigint
);
CREATE INDEX IF NOT EXISTS grains_due ON "marketmeter".grains (hour, key) WHERE state IN ('closed', 'retrying');
CREATE INDEX IF NOT EXISTS grains_pending ON "marketmeter".grains (hour) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS grains_identity ON "marketmeter".grains (identity, hour);
CREATE INDEX IF NOT EXISTS grains_settled ON "marketmeter".grains (settled_at) WHERE settled_at IS NOT NULL;

-- The customer directory: buyers, pending registrations and seen lifecycle notification ids.
CREATE TABLE IF NOT EXISTS "marketmeter".customers (
  id text PRIMARY KEY,
  tenant_id text,
  data jsonb NOT NULL,
  updated_at bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS customers_tenant ON "marketmeter".customers (tenant_id);
CREATE TABLE IF NOT EXISTS "marketmeter".registrations (
  id text PRIMARY KEY,
  token_hash text NOT NULL UNIQUE,
  expires_at bigint NOT NULL,
  tenant_id text,
  data jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS registrations_expires ON "marketmeter".registrations (expires_at);
CREATE TABLE IF NOT EXISTS "marketmeter".seen_events (
  seq bigserial PRIMARY KEY,
  id text NOT NULL UNIQUE,
  at bigint NOT NULL
);

INSERT INTO "marketmeter".schema_migrations (version, name) VALUES (1, 'init') ON CONFLICT (version) DO NOTHING;

COMMIT;
