/**
 * The connection layer both stores share: a caller's ioredis client (or Cluster) or one made from a URL,
 * option checks, the start-up check (reachable, `maxmemory-policy`), and error wording that names the
 * setting to fix (never the password). Every key of a store starts with the hash tag `{<keyPrefix>}`, so
 * all of them live in one Cluster slot and each Lua script touches one shard.
 */
import { MarketplaceError } from "@marketmeter/core";
import { Cluster, Redis } from "ioredis";

/** The clients the stores accept: an ioredis `Redis` or `Cluster`. */
export type RedisClientLike = Redis | Cluster;

/** Connection options shared by {@link redisStore} and {@link redisDirectoryStore}. */
export interface RedisConnectionOptions {
  /** The app's ioredis client (`Redis` or `Cluster`). It is not closed by `close()`. Give this or `url`. */
  client?: RedisClientLike;
  /**
   * A `redis://` or `rediss://` URL: the store makes its own client and closes it on `close()`.
   * @example "redis://:password@cache.internal:6379/0"
   */
  url?: string;
  /**
   * With `url`: the URL names one node of a Redis Cluster (a seed). The store makes an ioredis `Cluster`
   * from it, which finds the other masters itself; the URL's user, password and `rediss:` TLS apply to
   * every node. A Cluster has only database 0.
   * @default false
   */
  cluster?: boolean;
  /**
   * Every key starts with `{<keyPrefix>}:`; the braces make it a Cluster hash tag. Letters, digits and
   * `._:-` only. Use different prefixes for separate stores (or to spread stores over shards).
   * @default "marketmeter"
   */
  keyPrefix?: string;
  /** With `url`: how long to wait for a connection before failing. @default 10000 */
  connectTimeoutMs?: number;
  /** With `url`: how long one command may take before it fails. @default 10000 */
  commandTimeoutMs?: number;
  /**
   * What to do when Redis may evict keys (`maxmemory-policy` other than `noeviction`): eviction would
   * silently drop grains, i.e. unbilled usage. `"refuse"` fails start-up; `"warn"` calls `onWarning`.
   * @default "refuse"
   */
  evictionCheck?: "refuse" | "warn" | "off";
  /** Receives start-up warnings. @default console.warn */
  onWarning?: (message: string) => void;
}

export const CONNECTION_OPTIONS = [
  "client",
  "url",
  "cluster",
  "keyPrefix",
  "connectTimeoutMs",
  "commandTimeoutMs",
  "evictionCheck",
  "onWarning",
] as const;

export const DEFAULT_PREFIX = "marketmeter";

export function invalid(message: string): never {
  throw new MarketplaceError("INVALID_CONFIG", message);
}

const PREFIX_RE = /^[A-Za-z0-9._:-]{1,64}$/;

