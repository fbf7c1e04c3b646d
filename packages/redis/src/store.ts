/**
 * The usage store on Redis, shared by every instance of an app. Adds, settles and releases apply the
 * core's grain rules in JavaScript to the grains they read, then write them with one compare-and-set
 * script (all or nothing; re-read and re-applied on a conflict), so the rules are the same as every other
 * store's. Closing and claiming are single scripts that follow the same rules field by field.
 */
import { randomBytes } from "node:crypto";
import {
  type GrainOutcome,
  type GrainState,
  MarketplaceError,
  type StoredGrain,
  type UsageStore,
} from "@marketmeter/core";
import {
  type AddContext,
  type AddResult,
  applyAdd,
  applyRelease,
  applySettle,
  type CarryForward,
  type ClaimOptions,
  type CloseGrainsFilter,
  GRAIN_STATES,
  type GrainLease,
  grainKey,
  isTerminalState,
  type ListQuery,
  matchesQuery,
  type SettleResult,
  type UsageDelta,
} from "@marketmeter/core/store";
import type { Redis } from "ioredis";
import {
  type Connection,
  handle,
  invalid,
  openConnection,
  type RedisConnectionOptions,
} from "./connection.js";
import { type ScriptedRedis, scripted } from "./scripts.js";

const DAY_MS = 86_400_000;
/** How long the highest applied checkpoint seq of an instance is kept. */
const CHECKPOINT_TTL_MS = 7 * DAY_MS;
/**
 * How long a write id is remembered, so a resend after a dropped connection is answered, not reapplied.
 * ioredis resends within its reconnect attempts (seconds); one marker per write, so keep it short.
 */
const WRITE_MARKER_TTL_MS = 600_000;
const MAX_TRIES = 20;
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Options of {@link redisStore}. */
export interface RedisStoreOptions extends RedisConnectionOptions {
  /**
   * Settled grains (sent, rejected, expired, uncertain) are deleted this long after they settled; they stay
   * readable (`list`, `get`) for the month-end audit until then.
   * @default 3024000000 (35 days)
   */
  retainSettledMs?: number;
}

/** Marks a checkpoint so a retried `add` (after an ambiguous failure) is applied once. */
export interface CheckpointMark {
  /** The instance that wrote the deltas (stable across its checkpoints). */
  instance: string;
  /** Increases with every checkpoint of the instance; a seq not above the last applied one is a duplicate. */
  seq: number;
}

/** {@link AddContext} with an optional checkpoint mark. */
export interface RedisAddContext extends AddContext {
  checkpoint?: CheckpointMark;
}

/** {@link AddResult}; `duplicate` when the checkpoint was already applied (nothing was added). */
export interface RedisAddResult extends AddResult {
  duplicate?: boolean;
}

/** Token bucket settings of {@link RedisStore.takeSendToken}. */
export interface SendTokenOptions {
  /** Tokens added per second, shared by every instance. */
  ratePerSecond: number;
  /** Most tokens held at once (the largest burst). */
  burst: number;
}

/** The Redis usage store: a `UsageStore` with a start-up check and a shared send pacing bucket. */
export interface RedisStore extends UsageStore {
  /** Connects and checks the server (reachable, no eviction). Every method does this on first use. */
  ready(): Promise<void>;
  add(deltas: readonly UsageDelta[], ctx: RedisAddContext): Promise<RedisAddResult>;
  /**
   * Takes one token from a bucket shared by every instance, timed by the Redis server's clock (never the
   * caller's). Returns 0 when a token was taken, else the milliseconds to wait before trying again.
   */
  takeSendToken(bucket: string, options: SendTokenOptions): Promise<number>;
}

// Grain <-> hash fields (short names: a store holds one hash per grain).
function toFields(g: StoredGrain): string[] {
  const f: string[] = [
    "id",
    g.identityKey,
    "dim",
    g.dimension,
    "hour",
    String(g.hour),
    "q",
    String(g.quantity),
    "st",
    g.state,
    "at",
    String(g.attempts),
    "lt",
    String(g.leaseToken ?? 0),
    "un",
    g.uncertain ? "1" : "0",
    "ca",
    String(g.createdAt),
    "ua",
    String(g.updatedAt),
  ];
  const opt = (name: string, v: string | number | undefined) => {
    if (v !== undefined) f.push(name, String(v));
  };
  if (g.allocations) f.push("al", JSON.stringify(g.allocations));
  opt("na", g.nextAttemptAt);
  opt("lo", g.leaseOwner);
  opt("lu", g.leaseUntil);
  opt("mr", g.meteringRecordId);
  opt("rs", g.reason);
  opt("le", g.lastError);
  opt("cl", g.closedAt);
  opt("sa", g.settledAt);
  return f;
}

