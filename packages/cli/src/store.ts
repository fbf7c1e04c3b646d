/**
 * Opens the store named by `--store` / `MARKETMETER_STORE`: a SQLite path, a postgres:// or redis:// URL, or
 * redis+cluster:// (a seed node of a Redis Cluster).
 */
import { statSync } from "node:fs";
import { isMarketplaceError, type UsageStore } from "@marketmeter/core";
import { CliError } from "./errors.js";

export interface OpenedStore {
  store: UsageStore;
  /** Where it is, without credentials (safe to print). */
  where: string;
  kind: "sqlite" | "postgres" | "redis";
}

/** What `--store` names, before anything is opened. */
export type StoreSpec =
  | { kind: "sqlite"; path: string }
  | { kind: "postgres"; url: string }
  | { kind: "redis"; url: string; cluster?: true };

/** Classifies a `--store` value; a URL scheme it does not know is a usage error, never a file name. */
export function parseStoreSpec(text: string | undefined): StoreSpec {
  if (text === undefined || text.trim() === "")
    throw new CliError(
      "USAGE",
      "no store given: pass --store <path|postgres://…|redis://…> or set MARKETMETER_STORE",
    );
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(text)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    if (text.startsWith("sqlite:")) return { kind: "sqlite", path: text.slice("sqlite:".length) };
    return { kind: "sqlite", path: text };
  }
  const checkUrl = (url = text) => {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new CliError("INVALID_STORE_URL", `--store: ${redact(text)} is not a valid URL`);
    }
    if (!u.hostname && !u.searchParams.get("host"))
      throw new CliError("INVALID_STORE_URL", `--store: ${redact(text)} has no host`);
  };
  if (scheme === "postgres" || scheme === "postgresql") {
    checkUrl();
    return { kind: "postgres", url: text };
  }
  if (scheme === "redis" || scheme === "rediss") {
    checkUrl();
    return { kind: "redis", url: text };
  }
  // A Redis Cluster, reached through one seed node: the store's own URL with the plain scheme.
  if (scheme === "redis+cluster" || scheme === "rediss+cluster") {
    const url = `${scheme.slice(0, -"+cluster".length)}${text.slice(scheme.length)}`;
    checkUrl(url);
    return { kind: "redis", url, cluster: true };
  }
  if (scheme === "file") return { kind: "sqlite", path: new URL(text).pathname };
  throw new CliError(
    "INVALID_STORE_URL",
    `--store: unknown scheme "${scheme}://" (use a SQLite file path, postgres://…, redis://… or redis+cluster://…)`,
  );
}

/** A URL with its password replaced, for messages. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@]*@/, "//$1:***@");
  }
}

// The optional store packages are loaded only for their scheme, so a SQLite user needs no pg or Redis.
async function load<T>(name: string, scheme: string): Promise<T> {
  try {
    return (await import(name)) as T;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND")
      throw new CliError(
        "STORE_PACKAGE_MISSING",
        `${scheme} stores need the package ${name}: install it next to @marketmeter/cli (npm install ${name})`,
        { cause: err },
      );
    throw err;
  }
}

type SqliteModule = typeof import("@marketmeter/sqlite");
type PostgresModule = typeof import("@marketmeter/postgres");
type RedisModule = typeof import("@marketmeter/redis");

/**
 * Opens the store and proves it answers within `timeoutMs`: an unreachable database fails in bounded
 * time with exit code 3 rather than hanging a cron job.
 */
