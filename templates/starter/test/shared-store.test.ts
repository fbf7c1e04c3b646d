// Many instances: two app instances on one shared store, PostgreSQL (DATABASE_URL) or Redis (REDIS_URL),
// meter to one emulator; AWS gets one record per buyer, dimension and hour, with the usage of both.
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningApp, startApp } from "../src/app.js";
import { readConfig } from "../src/config.js";
import { openSharedStores, type SharedStoreSettings } from "../src/stores.js";
import { defined } from "./defined.js";

process.env.AWS_EC2_METADATA_DISABLED = "true";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

const unique = () => randomUUID().replaceAll("-", "").slice(0, 12);

/** A Redis client for the tests' own setup and checks. */
async function withRedis<T>(url: string, fn: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    return await fn(redis);
  } finally {
    redis.disconnect();
  }
}

/** Every key of one store prefix, as the Redis stores name them (`{prefix}:…`). */
const keysOf = (redis: Redis, keyPrefix: string) => redis.keys(`{${keyPrefix}}:*`);

interface Backend {
  title: string;
  variable: "DATABASE_URL" | "REDIS_URL" | "REDIS_CLUSTER_NODES";
  url: string | undefined;
  /** Settings on a schema or key prefix of this run only. */
  settings(url: string): SharedStoreSettings;
  drop(settings: SharedStoreSettings): Promise<void>;
}

const BACKENDS: Backend[] = [
  {
    title: "PostgreSQL",
    variable: "DATABASE_URL",
    url: process.env.DATABASE_URL,
    settings: (url) => ({ kind: "postgres", url, schema: `starter_${unique()}` }),
    drop: async (settings) => {
      if (settings.kind !== "postgres") return;
      const { default: pg } = await import("pg");
      const c = new pg.Client({ connectionString: settings.url });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS "${settings.schema}" CASCADE`);
      await c.end();
    },
  },
  {
    title: "Redis",
    variable: "REDIS_URL",
    url: process.env.REDIS_URL,
    settings: (url) => ({ kind: "redis", url, keyPrefix: `starter-${unique()}` }),
    drop: async (settings) => {
      if (settings.kind !== "redis") return;
      await withRedis(settings.url, async (redis) => {
        const keys = await keysOf(redis, defined(settings.keyPrefix));
        if (keys.length > 0) await redis.unlink(...keys);
      });
    },
  },
  {
    // What REDIS_URL=redis+cluster://<seed> gives: the stores make their own ioredis Cluster.
    title: "Redis Cluster",
    variable: "REDIS_CLUSTER_NODES",
    url: process.env.REDIS_CLUSTER_NODES?.split(",")[0],
    settings: (seed) => ({
      kind: "redis",
      url: `redis://${seed}`,
      cluster: true,
      keyPrefix: `starter-${unique()}`,
    }),
    drop: async (settings) => {
      if (settings.kind !== "redis") return;
      const { Cluster } = await import("ioredis");
      const seed = new URL(settings.url);
      const cluster = new Cluster([{ host: seed.hostname, port: Number(seed.port) }]);
      try {
        await cluster.ping();
        for (const node of cluster.nodes("master")) {
          const keys = await node.keys(`{${defined(settings.keyPrefix)}}:*`);
          if (keys.length > 0) await node.unlink(...keys);
        }
      } finally {
        cluster.disconnect();
      }
    },
  },
];

/**
 * Runs `body` for each shared store. CI starts PostgreSQL, Redis and a Redis Cluster: there a missing URL is a failure,
 * not a skip; elsewhere the tests of a store without a URL are skipped.
 */
function eachBackend(name: string, body: (backend: Backend, url: () => string) => void): void {
  for (const backend of BACKENDS)
    describe.skipIf(!backend.url && !process.env.CI)(`${name} (${backend.title})`, () => {
      const url = () => {
        if (!backend.url) throw new Error(`${backend.variable} is not set: CI must start ${backend.title}`);
        return backend.url;
      };
      body(backend, url);
    });
}

