// Redis Cluster, for real: three masters started by scripts/services.sh (REDIS_CLUSTER_NODES). The store and
// directory conformance suites run unchanged over an ioredis `Cluster`; a store keeps working after its
// slot moves to another master; the eviction check looks at every master.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isMarketplaceError } from "@marketmeter/core";
import {
  directoryStoreConformance,
  grainKey,
  sampleCustomer,
  storeConformance,
} from "@marketmeter/core/store";
import fc from "fast-check";
import { Cluster, Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { type RedisStore, redisDirectoryStore, redisStore } from "../src/index.js";
import { defined } from "./defined.js";
import { ctxAt, directoryTarget, freshPrefix, H0, HOUR } from "./helpers.js";

const NODES = process.env.REDIS_CLUSTER_NODES;
if (!NODES) {
  if (process.env.CI)
    throw new Error("REDIS_CLUSTER_NODES is not set: CI must start the Redis Cluster (scripts/services.sh)");
  console.warn(
    "@marketmeter/redis Cluster tests skipped: set REDIS_CLUSTER_NODES (e.g. `set -a; source /tmp/services.env; set +a`)",
  );
}
const hasCluster = NODES !== undefined;
const nodes = (NODES ?? "")
  .split(",")
  .filter(Boolean)
  .map((hp) => {
    const [host, port] = hp.split(":");
    return { host: defined(host), port: Number(port) };
  });

const clusters: Cluster[] = [];
/** A Cluster client as an app would make it; each one is a separate instance's connection. */
function cluster(): Cluster {
  const c = new Cluster(nodes, { redisOptions: { maxRetriesPerRequest: 2 } });
  c.on("error", () => {});
  clusters.push(c);
  return c;
}
/** A Cluster client with short TRYAGAIN retries, so tests that move slots do not wait out ioredis's defaults. */
function briskCluster(): Cluster {
  const c = new Cluster(nodes, {
    redisOptions: { maxRetriesPerRequest: 2 },
    maxRedirections: 4,
    retryDelayOnTryAgain: 10,
  });
  c.on("error", () => {});
  clusters.push(c);
  return c;
}
/** Resolves once `done()` holds, checking every few milliseconds. */
async function until(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((r) => setTimeout(r, 5));
}
const direct: Redis[] = [];
/** A plain connection to one node, for the tests' own checks and slot moves. */
function node(port: number): Redis {
  const r = new Redis({ host: "127.0.0.1", port, maxRetriesPerRequest: 2 });
  r.on("error", () => {});
  direct.push(r);
  return r;
}
afterAll(async () => {
  await Promise.all(clusters.splice(0).map((c) => c.quit().catch(() => c.disconnect())));
  await Promise.all(direct.splice(0).map((r) => r.quit().catch(() => r.disconnect())));
});

/** Deletes every key of a prefix, on whichever master holds its slot. */
async function dropPrefix(prefix: string): Promise<void> {
  for (const n of nodes) {
    const r = node(n.port);
    let cursor = "0";
    do {
      const [next, keys] = await r.scan(cursor, "MATCH", `\\{${prefix}\\}:*`, "COUNT", 500);
      cursor = next;
      for (const k of keys) await r.del(k);
    } while (cursor !== "0");
  }
}

interface Master {
  id: string;
  port: number;
}
/** The masters and which one serves a slot, from CLUSTER SHARDS as node 0 sees it. */
async function owner(slot: number): Promise<{ from: Master; others: Master[] }> {
  const r = node(defined(nodes[0]).port);
  const text = (await r.call("CLUSTER", "NODES")) as string;
  const masters = text
    .trim()
    .split("\n")
    .map((line) => line.split(" "))
    .filter((f) => defined(f[2]).includes("master"))
    .map((f) => ({
      id: defined(f[0]),
      port: Number(defined(f[1]).split(":")[1]?.split("@")[0]),
      ranges: f.slice(8).filter((s) => !s.startsWith("[")),
    }));
  const serves = (ranges: string[]) =>
    ranges.some((range) => {
      const [a, b = a] = range.split("-").map(Number);
      return slot >= (a as number) && slot <= (b as number);
    });
  const from = defined(masters.find((m) => serves(m.ranges)));
  return { from, others: masters.filter((m) => m.id !== from.id) };
}

/** Starts a Cluster of its own, one master per policy, on free loopback ports (bus port = port + 10000). */
async function privateCluster(policies: string[]) {
  const dir = mkdtempSync(join(tmpdir(), "mm-cluster-"));
  const procs: ChildProcess[] = [];
  const ports: number[] = [];
  const stop = async () => {
    for (const p of procs) p.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const policy of policies) {
      const port = await freeClusterPort();
      const d = join(dir, String(port));
      mkdirSync(d);
      const proc = spawn(
        "redis-server",
        [
          "--port",
          String(port),
          "--bind",
          "127.0.0.1",
          "--save",
          "",
          "--appendonly",
          "no",
          "--cluster-enabled",
          "yes",
          "--cluster-config-file",
          "nodes.conf",
          "--dir",
          d,
          "--maxmemory-policy",
          policy,
        ],
        { stdio: "ignore" },
      );
      procs.push(proc);
      ports.push(port);
    }
    for (const port of ports) {
      const r = node(port);
      for (let i = 0; (await r.ping().catch(() => "")) !== "PONG"; i++) {
        if (i > 100) throw new Error(`redis-server on ${port} did not start`);
        await new Promise((res) => setTimeout(res, 50));
      }
    }
    execFileSync(
      "redis-cli",
      [
        "--cluster",
        "create",
        ...ports.map((p) => `127.0.0.1:${p}`),
        "--cluster-replicas",
        "0",
        "--cluster-yes",
      ],
      { stdio: "ignore" },
    );
    const r = node(defined(ports[0]));
    for (let i = 0; !String(await r.call("CLUSTER", "INFO")).includes("cluster_state:ok"); i++) {
      if (i > 100) throw new Error("the private Cluster did not reach cluster_state:ok");
      await new Promise((res) => setTimeout(res, 50));
    }
    return { nodes: ports.map((port) => ({ host: "127.0.0.1", port })), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A loopback port that is free, and whose Cluster bus port (port + 10000) is free too. */
async function freeClusterPort(): Promise<number> {
  const free = (port: number) =>
    new Promise<boolean>((res) => {
      const srv = createServer();
      srv.once("error", () => res(false));
      srv.listen(port, "127.0.0.1", () => srv.close(() => res(true)));
    });
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 30_000);
    if ((await free(port)) && (await free(port + 10_000))) return port;
  }
}

/** Every key of a prefix on every master, with its serialized value. */
async function snapshot(prefix: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const n of nodes) {
    const r = node(n.port);
    const [, keys] = await r.scan("0", "MATCH", `\\{${prefix}\\}:*`, "COUNT", 10_000);
    for (const k of keys) {
      // A master importing the slot answers only after ASKING (it is not the slot's owner yet).
      await r.call("ASKING");
      out[`${n.port} ${k}`] = (await r.dumpBuffer(k))?.toString("hex") ?? "";
    }
  }
  return out;
}

