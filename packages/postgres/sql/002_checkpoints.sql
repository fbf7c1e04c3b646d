-- @marketmeter/postgres schema version 2 (checkpoints) for the default schema "marketmeter".
-- For another schema, print postgresMigrations({ schema }) instead. Apply after 001_init.sql.

BEGIN;

CREATE TABLE IF NOT EXISTS "marketmeter".checkpoints (
  instance text PRIMARY KEY,
  seq bigint NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS checkpoints_applied ON "marketmeter".checkpoints (applied_at);

-- One token bucket per account and Region: every instance paces its BatchMeterUsage calls here.
CREATE TABLE IF NOT EXISTS "marketmeter".send_tokens (
  bucket text PRIMARY KEY,
  tokens double precision NOT NULL,
  updated_at timestamptz NOT NULL,
  taken boolean NOT NULL DEFAULT false
);

INSERT INTO "marketmeter".schema_migrations (version, name) VALUES (2, 'checkpoints') ON CONFLICT (version) DO NOTHING;

COMMIT;