eachBackend("{{name}} on a shared store", (backend, url) => {
  let first: RunningApp;
  let second: RunningApp;
  let dataDir: string;
  let store: SharedStoreSettings;

  beforeAll(async () => {
    store = backend.settings(url());
    dataDir = mkdtempSync(join(tmpdir(), "{{name}}-shared-"));
    first = await startApp({
      port: 0,
      dataDir,
      store,
      emulator: { port: 0, now: "2026-07-15T10:30:00Z", frozen: true },
      log: () => {},
    });
    // The second instance joins the first one's emulator, as `MARKETMETER_EMULATOR_URL` does.
    second = await startApp({
      port: 0,
      dataDir,
      store,
      emulator: { url: defined(first.emulator).endpoint },
      log: () => {},
    });
  });

  afterAll(async () => {
    await second?.close();
    await first?.close();
    if (store) await backend.drop(store);
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  const control = async <T>(path: string, body?: unknown): Promise<T> => {
    const res = await fetch(defined(first.emulator).endpoint + path, {
      method: body === undefined ? "GET" : "POST",
      headers: { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as T;
  };

  it("sums both instances' usage into one record per hour", async () => {
    const sub = await control<{ license: { licenseArn: string } }>("/_emulator/buyers/subscribe", {
      productCode: "pca1234567890abcdefghijkl",
      customerAWSAccountId: "444455556666",
    });
    const { token } = await control<{ token: string }>("/_emulator/tokens", {
      licenseArn: sub.license.licenseArn,
    });
    // Registration and sign-up on the first instance; the key works on both (same data folder and store).
    const registered = await fetch(`${first.url}/marketplace/register`, {
      method: "POST",
      body: new URLSearchParams({ "x-amzn-marketplace-token": token }),
      redirect: "manual",
    });
    expect(registered.status).toBe(303);
    const registration = defined(
      new URL(defined(registered.headers.get("location")), first.url).searchParams.get("registration"),
    );
    const signedUp = await fetch(`${first.url}/signup`, {
      method: "POST",
      body: new URLSearchParams({ registration, name: "Ann", email: "ann@example.com" }),
      redirect: "manual",
    });
    expect(signedUp.status).toBe(303);
    const done = await fetch(new URL(defined(signedUp.headers.get("location")), first.url), {
      headers: { cookie: defined(signedUp.headers.get("set-cookie")).split(";")[0] ?? "" },
    });
    const apiKey = defined(/mm_[A-Za-z0-9_-]{32}/.exec(await done.text())?.[0]);

    const call = (app: RunningApp) =>
      fetch(`${app.url}/api/quotes?symbol=ACME`, { headers: { authorization: `Bearer ${apiKey}` } });
    for (let i = 0; i < 3; i++) expect((await call(first)).status).toBe(200);
    for (let i = 0; i < 2; i++) expect((await call(second)).status).toBe(200);
    // The second instance saves its usage (its timer does this every few seconds in production).
    await second.marketplace.checkpoint();

    // "Close the hour" on the first instance sends the hour once, for both.
    const closed = await fetch(`${first.url}/demo/close-hour`, { method: "POST", redirect: "manual" });
    expect(closed.status).toBe(303);
    await second.marketplace.flush(); // the second instance finds nothing left to send
    const ledger =
      await control<{ customerAWSAccountId: string; dimension: string; quantity: number }[]>(
        "/_emulator/ledger",
      );
    expect(ledger.map((r) => `${r.customerAWSAccountId} ${r.dimension} ${r.quantity}`)).toEqual([
      "444455556666 api_calls 5",
    ]);
    const rejected = await control<unknown[]>("/_emulator/rejected");
    expect(rejected).toEqual([]);
  });
});

describe.skipIf(!process.env.REDIS_URL && !process.env.CI)("{{name}} on Redis: start-up", () => {
  const url = () => {
    if (!process.env.REDIS_URL) throw new Error("REDIS_URL is not set: CI must start Redis");
    return process.env.REDIS_URL;
  };

  it("the demo empties its own key prefix first, and no other", async () => {
    const keyPrefix = `starter-${unique()}`;
    const others = [`{${keyPrefix}-x}:k`, `${keyPrefix}:k`, `{${keyPrefix}}k`];
    await withRedis(url(), async (redis) => {
      await redis.set(`{${keyPrefix}}:d:c`, "left by an earlier demo");
      for (const key of others) await redis.set(key, "1");
    });
    const { store, directory } = await openSharedStores(
      { kind: "redis", url: url(), keyPrefix },
      { fresh: true },
    );
    try {
      await withRedis(url(), async (redis) => {
        expect(await keysOf(redis, keyPrefix)).toEqual([]);
        expect(await redis.exists(...others)).toBe(others.length);
        await redis.unlink(...others);
      });
      expect(await directory.loadCustomers()).toEqual([]);
    } finally {
      await store.close?.();
      await directory.close?.();
    }
  });

  it("an unreachable Redis fails start-up naming REDIS_URL, never the password", async () => {
    const open = openSharedStores(
      { kind: "redis", url: "redis://:s3cret-pass@127.0.0.1:1/0", keyPrefix: `starter-${unique()}` },
      { fresh: false },
    );
    const err = await open.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect(String((err as Error).message)).toMatch(/^REDIS_URL \(redis:\/\/:\*\*\*@127\.0\.0\.1:1\/0\)/);
    expect(String((err as Error).message)).toMatch(/check the host and port/);
    expect(String((err as Error).message)).not.toContain("s3cret-pass");
  });
});

describe.skipIf(!process.env.REDIS_CLUSTER_NODES && !process.env.CI)(
  "{{name}} on a Redis Cluster: start-up",
  () => {
    it("a redis:// URL to a Cluster node fails start-up saying to use redis+cluster://", async () => {
      const seed = process.env.REDIS_CLUSTER_NODES?.split(",")[0];
      if (!seed) throw new Error("REDIS_CLUSTER_NODES is not set: CI must start the Redis Cluster");
      const err = await openSharedStores(
        { kind: "redis", url: `redis://${seed}`, keyPrefix: `starter-${unique()}` },
        { fresh: false },
      ).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(String((err as Error)?.message)).toMatch(/is a node of a Redis Cluster/);
      expect(String((err as Error)?.message)).toContain(`REDIS_URL=redis+cluster://${seed}`);
    });
  },
);

describe("{{name}} shared store settings", () => {
  it("DATABASE_URL and REDIS_URL choose the shared store; a wrong one names the variable", () => {
    expect(readConfig({ DATABASE_URL: "postgres://u:p@db:5432/app" }).store).toEqual({
      kind: "postgres",
      url: "postgres://u:p@db:5432/app",
    });
    expect(readConfig({ REDIS_URL: "redis://cache:6379/0" }).store).toEqual({
      kind: "redis",
      url: "redis://cache:6379/0",
    });
    // A Redis Cluster, through one seed node: the same scheme the CLI takes.
    expect(readConfig({ REDIS_URL: "rediss+cluster://:pw@cfg.cache:6379" }).store).toEqual({
      kind: "redis",
      url: "rediss://:pw@cfg.cache:6379",
      cluster: true,
    });
    expect(readConfig({}).store).toBeUndefined();
    expect(() => readConfig({ DATABASE_URL: "mysql://db/app" })).toThrow(
      /DATABASE_URL must be a PostgreSQL URL/,
    );
    expect(() => readConfig({ REDIS_URL: "http://cache" })).toThrow(/REDIS_URL must be a Redis URL/);
    expect(() => readConfig({ DATABASE_URL: "postgres://db/app", REDIS_URL: "redis://c" })).toThrow(
      /choose one/,
    );
    expect(() => readConfig({ MARKETMETER_EMULATOR_URL: "http://127.0.0.1:4566" })).toThrow(
      /also set DATABASE_URL or REDIS_URL/,
    );
    expect(
      readConfig({ DATABASE_URL: "postgres://db/app", MARKETMETER_EMULATOR_URL: "http://127.0.0.1:4566" })
        .emulator,
    ).toEqual({ url: "http://127.0.0.1:4566" });
  });
});