/** The slot of a store's keys, the master serving it, and another master to move it to. */
async function slotOf(keyPrefix: string) {
  const r = node(defined(nodes[0]).port);
  const slot = (await r.call("CLUSTER", "KEYSLOT", `{${keyPrefix}}:x`)) as number;
  const { from, others } = await owner(slot);
  return { slot, from, to: defined(others[0]) };
}

/** Moves one slot, keys and all, to another master the way `redis-cli --cluster reshard` does. */
async function moveSlot(slot: number, from: Master, to: Master, batch = 100): Promise<number> {
  const src = node(from.port);
  const dst = node(to.port);
  // Idempotent: a test may have started the move already.
  await dst.call("CLUSTER", "SETSLOT", slot, "IMPORTING", from.id);
  await src.call("CLUSTER", "SETSLOT", slot, "MIGRATING", to.id);
  let moved = 0;
  for (;;) {
    const keys = (await src.call("CLUSTER", "GETKEYSINSLOT", slot, batch)) as string[];
    if (keys.length === 0) break;
    await src.call("MIGRATE", "127.0.0.1", to.port, "", 0, 5000, "KEYS", ...keys);
    moved += keys.length;
  }
  for (const n of nodes) await node(n.port).call("CLUSTER", "SETSLOT", slot, "NODE", to.id);
  return moved;
}