/** Checks a key prefix: braces would break the hash tag, and Cluster needs one tag per store. */
export function checkKeyPrefix(prefix: unknown, where: string): string {
  if (typeof prefix !== "string" || !PREFIX_RE.test(prefix))
    invalid(
      `${where} keyPrefix must be 1 to 64 characters of letters, digits and . _ : - (no braces: the store adds its own hash tag)`,
    );
  return prefix;
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
export function checkUrl(url: unknown, where: string): string {
  if (typeof url !== "string" || url.length === 0) invalid(`${where} url must be a non-empty string`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    invalid(`${where} url is not a valid URL (expected redis://user:password@host:port/db)`);
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:")
    invalid(`${where} url must start with redis:// or rediss://`);
  checkEscapes(parsed, where, "url");
  const db = parsed.pathname.replace(/^\//, "");
  if (db !== "" && !/^\d{1,5}$/.test(db)) invalid(`${where} url path must be a database number, e.g. /0`);
  return url;
}

/** Host and port of a URL, for messages: never the password. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname || "localhost"}:${u.port || "6379"}${u.pathname || ""}`;
  } catch {
    return "Redis";
  }
}

function positiveInt(value: unknown, fallback: number, what: string): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || (v as number) < 1) invalid(`${what} must be a positive integer`);
  return v as number;
}

export interface Connection {
  redis: RedisClientLike;
  /** `{<keyPrefix>}:`, the start of every key. */
  base: string;
  /** Which setting names the server, for messages. */
  setting: string;
  where: string;
  owned: boolean;
  startupTimeoutMs: number;
  evictionCheck: "refuse" | "warn" | "off";
  onWarning: (message: string) => void;
  /** With `url`: the database number it names (checked at start-up: ioredis only reports a failed SELECT). */
  db?: number;
  /** With `url`: the last error the client reported (a refused AUTH only shows there). */
  lastError?: Error;
}

function isCluster(c: RedisClientLike): c is Cluster {
  return typeof (c as Partial<Cluster>).nodes === "function" && (c as Cluster).isCluster === true;
}

function isClient(c: unknown): c is RedisClientLike {
  const r = c as Partial<Redis> | null;
  return (
    typeof r === "object" &&
    r !== null &&
    typeof r.defineCommand === "function" &&
    typeof r.pipeline === "function"
  );
}

export function openConnection(options: RedisConnectionOptions, where: string, extra: readonly string[]) {
  if (typeof options !== "object" || options === null) invalid(`${where} options must be an object`);
  const known = new Set<string>([...CONNECTION_OPTIONS, ...extra]);
  for (const k of Object.keys(options)) if (!known.has(k)) invalid(`${where}: unknown option "${k}"`);
  const prefix = checkKeyPrefix(options.keyPrefix ?? DEFAULT_PREFIX, where);
  const evictionCheck = options.evictionCheck ?? "refuse";
  if (evictionCheck !== "refuse" && evictionCheck !== "warn" && evictionCheck !== "off")
    invalid(`${where} evictionCheck must be "refuse", "warn" or "off"`);
  if (options.onWarning !== undefined && typeof options.onWarning !== "function")
    invalid(`${where} onWarning must be a function`);
  const onWarning = options.onWarning ?? ((m: string) => console.warn(m));
  const connectTimeout = positiveInt(options.connectTimeoutMs, 10_000, `${where} connectTimeoutMs`);
  const commandTimeout = positiveInt(options.commandTimeoutMs, 10_000, `${where} commandTimeoutMs`);
  const common = { base: `{${prefix}}:`, where, evictionCheck, onWarning } as const;
  if (options.client !== undefined && options.url !== undefined)
    invalid(`${where} takes client or url, not both`);
  if (options.cluster !== undefined && typeof options.cluster !== "boolean")
    invalid(`${where} cluster must be a boolean`);
  if (options.client !== undefined) {
    if (!isClient(options.client)) invalid(`${where} client must be an ioredis Redis or Cluster instance`);
    if (options.cluster !== undefined)
      invalid(`${where} cluster applies to url; with client, pass your ioredis Cluster itself`);
    if (options.connectTimeoutMs !== undefined || options.commandTimeoutMs !== undefined)
      invalid(`${where} connectTimeoutMs and commandTimeoutMs apply to url; set them on your client`);
    return {
      ...common,
      redis: options.client,
      setting: "client",
      owned: false,
      startupTimeoutMs: connectTimeout,
    } satisfies Connection;
  }
  if (options.url === undefined) invalid(`${where} needs client or url`);
  const url = checkUrl(options.url, where);
  const parsed = new URL(url);
  const db = parsed.pathname.replace(/^\//, "");
  const redisOptions = {
    connectTimeout,
    commandTimeout,
    // Commands queued while Redis is unreachable fail after two reconnect attempts instead of waiting
    // forever; the caller (a checkpoint) retries later with backoff.
    maxRetriesPerRequest: 2,
  };
  let redis: RedisClientLike;
  if (options.cluster === true) {
    if (db !== "" && db !== "0")
      invalid(`${where} url names database ${db}, but a Redis Cluster has only database 0`);
    const tls = parsed.protocol === "rediss:";
    redis = new Cluster(
      [{ host: parsed.hostname.replace(/^\[|\]$/g, "") || "localhost", port: Number(parsed.port || 6379) }],
      {
        lazyConnect: true,
        redisOptions: {
          ...redisOptions,
          ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
          ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
          ...(tls ? { tls: {} } : {}),
        },
        // Managed Clusters with TLS (ElastiCache) announce host names their certificates are made for.
        ...(tls
          ? {
              dnsLookup: (address: string, done: (err: null, address: string) => void) => done(null, address),
            }
          : {}),
        // Give up on an unreachable seed after a few tries, so start-up fails instead of hanging.
        clusterRetryStrategy: (n: number) => (n > 3 ? null : Math.min(100 * 2 ** n, 2_000)),
      },
    );
  } else {
    redis = new Redis(url, {
      lazyConnect: true,
      ...redisOptions,
      retryStrategy: (n) => Math.min(50 * 2 ** n, 2_000),
    });
  }
  const c: Connection = {
    ...common,
    redis,
    setting: `url (${describeUrl(url)}${options.cluster === true ? ", Cluster" : ""})`,
    owned: true,
    startupTimeoutMs: connectTimeout + commandTimeout,
    ...(db !== "" && options.cluster !== true ? { db: Number(db) } : {}),
  };
  // Connection errors also reject the commands that hit them; without a listener they would crash the
  // process. The last one explains a start-up failure that ioredis reports only as "Connection is closed".
  redis.on("error", (err: Error) => {
    c.lastError = err;
  });
  return c;
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

/** Wraps a client error as a coded error that says which setting to check. */
export function storeError(c: Connection, what: string, err: unknown): MarketplaceError {
  if (err instanceof MarketplaceError) return err;
  const e = err as { code?: string; message?: string };
  const msg = String(e?.message ?? err);
  let hint = "";
  if (/WRONGPASS|NOAUTH|NOPERM/.test(msg)) hint = ` (check the user and password in ${c.setting})`;
  else if (/DB index is out of range/.test(msg)) hint = ` (check the database number in ${c.setting})`;
  else if (/^MOVED \d+ /.test(msg))
    hint = ` (this Redis is a Cluster node: set cluster: true with ${c.setting}, or pass an ioredis Cluster as client)`;
  else if (/None of startup nodes is available/.test(msg))
    hint = ` (check the host and port in ${c.setting}, and that the Cluster is reachable)`;
  else if (/TRYAGAIN|Too many Cluster redirections/.test(msg))
    hint =
      " (the store's Cluster slot is being moved to another master; nothing was written, try again after the move)";
  else if (
    (e?.code && CONNECT_CODES.has(e.code)) ||
    /timed? ?out|connect|max retries|Connection is closed/i.test(msg)
  )
    hint = ` (check the host and port in ${c.setting}, and that Redis is reachable)`;
  return new MarketplaceError("STORE_ERROR", `${c.where} ${what} failed: ${msg}${hint}`, { cause: err });
}

/** Rejects after `ms` unless `p` settles first. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** Reads `maxmemory_policy` from INFO (CONFIG is often disabled on managed Redis). */
export function evictionPolicy(info: string): string | undefined {
  return /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
}

/** Start-up check: connects, then refuses (or warns about) a server that may evict keys. */
export async function checkServer(c: Connection): Promise<void> {
  try {
    const r = c.redis as Redis;
    if (c.owned && r.status === "wait") await within(r.connect(), c.startupTimeoutMs, "connecting");
    if (c.db !== undefined) await within(r.select(c.db), c.startupTimeoutMs, "SELECT");
    // On a Cluster, INFO goes to one node picked at random: ask every master, since a reshard can move the
    // store's slot to any of them.
    const first = await within(r.info("memory"), c.startupTimeoutMs, "INFO");
    // A plain client on a Cluster node works only while the store's slot happens to live on that node.
    if (!isCluster(c.redis)) {
      const info = await within(r.info("cluster"), c.startupTimeoutMs, "INFO cluster");
      if (/^cluster_enabled:1/m.test(info))
        throw new MarketplaceError(
          "STORE_ERROR",
          `${c.where}: ${c.setting} is a node of a Redis Cluster, and a plain client only reaches the keys on that node: ${c.owned ? "set cluster: true" : "pass an ioredis Cluster as client"}`,
        );
    }
    const answers: Array<{ info: string; node?: string }> = isCluster(c.redis)
      ? await within(
          Promise.all(
            c.redis.nodes("master").map(async (n) => ({
              info: await n.info("memory"),
              node: `${n.options.host}:${n.options.port}`,
            })),
          ),
          c.startupTimeoutMs,
          "INFO on every master",
        )
      : [{ info: first }];
    for (const { info, node } of answers) {
      const policy = evictionPolicy(info);
      if (c.evictionCheck === "off" || policy === undefined || policy === "noeviction") continue;
      const on = node ? ` on Cluster master ${node}` : "";
      const msg = `${c.where}: Redis maxmemory-policy is "${policy}"${on}: eviction would silently drop usage grains (lost revenue); set maxmemory-policy noeviction`;
      if (c.evictionCheck === "refuse")
        throw new MarketplaceError("STORE_ERROR", `${msg}, or evictionCheck: "warn" to accept the risk`);
      c.onWarning(msg);
    }
  } catch (err) {
    const closedOnly = err instanceof Error && /Connection is closed/.test(err.message);
    throw storeError(c, "start-up", closedOnly && c.lastError ? c.lastError : err);
  }
}

/** Runs the start-up check once per handle; a failed one is tried again on the next call. */
function readiness(c: Connection): () => Promise<void> {
  let p: Promise<void> | undefined;
  return () => {
    if (!p) {
      p = checkServer(c);
      p.catch(() => {
        p = undefined;
      });
    }
    return p;
  };
}

/** What every store method goes through: closed check, start-up check, error wording; and closing. */
export interface Handle {
  run<T>(what: string, fn: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export function handle(c: Connection, name: string): Handle {
  const ready = readiness(c);
  let closed = false;
  return {
    async run(what, fn) {
      if (closed) throw new MarketplaceError("STORE_ERROR", `${name} is closed`);
      await ready();
      try {
        return await fn();
      } catch (err) {
        throw storeError(c, what, err);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      if (!c.owned) return;
      // Politely when connected, at once otherwise: never wait on a server that is not there.
      const redis = c.redis as Redis;
      if (redis.status === "ready") await redis.quit().catch(() => redis.disconnect());
      else redis.disconnect();
    },
  };
}