function fromHash(key: string, h: Record<string, string>): StoredGrain {
  const g: StoredGrain = {
    key,
    identityKey: h.id as string,
    dimension: h.dim as string,
    hour: Number(h.hour),
    quantity: Number(h.q),
    state: h.st as GrainState,
    attempts: Number(h.at ?? 0),
    leaseToken: Number(h.lt ?? 0),
    uncertain: h.un === "1",
    createdAt: Number(h.ca),
    updatedAt: Number(h.ua),
  };
  if (h.al !== undefined) g.allocations = JSON.parse(h.al) as Record<string, number>;
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  const set = <K extends keyof StoredGrain>(k: K, v: StoredGrain[K] | undefined) => {
    if (v !== undefined) g[k] = v;
  };
  set("nextAttemptAt", num(h.na));
  set("leaseOwner", h.lo);
  set("leaseUntil", num(h.lu));
  set("meteringRecordId", h.mr);
  set("reason", h.rs);
  set("lastError", h.le);
  set("closedAt", num(h.cl));
  set("settledAt", num(h.sa));
  return g;
}

function pairsToRecord(a: string[]): Record<string, string> {
  const o: Record<string, string> = {};
  for (let i = 0; i + 1 < a.length; i += 2) o[a[i] as string] = a[i + 1] as string;
  return o;
}

/** A grain read for a compare-and-set: the grain (if any) and the version it had. */
interface Read {
  grain?: StoredGrain;
  v: string;
}

/** Thrown inside a rule run when it needs a grain that was not read yet. */
class Miss {
  constructor(readonly key: string) {}
}

function checkCheckpoint(ck: unknown): CheckpointMark | undefined {
  if (ck === undefined) return undefined;
  const c = ck as Partial<CheckpointMark> | null;
  if (
    typeof c !== "object" ||
    c === null ||
    typeof c.instance !== "string" ||
    c.instance.length === 0 ||
    c.instance.length > 200 ||
    CONTROL.test(c.instance)
  )
    throw new MarketplaceError(
      "INVALID_ARGUMENT",
      "redisStore add: checkpoint.instance must be a non-empty string of at most 200 printable characters",
    );
  if (!Number.isSafeInteger(c.seq) || (c.seq as number) < 0)
    throw new MarketplaceError(
      "INVALID_ARGUMENT",
      "redisStore add: checkpoint.seq must be a non-negative safe integer",
    );
  return { instance: c.instance, seq: c.seq as number };
}

/**
 * Creates the Redis usage store. Give the app's ioredis client (`Redis` or `Cluster`) or a URL.
 *
 * @example
 * import { Redis } from "ioredis";
 * import { createMarketplace } from "@marketmeter/core";
 * import { redisStore } from "@marketmeter/redis";
 * const redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
 * createMarketplace({ store: redisStore({ client: redis, keyPrefix: "billing" }), … });
 */