describe.runIf(hasCluster)("redis cluster: usage store conformance", () => {
  storeConformance(
    {
      name: "redis-cluster",
      durable: true,
      async create() {
        const keyPrefix = freshPrefix("ccnf");
        return {
          store: redisStore({ client: cluster(), keyPrefix }),
          open: async () => redisStore({ client: cluster(), keyPrefix }),
          cleanup: () => dropPrefix(keyPrefix),
        };
      },
    },
    { describe, it, fc },
  );
});

describe.runIf(hasCluster)("redis cluster: directory conformance", () => {
  directoryStoreConformance(
    directoryTarget(
      "redis-cluster",
      (keyPrefix, o) => redisDirectoryStore({ client: cluster(), keyPrefix, ...o }),
      dropPrefix,
    ),
    { describe, it },
  );
});

describe.runIf(hasCluster)("redis cluster: slots and shards", () => {
  const A = "C|p|c1";

  it("every key of a store lives in one slot, and stores with other prefixes spread over the masters", async () => {
    const r = node(defined(nodes[0]).port);
    const slots = new Set<number>();
    const prefixes = Array.from({ length: 12 }, () => freshPrefix("spread"));
    for (const keyPrefix of prefixes) {
      const s = redisStore({ client: cluster(), keyPrefix });
      await s.add(
        [
          { identityKey: A, dimension: "api", hour: H0, quantity: 1 },
          { identityKey: A, dimension: "gb", hour: H0, quantity: 2 },
        ],
        { ...ctxAt(H0 + 60_000), checkpoint: { instance: "i-1", seq: 1 } },
      );
      const keySlots = new Set<number>();
      for (const n of nodes) {
        const [, keys] = await node(n.port).scan("0", "MATCH", `\\{${keyPrefix}\\}:*`, "COUNT", 1000);
        for (const k of keys) keySlots.add((await r.call("CLUSTER", "KEYSLOT", k)) as number);
      }
      expect(keySlots.size).toBe(1);
      slots.add([...keySlots][0] as number);
      await s.close();
    }
    const owners = new Set<string>();
    for (const slot of slots) owners.add((await owner(slot)).from.id);
    expect(owners.size).toBeGreaterThan(1);
    for (const p of prefixes) await dropPrefix(p);
  });

  it("a store follows its slot to another master: nothing lost, leases and fencing intact", async () => {
    const keyPrefix = freshPrefix("move");
    const a: RedisStore = redisStore({ client: cluster(), keyPrefix });
    const b: RedisStore = redisStore({ client: cluster(), keyPrefix });
    await a.add(
      [
        { identityKey: A, dimension: "api", hour: H0, quantity: 4 },
        { identityKey: A, dimension: "gb", hour: H0, quantity: 2 },
      ],
      { ...ctxAt(H0 + 60_000), checkpoint: { instance: "i-a", seq: 1 } },
    );
    const t = H0 + HOUR + 400_000;
    expect(await a.closeGrains({ hourBefore: H0 + HOUR, now: t })).toBe(2);
    const [claimed] = await a.claim({ owner: "a", now: t, leaseMs: 60_000, limit: 1 });
    const g = defined(claimed);

    const { slot, from, to } = await slotOf(keyPrefix);
    expect(await moveSlot(slot, from, to)).toBeGreaterThan(0);
    expect((await owner(slot)).from.id).toBe(to.id);

    // Both instances' clients still point at the old master: they must follow MOVED.
    expect(
      await b.add([{ identityKey: A, dimension: "api", hour: H0 + HOUR, quantity: 3 }], {
        ...ctxAt(H0 + HOUR + 60_000),
        checkpoint: { instance: "i-b", seq: 1 },
      }),
    ).toEqual({ carried: [] });
    // A retried checkpoint is still recognised after the move.
    expect(
      await a.add(
        [
          { identityKey: A, dimension: "api", hour: H0, quantity: 4 },
          { identityKey: A, dimension: "gb", hour: H0, quantity: 2 },
        ],
        { ...ctxAt(H0 + 60_000), checkpoint: { instance: "i-a", seq: 1 } },
      ),
    ).toMatchObject({ duplicate: true });
    // b cannot take a's lease; a settles it with its fencing token.
    const [other] = await b.claim({ owner: "b", now: t + 1_000, leaseMs: 60_000, limit: 5 });
    expect(defined(other).key).not.toBe(g.key);
    const settled = await a.settle([{ key: g.key, leaseToken: g.leaseToken, state: "sent" }], {
      owner: "a",
      now: t + 2_000,
    });
    expect(settled).toEqual({ applied: 1, refused: [] });
    expect((await b.get(g.key))?.state).toBe("sent");
    expect((await b.get(grainKey(A, "api", H0)))?.quantity).toBe(4);
    expect((await a.get(grainKey(A, "api", H0 + HOUR)))?.quantity).toBe(3);
    expect(await a.counts()).toMatchObject({ sent: 1, pending: 1 });
    const [, left] = await node(from.port).scan("0", "MATCH", `\\{${keyPrefix}\\}:*`, "COUNT", 1000);
    expect(left).toEqual([]);
    await a.close();
    await b.close();
    await dropPrefix(keyPrefix);
  });

  it("the eviction check looks at every master, not one picked at random", async () => {
    // A private Cluster (three masters, redis-cli's minimum): changing the shared one's policy would upset
    // tests running beside this one.
    const own = await privateCluster(["noeviction", "noeviction", "allkeys-lru"]);
    try {
      for (let i = 0; i < 3; i++) {
        const c = new Cluster(own.nodes, { redisOptions: { maxRetriesPerRequest: 2 } });
        c.on("error", () => {});
        clusters.push(c);
        const s = redisStore({ client: c, keyPrefix: freshPrefix("evict") });
        await expect(s.counts()).rejects.toThrow(
          new RegExp(
            `maxmemory-policy is "allkeys-lru" on Cluster master 127\\.0\\.0\\.1:${own.nodes[2]?.port}`,
          ),
        );
        await s.close();
      }
    } finally {
      await own.stop();
    }
  });

  it("no script runs on a half-moved slot: every write fails and changes nothing; after the move all succeed", async () => {
    const keyPrefix = freshPrefix("half");
    const c = briskCluster();
    const s = redisStore({ client: c, keyPrefix });
    const dir = redisDirectoryStore({ client: c, keyPrefix });
    const ctx = { ...ctxAt(H0 + 60_000), checkpoint: { instance: "i-a", seq: 1 } };
    await s.add(
      [
        { identityKey: A, dimension: "api", hour: H0, quantity: 4 },
        { identityKey: A, dimension: "gb", hour: H0, quantity: 2 },
        { identityKey: A, dimension: "api", hour: H0 + HOUR, quantity: 1 },
      ],
      ctx,
    );
    const t = H0 + HOUR + 400_000;
    await s.closeGrains({ hourBefore: H0 + HOUR, now: t });
    const [claimed] = await s.claim({ owner: "a", now: t, leaseMs: 600_000, limit: 1 });
    const g = defined(claimed);
    expect(g.dimension).toBe("api");
    await dir.saveCustomer(sampleCustomer({ id: "cust-1" }));

    // Start a move and carry one key across: the other grain of H0.
    const { slot, from, to } = await slotOf(keyPrefix);
    await node(to.port).call("CLUSTER", "SETSLOT", slot, "IMPORTING", from.id);
    await node(from.port).call("CLUSTER", "SETSLOT", slot, "MIGRATING", to.id);
    const gb = `{${keyPrefix}}:g:${grainKey(A, "gb", H0)}`;
    expect(await node(from.port).call("MIGRATE", "127.0.0.1", to.port, "", 0, 5000, "KEYS", gb)).toBe("OK");

    const before = await snapshot(keyPrefix);
    const later = { ...ctxAt(H0 + HOUR + 420_000), checkpoint: { instance: "i-a", seq: 2 } };
    const writes: Array<[string, () => unknown]> = [
      ["add", () => s.add([{ identityKey: A, dimension: "api", hour: H0 + HOUR, quantity: 5 }], later)],
      ["closeGrains", () => s.closeGrains({ hourBefore: H0 + 2 * HOUR, now: t + 3_600_000 })],
      ["claim", () => s.claim({ owner: "b", now: t + 1_000, leaseMs: 60_000, limit: 5 })],
      [
        "settle",
        () =>
          s.settle([{ key: g.key, leaseToken: g.leaseToken, state: "sent" }], { owner: "a", now: t + 2_000 }),
      ],
      ["takeSendToken", () => s.takeSendToken("batchMeterUsage:us-east-1", { ratePerSecond: 10, burst: 10 })],
      ["saveCustomer", () => dir.saveCustomer(sampleCustomer({ id: "cust-2" }))],
      ["markEventSeen", () => dir.markEventSeen("evt-1", t)],
    ];
    const outcomes: string[] = [];
    for (const [what, write] of writes) {
      const outcome = await Promise.resolve()
        .then(write)
        .then(
          () => "succeeded",
          (e: unknown) =>
            isMarketplaceError(e, "STORE_ERROR") && /slot is being moved/.test(e.message)
              ? "refused"
              : String(e),
        );
      outcomes.push(`${what}: ${outcome}`);
    }
    const after = await snapshot(keyPrefix);
    expect({ outcomes, changed: Object.keys(after).filter((k) => after[k] !== before[k]) }).toEqual({
      outcomes: writes.map(([what]) => `${what}: refused`),
      changed: [],
    });

    // Finish the move; the same writes now go through, and nothing was counted twice or lost.
    await moveSlot(slot, from, to);
    for (const [, write] of writes) await write();
    expect((await s.get(grainKey(A, "api", H0)))?.state).toBe("sent");
    expect((await s.get(grainKey(A, "gb", H0)))?.quantity).toBe(2);
    expect((await s.get(grainKey(A, "api", H0 + HOUR)))?.quantity).toBe(6);
    expect(await dir.getCustomer("cust-2")).toBeDefined();
    await s.close();
    await dir.close();
    await dropPrefix(keyPrefix);
  });

  it("a reshard under load: three instances checkpoint while the slot moves, and every unit counts once", async () => {
    const keyPrefix = freshPrefix("live");
    const writers = [0, 1, 2].map(() => redisStore({ client: briskCluster(), keyPrefix }));
    // Forty grains, so the move takes many MIGRATE batches of three keys.
    const dims = Array.from({ length: 40 }, (_, i) => `d${i}`);
    let sent = 0;
    let refused = 0;
    let stop = false;
    let moving = false;
    let triedWhileMoving = 0;
    const applied = writers.map(() => 0);
    // Like the core: a failed checkpoint is retried with the same (instance, seq) until it is applied.
    const loops = writers.map(async (w, i) => {
      for (let seq = 1; !stop; seq++) {
        const deltas = dims.map((dimension) => ({ identityKey: A, dimension, hour: H0, quantity: i + 1 }));
        for (;;) {
          if (moving) triedWhileMoving++;
          try {
            await w.add(deltas, { ...ctxAt(H0 + 60_000), checkpoint: { instance: `w${i}`, seq } });
            sent += deltas.length * (i + 1);
            applied[i] = (applied[i] ?? 0) + 1;
            break;
          } catch (e) {
            if (!isMarketplaceError(e, "STORE_ERROR")) throw e;
            refused++;
            await new Promise((r) => setTimeout(r, 5));
          }
        }
      }
    });
    // Every instance is writing before the move starts, and goes on writing after it ends.
    await until(() => applied.every((n) => n >= 2));
    const { slot, from, to } = await slotOf(keyPrefix);
    moving = true;
    const moved = await moveSlot(slot, from, to, 3);
    moving = false;
    const atEnd = [...applied];
    await until(() => applied.every((n, i) => n >= (atEnd[i] ?? 0) + 2));
    stop = true;
    await Promise.all(loops);
    const grains = await defined(writers[0]).list();
    expect(triedWhileMoving).toBeGreaterThan(0);
    expect(moved).toBeGreaterThan(40);
    expect(grains).toHaveLength(40);
    expect(grains.reduce((n, g) => n + g.quantity, 0)).toBe(sent);
    expect((await owner(slot)).from.id).toBe(to.id);
    console.log(
      `reshard under load: ${moved} keys moved, ${sent} units counted once, ${triedWhileMoving} calls made during the move, ${refused} refused and retried`,
    );
    for (const w of writers) await w.close();
    await dropPrefix(keyPrefix);
  });
});

