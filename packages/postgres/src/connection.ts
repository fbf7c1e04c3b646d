/**
 * The connection layer both stores share: a caller's pool or one made from a URL, transactions with bounded
 * retries, error wording that names the setting to fix (never the password), and the first-use migration.
 * Only `pool.query`, `pool.connect`, `client.query` and `client.release` are used, with unnamed statements
 * and no session state, so any pg-compatible pool works, behind PgBouncer in transaction mode too.
 */
import { MarketplaceError } from "@marketmeter/core";
import pg from "pg";
import { checkSchema, DEFAULT_SCHEMA, postgresMigrations, SCHEMA_VERSION } from "./migrations.js";

/** What the stores need of a query result. */
export interface PgQueryResult<R = Record<string, unknown>> {
  rows: R[];
  rowCount: number | null;
}

/** A client checked out of a pool. */
export interface PgClientLike {
  query<R = Record<string, unknown>>(text: string, values?: unknown[]): Promise<PgQueryResult<R>>;
  release(err?: Error | boolean): void;
  /** pg's clients are event emitters: a connection the server drops while checked out emits "error". */
  on?(event: "error", listener: (err: Error) => void): unknown;
  removeListener?(event: "error", listener: (err: Error) => void): unknown;
}

/** Any pg-compatible pool: `pg.Pool`, Neon's serverless `Pool`, … */
export interface PgPoolLike {
  query<R = Record<string, unknown>>(text: string, values?: unknown[]): Promise<PgQueryResult<R>>;
  connect(): Promise<PgClientLike>;
  end?(): Promise<void>;
}

/** Connection options shared by {@link postgresStore} and {@link postgresDirectoryStore}. */
export interface PostgresConnectionOptions {
  /** The app's pool (`pg.Pool` or compatible). It is not closed by `close()`. Give this or `connectionString`. */
  pool?: PgPoolLike;
  /**
   * A `postgres://` URL: the store makes its own pool and closes it on `close()`. Give this or `pool`.
   * @example "postgres://app@db.internal:5432/app"
   */
  connectionString?: string;
  /** The schema holding the tables, created on first use. @default "marketmeter" */
  schema?: string;
  /** With `connectionString`: how long to wait for a connection before failing. @default 10000 */
  connectTimeoutMs?: number;
  /** With `connectionString`: the most connections the store's own pool opens. @default 10 */
  maxConnections?: number;
  /**
   * Create or upgrade the tables on first use. Set false when a DBA applies `postgresMigrations()` by
   * hand; the store then only checks the recorded version.
   * @default true
   */
  migrate?: boolean;
}

export const CONNECTION_OPTIONS = [
  "pool",
  "connectionString",
  "schema",
  "connectTimeoutMs",
  "maxConnections",
  "migrate",
] as const;

export function invalid(message: string): never {
  throw new MarketplaceError("INVALID_CONFIG", message);
}

/** ioredis and pg decode the user name and password; a bare `%` would throw a URIError deep inside them. */
function checkEscapes(parsed: URL, where: string, setting: string): void {
  for (const [part, value] of [
    ["user name", parsed.username],
    ["password", parsed.password],
  ] as const) {
    try {
      decodeURIComponent(value);
    } catch {
      invalid(`${where} ${setting} has a malformed percent-escape in the ${part} (write a literal % as %25)`);
    }
  }
}

/** Checks a connection URL; the message never repeats the URL (it may hold a password). */
export function checkConnectionString(url: unknown, where: string): string {
  if (typeof url !== "string" || url.length === 0)
    invalid(`${where} connectionString must be a non-empty string`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    invalid(
      `${where} connectionString is not a valid URL (expected postgres://user:password@host:port/database)`,
    );
  }
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:")
    invalid(`${where} connectionString must start with postgres:// or postgresql://`);
  checkEscapes(parsed, where, "connectionString");
  return url;
}

