/**
 * Versioned schema migrations. The SQL here is the source of truth; `sql/001_init.sql` in the package is
 * the same text for the default schema, for a DBA who applies it by hand (a test keeps them equal).
 */
import { MarketplaceError } from "@marketmeter/core";

/** One schema version: apply in order, each once; `schema_migrations` records what was applied. */
export interface PostgresMigration {
  version: number;
  name: string;
  /** Idempotent SQL for the given schema, ending with its row in `schema_migrations`. */
  sql: string;
}

/** The schema the stores use when none is given. */
export const DEFAULT_SCHEMA = "marketmeter";

const SCHEMA_RE = /^[a-z_][a-z0-9_]{0,62}$/;

/** Checks a schema name: lowercase letters, digits and underscores, as PostgreSQL folds unquoted names. */
export function checkSchema(schema: unknown, where: string): string {
  if (typeof schema !== "string" || !SCHEMA_RE.test(schema) || schema.startsWith("pg_"))
    throw new MarketplaceError(
      "INVALID_CONFIG",
      `${where} schema must be 1-63 lowercase letters, digits and underscores, not starting with a digit or "pg_"`,
    );
  return schema;
}

// `@@` stands for the quoted schema name.
const V1 = `CREATE SCHEMA IF NOT EXISTS @@;

CREATE TABLE IF NOT EXISTS @@.schema_migrations (
  version integer PRIMARY KEY,
  name text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);

-- One row per grain: identity x dimension x UTC hour (epoch milliseconds).
CREATE TABLE IF NOT EXISTS @@.grains (
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
CREATE INDEX IF NOT EXISTS grains_due ON @@.grains (hour, key) WHERE state IN ('closed', 'retrying');
CREATE INDEX IF NOT EXISTS grains_pending ON @@.grains (hour) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS grains_identity ON @@.grains (identity, hour);
CREATE INDEX IF NOT EXISTS grains_settled ON @@.grains (settled_at) WHERE settled_at IS NOT NULL;

-- The customer directory: buyers, pending registrations and seen lifecycle notification ids.
CREATE TABLE IF NOT EXISTS @@.customers (
  id text PRIMARY KEY,
  tenant_id text,
  data jsonb NOT NULL,
  updated_at bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS customers_tenant ON @@.customers (tenant_id);
CREATE TABLE IF NOT EXISTS @@.registrations (
  id text PRIMARY KEY,
  token_hash text NOT NULL UNIQUE,
  expires_at bigint NOT NULL,
  tenant_id text,
  data jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS registrations_expires ON @@.registrations (expires_at);
CREATE TABLE IF NOT EXISTS @@.seen_events (
  seq bigserial PRIMARY KEY,
  id text NOT NULL UNIQUE,
  at bigint NOT NULL
);

INSERT INTO @@.schema_migrations (version, name) VALUES (1, 'init') ON CONFLICT (version) DO NOTHING;
`;

// Idempotent checkpoints (the highest applied seq per writing instance) and the shared send-token buckets.
const V2 = `CREATE TABLE IF NOT EXISTS @@.checkpoints (
  instance text PRIMARY KEY,
  seq bigint NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS checkpoints_applied ON @@.checkpoints (applied_at);

-- One token bucket per account and Region: every instance paces its BatchMeterUsage calls here.
CREATE TABLE IF NOT EXISTS @@.send_tokens (
  bucket text PRIMARY KEY,
  tokens double precision NOT NULL,
  updated_at timestamptz NOT NULL,
  taken boolean NOT NULL DEFAULT false
);

INSERT INTO @@.schema_migrations (version, name) VALUES (2, 'checkpoints') ON CONFLICT (version) DO NOTHING;
`;

const MIGRATIONS: ReadonlyArray<{ version: number; name: string; sql: string }> = [
  { version: 1, name: "init", sql: V1 },
  { version: 2, name: "checkpoints", sql: V2 },
];

/** The newest schema version this package knows. */
export const SCHEMA_VERSION = MIGRATIONS.reduce((v, m) => Math.max(v, m.version), 0);

/**
 * The migrations for a schema, oldest first: the SQL the stores run on first use, for a DBA to review or
 * apply by hand (then start the stores with `migrate: false`).
 *
 * @example
 * import { postgresMigrations } from "@marketmeter/postgres";
 * for (const m of postgresMigrations({ schema: "billing" })) console.log(m.sql);
 */
export function postgresMigrations(options: { schema?: string } = {}): PostgresMigration[] {
  if (typeof options !== "object" || options === null)
    throw new MarketplaceError("INVALID_CONFIG", "postgresMigrations options must be an object");
  const schema = checkSchema(options.schema ?? DEFAULT_SCHEMA, "postgresMigrations");
  return MIGRATIONS.map((m) => ({ ...m, sql: m.sql.replaceAll("@@", `"${schema}"`) }));
}