describe.runIf(hasCluster)("redis cluster: from a URL", () => {
  const A = "C|p|c1";
  const seed = () => `redis://127.0.0.1:${defined(nodes[0]).port}`;
  /** A fresh prefix whose slot the seed node does not serve. */
  async function prefixOffSeed(): Promise<string> {
    for (;;) {
      const keyPrefix = freshPrefix("url");
      const { from } = await slotOf(keyPrefix);
      if (from.port !== defined(nodes[0]).port) return keyPrefix;
    }
  }

  it("cluster: true makes the store's own Cluster client from one seed node, and closes it", async () => {
    const keyPrefix = await prefixOffSeed();
    const s = redisStore({ url: seed(), cluster: true, keyPrefix });
    const d = redisDirectoryStore({ url: seed(), cluster: true, keyPrefix });
    await s.add([{ identityKey: A, dimension: "api", hour: H0, quantity: 7 }], ctxAt(H0 + 60_000));
    await d.saveCustomer(sampleCustomer({ id: "cust-url" }));
    const other = redisStore({ client: cluster(), keyPrefix });
    expect((await other.get(grainKey(A, "api", H0)))?.quantity).toBe(7);
    expect(await redisDirectoryStore({ client: cluster(), keyPrefix }).getCustomer("cust-url")).toBeDefined();
    await s.close();
    await d.close();
    await expect(s.counts()).rejects.toThrow(/closed/);
    await other.close();
    await dropPrefix(keyPrefix);
  });

  it("a plain url or client on a Cluster node is refused at start-up, even where the slot is on that node", async () => {
    const onSeed = async () => {
      for (;;) {
        const keyPrefix = freshPrefix("seed");
        if ((await slotOf(keyPrefix)).from.port === defined(nodes[0]).port) return keyPrefix;
      }
    };
    for (const keyPrefix of [await prefixOffSeed(), await onSeed()]) {
      const s = redisStore({ url: seed(), keyPrefix });
      const err = await s.counts().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isMarketplaceError(err, "STORE_ERROR"), String(err)).toBe(true);
      expect(String(err)).toMatch(/is a node of a Redis Cluster.*set cluster: true/);
      await s.close();
      const plain = node(defined(nodes[0]).port);
      const d = redisDirectoryStore({ client: plain, keyPrefix });
      await expect(d.getCustomer("x")).rejects.toThrow(/pass an ioredis Cluster as client/);
    }
  });

  it("cluster: true with a seed where nothing listens fails in bounded time, naming host and port", async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const { port } = closed.address() as { port: number };
    await new Promise<void>((r) => closed.close(() => r()));
    const s = redisStore({
      url: `redis://127.0.0.1:${port}`,
      cluster: true,
      keyPrefix: freshPrefix("down"),
      connectTimeoutMs: 500,
      commandTimeoutMs: 500,
    });
    const t0 = Date.now();
    const err = await s.counts().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isMarketplaceError(err, "STORE_ERROR"), String(err)).toBe(true);
    expect(String(err)).toContain(`127.0.0.1:${port}`);
    expect(Date.now() - t0).toBeLessThan(10_000);
    await s.close();
  });
});