/** Host, port and database of a URL, for messages: never the user's password. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname || "localhost"}:${u.port || "5432"}${u.pathname || "/"}`;
  } catch {
    return "the database";
  }
}

export interface Connection {
  pool: PgPoolLike;
  schema: string;
  /** `"schema"`, quoted for SQL. */
  q: string;
  /** Which setting names the database, for messages. */
  setting: string;
  where: string;
  owned: boolean;
  migrate: boolean;
}

export function openConnection(
  options: PostgresConnectionOptions,
  where: string,
  extra: readonly string[],
): Connection {
  if (typeof options !== "object" || options === null) invalid(`${where} options must be an object`);
  const known = new Set<string>([...CONNECTION_OPTIONS, ...extra]);
  for (const k of Object.keys(options)) if (!known.has(k)) invalid(`${where}: unknown option "${k}"`);
  const schema = checkSchema(options.schema ?? DEFAULT_SCHEMA, where);
  const migrate = options.migrate ?? true;
  if (typeof migrate !== "boolean") invalid(`${where} migrate must be a boolean`);
  if (options.pool !== undefined && options.connectionString !== undefined)
    invalid(`${where} takes pool or connectionString, not both`);
  if (options.pool !== undefined) {
    const p = options.pool as Partial<PgPoolLike> | null;
    if (
      typeof p !== "object" ||
      p === null ||
      typeof p.query !== "function" ||
      typeof p.connect !== "function"
    )
      invalid(`${where} pool must be a pg-compatible Pool (with query() and connect())`);
    if (options.connectTimeoutMs !== undefined || options.maxConnections !== undefined)
      invalid(
        `${where} connectTimeoutMs and maxConnections apply to connectionString; set them on your pool`,
      );
    return { pool: options.pool, schema, q: `"${schema}"`, setting: "pool", where, owned: false, migrate };
  }
  if (options.connectionString === undefined) invalid(`${where} needs pool or connectionString`);
  const url = checkConnectionString(options.connectionString, where);
  const timeout = options.connectTimeoutMs ?? 10_000;
  if (!Number.isSafeInteger(timeout) || timeout < 1)
    invalid(`${where} connectTimeoutMs must be a positive integer`);
  const max = options.maxConnections ?? 10;
  if (!Number.isSafeInteger(max) || max < 1) invalid(`${where} maxConnections must be a positive integer`);
  const pool = new pg.Pool({ connectionString: url, connectionTimeoutMillis: timeout, max });
  // An idle connection dropped by the server (restart, pg_terminate_backend) is reported here; without a
  // listener it would crash the process. The next query simply opens a new connection.
  pool.on("error", () => {});
  // A backend terminated just as its connection is handed out can report the error before the borrower
  // has attached a listener (pg-pool drops its own on checkout); the failed query reports it instead.
  pool.on("connect", (client) => {
    client.on("error", () => {});
  });
  return {
    pool: pool as unknown as PgPoolLike,
    schema,
    q: `"${schema}"`,
    setting: `connectionString (${describeUrl(url)})`,
    where,
    owned: true,
    migrate,
  };
}

const CONNECT_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "ECONNRESET",
  "EHOSTUNREACH",
  "ENETUNREACH",
]);

/** Wraps a driver error as a coded error that says which setting to check. */
export function storeError(c: Connection, what: string, err: unknown): MarketplaceError {
  if (err instanceof MarketplaceError) return err;
  const e = err as { code?: string; message?: string };
  const msg = String(e?.message ?? err);
  let hint = "";
  if (e?.code === "28P01" || e?.code === "28000") hint = ` (check the user and password in ${c.setting})`;
  else if (e?.code === "3D000") hint = ` (check the database name in ${c.setting})`;
  else if ((e?.code && CONNECT_CODES.has(e.code)) || /timeout|terminated|connect/i.test(msg))
    hint = ` (check the host and port in ${c.setting}, and that PostgreSQL is reachable)`;
  return new MarketplaceError("STORE_ERROR", `${c.where} ${what} failed: ${msg}${hint}`, { cause: err });
}