export function redisStore(options: RedisStoreOptions): RedisStore {
  const c: Connection = openConnection(options, "redisStore", ["retainSettledMs"]);
  const retain = options.retainSettledMs ?? 35 * DAY_MS;
  if (!Number.isSafeInteger(retain) || retain < 0)
    invalid("redisStore retainSettledMs must be a non-negative integer");
  const redis = c.redis as Redis;
  const cmd: ScriptedRedis = scripted(redis);
  const base = c.base;
  const routeKey = `${base}i:all`;
  const h = handle(c, "redis store");
  const run = h.run;

  const readGrains = async (keys: readonly string[], into: Map<string, Read>): Promise<void> => {
    const todo = keys.filter((k) => !into.has(k));
    if (todo.length === 0) return;
    const p = redis.pipeline();
    for (const k of todo) p.hgetall(`${base}g:${k}`);
    const res = (await p.exec()) ?? [];
    todo.forEach((k, i) => {
      const [err, h] = res[i] ?? [new Error("no reply")];
      if (err) throw err;
      const rec = h as Record<string, string>;
      if (rec && rec.st !== undefined) into.set(k, { grain: fromHash(k, rec), v: rec.v ?? "" });
      else into.set(k, { v: "" });
    });
  };

  /**
   * Reads what `compute` needs, runs it, and writes the grains it staged with one compare-and-set.
   * `payload` is what a resend of the same write answers (the first run's result).
   */
  const casWrite = async <T>(
    initial: readonly string[],
    compute: (get: (k: string) => StoredGrain | undefined, put: (g: StoredGrain) => void) => T,
    encode: (r: T) => string,
    decode: (payload: string) => T,
    checkpoint?: CheckpointMark,
  ): Promise<{ result: T; duplicate?: boolean }> => {
    const writeId = randomBytes(12).toString("base64url");
    for (let attempt = 1; attempt <= MAX_TRIES; attempt++) {
      const reads = new Map<string, Read>();
      await readGrains(initial, reads);
      let result: T;
      let staged: Map<string, StoredGrain>;
      for (;;) {
        staged = new Map();
        try {
          const s = staged;
          result = compute(
            (k) => {
              const hit = s.get(k);
              if (hit) return hit;
              const r = reads.get(k);
              if (!r) throw new Miss(k);
              return r.grain;
            },
            (g) => void s.set(g.key, g),
          );
          break;
        } catch (err) {
          if (!(err instanceof Miss)) throw err;
          await readGrains([err.key], reads);
        }
      }
      const args: string[] = [
        base,
        writeId,
        encode(result),
        String(WRITE_MARKER_TTL_MS),
        checkpoint?.instance ?? "",
        String(checkpoint?.seq ?? 0),
        String(CHECKPOINT_TTL_MS),
        String(retain),
        String(retain + DAY_MS),
        String(reads.size),
      ];
      for (const [k, r] of reads) args.push(k, r.v);
      args.push(String(staged.size));
      for (const g of staged.values()) {
        const fields = toFields(g);
        const dropAt =
          isTerminalState(g.state) && g.settledAt !== undefined ? String(g.settledAt + retain) : "";
        args.push(g.key, String(g.hour), g.state, dropAt, String(fields.length / 2), ...fields);
      }
      const reply = await cmd.mmPut(routeKey, ...args);
      const status = reply[0];
      if (status === "ok") return { result };
      if (status === "replay") return { result: decode(reply[1] as string) };
      if (status === "duplicate") return { result, duplicate: true };
      // Another instance wrote one of these grains since we read it: read again and re-apply the rules.
      await new Promise((r) => setTimeout(r, Math.random() * 4 * attempt));
    }
    throw new MarketplaceError(
      "STORE_ERROR",
      `redisStore: a write kept conflicting with other instances after ${MAX_TRIES} tries`,
    );
  };

  const store: RedisStore = {
    kind: "redis",
    durable: true,
    ready: () => run("start-up", async () => {}),
    add(deltas: readonly UsageDelta[], ctx: RedisAddContext): Promise<RedisAddResult> {
      const checkpoint = checkCheckpoint(ctx?.checkpoint);
      return run("adding usage", async () => {
        if (deltas.length === 0 && !checkpoint) return { carried: [] };
        const keys = deltas.map((d) => grainKey(d.identityKey, d.dimension, d.hour));
        const out = await casWrite(
          keys,
          (get, put) => applyAdd({ get, put }, deltas, ctx),
          (r) => JSON.stringify(r),
          (p) => JSON.parse(p) as CarryForward[],
          checkpoint,
        );
        return out.duplicate ? { carried: [], duplicate: true } : { carried: out.result };
      });
    },
    closeGrains: (filter: CloseGrainsFilter) =>
      run("closing grains", async () =>
        Number(
          await cmd.mmClose(
            routeKey,
            base,
            String(filter.hourBefore),
            filter.identityKey ?? "",
            String(filter.now),
          ),
        ),
      ),
    claim: (o: ClaimOptions) =>
      run("claiming grains", async () => {
        if (o.limit <= 0) return [];
        const rows = await cmd.mmClaim(
          routeKey,
          base,
          o.owner,
          String(o.now),
          String(o.now + o.leaseMs),
          String(o.limit),
          o.identityKey ?? "",
          o.ignoreBackoff ? "1" : "0",
        );
        return rows.map((r) => {
          const h = pairsToRecord(r);
          return fromHash(grainKey(h.id as string, h.dim as string, Number(h.hour)), h);
        });
      }),
    settle: (outcomes: readonly GrainOutcome[], ctx: { owner: string; now: number }) =>
      run("settling grains", async () => {
        if (outcomes.length === 0) return { applied: 0, refused: [] };
        const out = await casWrite(
          outcomes.map((o) => o.key),
          (get, put): SettleResult => {
            const result: SettleResult = { applied: 0, refused: [] };
            for (const o of outcomes) {
              const g = get(o.key);
              const next = g && applySettle(g, o, ctx.owner, ctx.now);
              if (next) {
                put(next);
                result.applied++;
              } else result.refused.push(o.key);
            }
            return result;
          },
          (r) => JSON.stringify(r),
          (p) => JSON.parse(p) as SettleResult,
        );
        return out.result;
      }),
    release: (leases: readonly GrainLease[], owner: string) =>
      run("releasing grains", async () => {
        if (leases.length === 0) return 0;
        const out = await casWrite(
          leases.map((l) => l.key),
          (get, put) => {
            let n = 0;
            for (const l of leases) {
              const g = get(l.key);
              const next = g && applyRelease(g, owner, l.leaseToken);
              if (next) {
                put(next);
                n++;
              }
            }
            return n;
          },
          String,
          Number,
        );
        return out.result;
      }),
    get: (key: string) =>
      run("reading a grain", async () => {
        const reads = new Map<string, Read>();
        await readGrains([key], reads);
        return reads.get(key)?.grain;
      }),
    list: (query: ListQuery = {}) =>
      run("listing grains", async () => {
        const limit = query.limit ?? 10_000;
        // The narrowest index: one state's set when the query names one state.
        const index = query.states?.length === 1 ? `i:${query.states[0]}` : "i:all";
        const min = query.hourFrom !== undefined ? String(query.hourFrom) : "-inf";
        const max = query.hourTo !== undefined ? `(${query.hourTo}` : "+inf";
        const out: StoredGrain[] = [];
        for (let offset = 0; out.length < limit; offset += 500) {
          const members = await redis.zrangebyscore(`${base}${index}`, min, max, "LIMIT", offset, 500);
          if (members.length === 0) break;
          const reads = new Map<string, Read>();
          await readGrains(members, reads);
          for (const m of members) {
            const g = reads.get(m)?.grain;
            if (g && matchesQuery(g, query)) out.push(g);
            if (out.length >= limit) break;
          }
        }
        return out;
      }),
    counts: () =>
      run("counting grains", async () => {
        const p = redis.pipeline();
        for (const s of GRAIN_STATES) p.zcard(`${base}i:${s}`);
        const res = (await p.exec()) ?? [];
        const out = {} as Record<GrainState, number>;
        GRAIN_STATES.forEach((s, i) => {
          const [err, n] = res[i] ?? [new Error("no reply")];
          if (err) throw err;
          out[s] = Number(n);
        });
        return out;
      }),
    takeSendToken(bucket: string, o: SendTokenOptions): Promise<number> {
      if (typeof bucket !== "string" || bucket.length === 0 || bucket.length > 200 || CONTROL.test(bucket))
        throw new MarketplaceError(
          "INVALID_ARGUMENT",
          "redisStore takeSendToken: bucket must be a non-empty string of at most 200 printable characters",
        );
      if (typeof o !== "object" || o === null || !(o.ratePerSecond > 0) || !Number.isFinite(o.ratePerSecond))
        throw new MarketplaceError(
          "INVALID_ARGUMENT",
          "redisStore takeSendToken: ratePerSecond must be a positive number",
        );
      if (!Number.isSafeInteger(o.burst) || o.burst < 1)
        throw new MarketplaceError(
          "INVALID_ARGUMENT",
          "redisStore takeSendToken: burst must be a positive integer",
        );
      return run("taking a send token", async () =>
        Number(await cmd.mmToken(`${base}tb:${bucket}`, String(o.ratePerSecond), String(o.burst))),
      );
    },
    close: h.close,
  };
  return store;
}