export async function openStore(
  spec: StoreSpec,
  options: {
    timeoutMs: number;
    schema?: string;
    keyPrefix?: string;
    /** Receives store warnings (a Redis that may evict keys). @default console.warn */
    onWarning?: (message: string) => void;
  },
): Promise<OpenedStore> {
  if (options.schema !== undefined && spec.kind !== "postgres")
    throw new CliError("USAGE", "--schema applies to postgres:// stores only");
  if (options.keyPrefix !== undefined && spec.kind !== "redis")
    throw new CliError("USAGE", "--key-prefix applies to redis:// stores only");
  let opened: OpenedStore;
  if (spec.kind === "sqlite") {
    // Opening a path that does not exist would create an empty store and report "all fine".
    const st = statSync(spec.path, { throwIfNoEntry: false });
    if (!st?.isFile())
      throw new CliError(
        "STORE_NOT_FOUND",
        `--store: no SQLite store at ${spec.path}${st ? " (it is not a file)" : ""}; check the path (the app's default is .marketmeter/usage.db)`,
      );
    const { sqliteStore } = await load<SqliteModule>("@marketmeter/sqlite", "SQLite");
    opened = { store: wrapOpen(() => sqliteStore({ path: spec.path })), where: spec.path, kind: "sqlite" };
  } else if (spec.kind === "postgres") {
    const { postgresStore } = await load<PostgresModule>("@marketmeter/postgres", "PostgreSQL");
    const store = wrapOpen(() =>
      postgresStore({
        connectionString: spec.url,
        connectTimeoutMs: options.timeoutMs,
        maxConnections: 2,
        // Read-mostly: a CLI must never create or upgrade the app's tables behind its back.
        migrate: false,
        ...(options.schema !== undefined ? { schema: options.schema } : {}),
      }),
    );
    opened = { store, where: redact(spec.url), kind: "postgres" };
  } else {
    const { redisStore } = await load<RedisModule>("@marketmeter/redis", "Redis");
    const store = wrapOpen(() =>
      redisStore({
        url: spec.url,
        ...(spec.cluster ? { cluster: true } : {}),
        connectTimeoutMs: options.timeoutMs,
        commandTimeoutMs: options.timeoutMs,
        // Reading a store that may evict is still worth doing: say so, as the app would, but go on.
        evictionCheck: "warn",
        ...(options.onWarning !== undefined ? { onWarning: options.onWarning } : {}),
        ...(options.keyPrefix !== undefined ? { keyPrefix: options.keyPrefix } : {}),
      }),
    );
    opened = { store, where: `${redact(spec.url)}${spec.cluster ? " (Cluster)" : ""}`, kind: "redis" };
  }
  try {
    await withTimeout(
      (async () => {
        const s = opened.store as UsageStore & { ready?(): Promise<void> };
        if (typeof s.ready === "function") await s.ready();
        await s.counts();
      })(),
      options.timeoutMs,
      `the store at ${opened.where} did not answer within ${options.timeoutMs} ms`,
    );
  } catch (err) {
    opened.store.close().catch(() => {});
    throw unreachable(opened.where, err);
  }
  return opened;
}

function wrapOpen(open: () => UsageStore): UsageStore {
  try {
    return open();
  } catch (err) {
    if (isMarketplaceError(err, "INVALID_CONFIG") || isMarketplaceError(err, "INVALID_ARGUMENT"))
      throw new CliError("INVALID_STORE_URL", `--store: ${(err as Error).message}`, { cause: err });
    throw new CliError("STORE_UNREACHABLE", `cannot open the store: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

function unreachable(where: string, err: unknown): CliError {
  if (err instanceof CliError) return err;
  const msg = (err as Error)?.message ?? String(err);
  const schema = /schema "([^"]+)" is at version none/.exec(msg)?.[1];
  if (schema !== undefined)
    return new CliError(
      "STORE_NOT_FOUND",
      `no marketmeter store in schema "${schema}" at ${where}: check the database name in the URL and --schema (the CLI never creates tables)`,
      { cause: err },
    );
  // The store speaks of its own options; say what to change on the command line instead.
  const text = /is a node of a Redis Cluster/.test(msg)
    ? `${msg.replace(/: set cluster: true$/, "")}: use --store ${where.replace(/^redis(s?):\/\//, "redis$1+cluster://")}`
    : msg;
  return new CliError("STORE_UNREACHABLE", text.includes(where) ? text : `store ${where}: ${text}`, {
    cause: err,
  });
}

/** Races `p` against a timer that is always cleared, so the process can exit as soon as work is done. */
export async function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new CliError("STORE_UNREACHABLE", message)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