// Serialization failure, deadlock, and a unique violation from two first inserts of one row: retry.
const RETRY_CODES = new Set(["40001", "40P01", "23505"]);
const MAX_TRIES = 8;

/** Runs `fn` in one transaction, retrying conflicts a bounded number of times. */
export async function transaction<T>(c: Connection, fn: (client: PgClientLike) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const client = await c.pool.connect();
    let broken = false;
    // The pool listens only to idle connections: without this, a backend terminated while the store holds
    // the connection crashes the process. The query in flight fails instead, and the connection is dropped.
    const dropped = () => {
      broken = true;
    };
    client.on?.("error", dropped);
    try {
      await client.query("BEGIN");
      const out = await fn(client);
      await client.query("COMMIT");
      return out;
    } catch (err) {
      try {
        await client.query("ROLLBACK");
      } catch {
        broken = true;
      }
      const code = (err as { code?: string }).code;
      if (attempt >= MAX_TRIES || !code || !RETRY_CODES.has(code)) throw err;
      // Jittered, short: the competing transaction is usually done within milliseconds.
      await new Promise((r) => setTimeout(r, Math.random() * 5 * attempt));
    } finally {
      client.removeListener?.("error", dropped);
      client.release(broken);
    }
  }
}

// One migration run per pool and schema, shared by every store on them.
const migrated = new WeakMap<object, Map<string, Promise<void>>>();

/** Creates or upgrades the schema once per pool; refuses a schema newer than this package. */
export function ensureSchema(c: Connection): Promise<void> {
  let bySchema = migrated.get(c.pool);
  if (!bySchema) {
    bySchema = new Map();
    migrated.set(c.pool, bySchema);
  }
  const key = `${c.schema}|${c.migrate}`;
  let p = bySchema.get(key);
  if (!p) {
    p = runMigrations(c);
    bySchema.set(key, p);
    // A failed start-up (database down, wrong password) is tried again on the next call.
    p.catch(() => bySchema.delete(key));
  }
  return p;
}

async function currentVersion(client: PgClientLike, c: Connection): Promise<number | undefined> {
  const t = await client.query<{ t: string | null }>("SELECT to_regclass($1)::text AS t", [
    `${c.q}.schema_migrations`,
  ]);
  if (!t.rows[0]?.t) return undefined;
  const v = await client.query<{ v: number | null }>(
    `SELECT max(version) AS v FROM ${c.q}.schema_migrations`,
  );
  return v.rows[0]?.v ?? 0;
}

function tooNew(c: Connection, found: number): MarketplaceError {
  return new MarketplaceError(
    "STORE_ERROR",
    `${c.where}: schema "${c.schema}" is at version ${found}, newer than this package knows (${SCHEMA_VERSION}); upgrade @marketmeter/postgres on every instance`,
  );
}

async function runMigrations(c: Connection): Promise<void> {
  try {
    await transaction(c, async (client) => {
      if (c.migrate) {
        // Transaction-scoped, so safe behind PgBouncer; serializes concurrent first use by several instances.
        await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`marketmeter.migrate.${c.schema}`]);
      }
      const found = await currentVersion(client, c);
      if (found !== undefined && found > SCHEMA_VERSION) throw tooNew(c, found);
      if (found !== undefined && found === SCHEMA_VERSION) return;
      if (!c.migrate)
        throw new MarketplaceError(
          "STORE_ERROR",
          `${c.where}: schema "${c.schema}" is at version ${found ?? "none"}, this package needs ${SCHEMA_VERSION}; apply postgresMigrations() or set migrate: true`,
        );
      for (const m of postgresMigrations({ schema: c.schema }))
        if (m.version > (found ?? 0)) await client.query(m.sql);
    });
  } catch (err) {
    throw storeError(c, "start-up", err);
  }
}
