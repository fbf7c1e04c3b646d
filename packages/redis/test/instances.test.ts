// Several instances on one Redis: checkpoints applied once, concurrent writers all counted, a shared send
// pacing bucket, retention of settled grains, and a client whose connection Redis kills mid-write.
import { connect, createServer, type Server, type Socket } from "node:net";
import type { UsageStore } from "@marketmeter/core";
import { grainKey } from "@marketmeter/core/store";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { type RedisStore, redisStore } from "../src/index.js";
import { defined } from "./defined.js";
import { client, ctxAt, dropPrefix, freshPrefix, H0, HOUR, hasRedis, url } from "./helpers.js";

const DAY = 86_400_000;
const A = "C|p|c1";

const prefixes: string[] = [];
const stores: UsageStore[] = [];
afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()));
  for (const p of prefixes) await dropPrefix(p);
});
/** `n` handles on one fresh prefix, each with its own connection, as separate processes would have. */
function instances(n: number): RedisStore[] {
  const keyPrefix = freshPrefix("inst");
  prefixes.push(keyPrefix);
  const out = Array.from({ length: n }, () => redisStore({ url, keyPrefix }));
  stores.push(...out);
  return out;
}

/** Two grains of hour H0 (api, gb), closed; "a" claims the first (api). */
async function closeTwoClaimOne(s: UsageStore) {
  await s.add(
    [
      { identityKey: A, dimension: "api", hour: H0, quantity: 4 },
      { identityKey: A, dimension: "gb", hour: H0, quantity: 2 },
    ],
    ctxAt(H0 + 60_000),
  );
  const t = H0 + HOUR + 400_000;
  await s.closeGrains({ hourBefore: H0 + HOUR, now: t });
  const [g] = await s.claim({ owner: "a", now: t, leaseMs: 60_000, limit: 1 });
  return { t, g: defined(g) };
}

describe.runIf(hasRedis)("checkpoints carry (instance, seq) and are applied once", () => {
  it("a retried checkpoint adds nothing and says duplicate; a later seq and other instances apply", async () => {
    const [a, b] = instances(2) as [RedisStore, RedisStore];
    const ctx = ctxAt(H0 + 60_000);
    const d = [{ identityKey: A, dimension: "api", hour: H0, quantity: 5 }];
    const key = grainKey(A, "api", H0);
    expect(await a.add(d, { ...ctx, checkpoint: { instance: "i-1", seq: 7 } })).toEqual({ carried: [] });
    // The same checkpoint again, from another connection (the answer of the first was lost).
    expect(await b.add(d, { ...ctx, checkpoint: { instance: "i-1", seq: 7 } })).toEqual({
      carried: [],
      duplicate: true,
    });
    expect(await a.add(d, { ...ctx, checkpoint: { instance: "i-1", seq: 3 } })).toMatchObject({
      duplicate: true,
    });
    expect((await a.get(key))?.quantity).toBe(5);
    await a.add(d, { ...ctx, checkpoint: { instance: "i-1", seq: 8 } });
    await b.add(d, { ...ctx, checkpoint: { instance: "i-2", seq: 1 } });
    await b.add(d, ctx);
    expect((await a.get(key))?.quantity).toBe(20);
  });

  it("concurrent retries of one checkpoint apply it once", async () => {
    const all = instances(4);
    const ctx = ctxAt(H0 + 60_000);
    const d = [
      { identityKey: A, dimension: "api", hour: H0, quantity: 3 },
      { identityKey: A, dimension: "gb", hour: H0, quantity: 1 },
    ];
    const results = await Promise.all(
      all.flatMap((s) => [0, 1, 2].map(() => s.add(d, { ...ctx, checkpoint: { instance: "i-9", seq: 1 } }))),
    );
    expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
    const grains = await defined(all[0]).list();
    expect(grains.map((g) => [g.dimension, g.quantity])).toEqual([
      ["api", 3],
      ["gb", 1],
    ]);
  });

  it("keeps an instance's last seq for 7 days", async () => {
    const [a] = instances(1) as [RedisStore];
    await a.add([{ identityKey: A, dimension: "api", hour: H0, quantity: 1 }], {
      ...ctxAt(H0 + 60_000),
      checkpoint: { instance: "i-ttl", seq: 1 },
    });
    const r = client();
    const ttl = await r.pttl(`{${defined(prefixes.at(-1))}}:ck:i-ttl`);
    expect(ttl).toBeGreaterThan(6 * DAY);
    expect(ttl).toBeLessThanOrEqual(7 * DAY);
  });

  it("refuses a malformed checkpoint with a coded error", async () => {
    const [a] = instances(1) as [RedisStore];
    const ctx = ctxAt(H0 + 60_000);
    for (const checkpoint of [
      { instance: "", seq: 1 },
      { instance: "i", seq: -1 },
      { instance: "i", seq: 1.5 },
      { instance: "a\nb", seq: 1 },
    ])
      await expect(async () => a.add([], { ...ctx, checkpoint })).rejects.toMatchObject({
        code: "INVALID_ARGUMENT",
      });
  });
});

describe.runIf(hasRedis)("concurrent writers", () => {
  it("adds from several instances to the same grains are all counted (compare-and-set retries)", async () => {
    const all = instances(4);
    const ctx = ctxAt(H0 + 60_000);
    await Promise.all(
      all.flatMap((s) =>
        Array.from({ length: 10 }, (_, j) =>
          s.add(
            [
              { identityKey: A, dimension: "api", hour: H0, quantity: j + 1 },
              { identityKey: "C|p|c2", dimension: "api", hour: H0, quantity: 1 },
            ],
            ctx,
          ),
        ),
      ),
    );
    const grains = await defined(all[0]).list();
    expect(grains.map((g) => [g.identityKey, g.quantity])).toEqual([
      [A, 4 * 55],
      ["C|p|c2", 40],
    ]);
  });

  it("concurrent claims from several instances never take the same grain", async () => {
    const all = instances(3);
    const deltas = Array.from({ length: 50 }, (_, i) => ({
      identityKey: `C|p|c${i}`,
      dimension: "api",
      hour: H0,
      quantity: i + 1,
    }));
    await defined(all[0]).add(deltas, ctxAt(H0 + 60_000));
    expect(await defined(all[1]).closeGrains({ hourBefore: H0 + HOUR, now: H0 + HOUR + 400_000 })).toBe(50);
    const now = H0 + HOUR + 500_000;
    const rounds = await Promise.all(
      all.flatMap((s, i) => [0, 1, 2].map(() => s.claim({ owner: `i${i}`, now, leaseMs: 60_000, limit: 6 }))),
    );
    const keys = rounds.flat().map((g) => g.key);
    expect(keys).toHaveLength(50);
    expect(new Set(keys).size).toBe(50);
  });
});

describe.runIf(hasRedis)("claims skip parked grains and find them again when due", () => {
  it("a grain in backoff: skipped by claims until its time, taken at once by a final flush", async () => {
    const [a, b] = instances(2) as [RedisStore, RedisStore];
    const { t, g } = await closeTwoClaimOne(a);
    await a.settle(
      [
        {
          key: g.key,
          leaseToken: g.leaseToken,
          state: "retrying",
          nextAttemptAt: t + 600_000,
          error: "x",
          uncertain: false,
        },
      ],
      { owner: "a", now: t },
    );
    // b takes the other grain; the one in backoff is parked, not claimable yet.
    const second = await b.claim({ owner: "b", now: t + 1_000, leaseMs: 60_000, limit: 5 });
    expect(second.map((x) => x.dimension)).toEqual(["gb"]);
    expect(await b.claim({ owner: "b", now: t + 2_000, leaseMs: 60_000, limit: 5 })).toEqual([]);
    const flush = await a.claim({
      owner: "a",
      now: t + 3_000,
      leaseMs: 60_000,
      limit: 5,
      ignoreBackoff: true,
    });
    expect(flush.map((x) => x.key)).toEqual([g.key]);
    // Both leases run out unsettled: each grain comes back, uncertain, once it is due again.
    const later = await b.claim({ owner: "c", now: t + 120_000, leaseMs: 60_000, limit: 5 });
    expect(later.map((x) => [x.dimension, x.uncertain])).toEqual([["gb", true]]);
    const last = await b.claim({ owner: "d", now: t + 600_000, leaseMs: 60_000, limit: 5 });
    expect(last.map((x) => [x.dimension, x.leaseOwner, x.uncertain])).toEqual([
      ["api", "d", true],
      ["gb", "d", true],
    ]);
  });
});

describe.runIf(hasRedis)("clocks a minute apart", () => {
  it("usage checkpointed by the slow instance for an hour the fast one closed moves to the open hour", async () => {
    const [fast, slow] = instances(2) as [RedisStore, RedisStore];
    const d = (quantity: number) => [{ identityKey: A, dimension: "api", hour: H0, quantity }];
    await fast.add(d(10), ctxAt(H0 + 50 * 60_000));
    // fast: 5.5 minutes past the hour (grace 5 min), closes H0; slow: its clock says 4.5 minutes past.
    const fastNow = H0 + HOUR + 330_000;
    const slowNow = fastNow - 60_000;
    expect(ctxAt(slowNow).openFrom).toBe(H0);
    expect(await fast.closeGrains({ hourBefore: ctxAt(fastNow).openFrom, now: fastNow })).toBe(1);
    const r = await slow.add(d(7), ctxAt(slowNow));
    expect(r.carried).toEqual([
      { identityKey: A, dimension: "api", fromHour: H0, toHour: H0 + HOUR, quantity: 7, reason: "closed" },
    ]);
    expect((await fast.list()).map((g) => [g.hour, g.state, g.quantity])).toEqual([
      [H0, "closed", 10],
      [H0 + HOUR, "pending", 7],
    ]);
  });
});

describe.runIf(hasRedis)("takeSendToken: one bucket for every instance, on the server's clock", () => {
  it("many concurrent takers never get more than burst + rate x elapsed", async () => {
    const all = instances(4);
    const r = client();
    const o = { ratePerSecond: 20, burst: 5 };
    const time = async () => {
      const [s, us] = await r.time();
      return Number(s) * 1000 + Number(us) / 1000;
    };
    const start = await time();
    let taken = 0;
    let waited = 0;
    // Each taker tries without sleeping until 40 tokens were taken in total.
    await Promise.all(
      all.flatMap((s) =>
        [0, 1, 2].map(async () => {
          while (taken < 40) {
            const wait = await s.takeSendToken("acct-1/us-east-1", o);
            if (wait === 0) taken++;
            else {
              waited++;
              expect(wait).toBeGreaterThan(0);
              expect(wait).toBeLessThanOrEqual(Math.ceil(1000 / o.ratePerSecond));
            }
          }
        }),
      ),
    );
    const elapsed = (await time()) - start;
    expect(taken).toBeLessThanOrEqual(o.burst + (o.ratePerSecond * elapsed) / 1000 + 1);
    expect(waited).toBeGreaterThan(0);
  }, 20_000);

  it("refuses bad arguments with coded errors", async () => {
    const [a] = instances(1) as [RedisStore];
    await expect(async () => a.takeSendToken("", { ratePerSecond: 1, burst: 1 })).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    await expect(async () => a.takeSendToken("b", { ratePerSecond: 0, burst: 1 })).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    await expect(async () => a.takeSendToken("b", { ratePerSecond: 1, burst: 0 })).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
  });
});

describe.runIf(hasRedis)("retention and key layout", () => {
  it("drops settled grains after retainSettledMs, from the grain hash and every index", async () => {
    const keyPrefix = freshPrefix("ret");
    prefixes.push(keyPrefix);
    const s = redisStore({ url, keyPrefix, retainSettledMs: 2 * DAY });
    stores.push(s);
    const { t, g: sent } = await closeTwoClaimOne(s);
    expect(
      await s.settle([{ key: sent.key, leaseToken: sent.leaseToken, state: "sent" }], { owner: "a", now: t }),
    ).toEqual({ applied: 1, refused: [] });
    const r = client();
    const gk = `{${keyPrefix}}:g:${sent.key}`;
    // The key also expires in Redis (a safety net for a store nobody prunes any more).
    expect(await r.pttl(gk)).toBeGreaterThan(2 * DAY);
    await s.closeGrains({ hourBefore: H0, now: t + 2 * DAY });
    expect((await s.get(sent.key))?.state).toBe("sent");
    await s.closeGrains({ hourBefore: H0, now: t + 2 * DAY + 1 });
    expect(await s.get(sent.key)).toBeUndefined();
    expect(await r.exists(gk)).toBe(0);
    expect((await s.list()).map((x) => x.state)).toEqual(["closed"]);
    expect(await s.counts()).toMatchObject({ sent: 0, closed: 1 });
    // Every key of the store carries the one hash tag, so a Cluster keeps it on one slot.
    const keys: string[] = [];
    let cursor = "0";
    do {
      const [next, batch] = await r.scan(cursor, "MATCH", `*${keyPrefix}*`, "COUNT", 500);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== "0");
    expect(keys.length).toBeGreaterThan(0);
    for (const k of keys) expect(k.startsWith(`{${keyPrefix}}:`), k).toBe(true);
    expect(keys.some((k) => k.includes(":i:sent"))).toBe(false);
  });
});

describe.runIf(hasRedis)("a connection killed by Redis", () => {
  it("reconnects and loses nothing, nor counts anything twice, when killed mid-write", async () => {
    const keyPrefix = freshPrefix("kill");
    prefixes.push(keyPrefix);
    const app = new Redis(url, { maxRetriesPerRequest: 5 });
    app.on("error", () => {});
    const s = redisStore({ client: app, keyPrefix });
    const admin = client();
    const ctx = ctxAt(H0 + 60_000);
    let expected = 0;
    let kills = 0;
    for (let round = 0; round < 20; round++) {
      const id = await app.client("ID");
      // Writes queued or in flight while the server drops the connection go out again after the
      // reconnect (the reply-lost case itself is the proxy test below).
      const writes = [1, 2, 3].map((q) =>
        s.add([{ identityKey: A, dimension: "api", hour: H0, quantity: q * (round + 1) }], ctx),
      );
      expected += 6 * (round + 1);
      kills += Number(await admin.client("KILL", "ID", String(id)));
      await Promise.all(writes);
    }
    expect(kills).toBe(20);
    expect((await s.get(grainKey(A, "api", H0)))?.quantity).toBe(expected);
    await s.close();
    await app.quit();
  }, 30_000);
});

/**
 * A loopback TCP proxy to Redis that, when armed, swallows the next reply of a store write ("ok") and
 * drops the client's connection: the write committed, the answer was lost.
 */
async function lossyProxy(): Promise<{
  url: string;
  armOnce(): void;
  drops(): number;
  close(): Promise<void>;
}> {
  const target = new URL(url);
  let armed = false;
  let dropped = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((down) => {
    const up = connect(Number(target.port || 6379), target.hostname);
    sockets.add(down);
    sockets.add(up);
    down.on("error", () => {});
    up.on("error", () => {});
    down.on("data", (d) => up.write(d));
    up.on("data", (d: Buffer) => {
      if (armed && d.includes("*1\r\n$2\r\nok\r\n")) {
        armed = false;
        dropped++;
        down.destroy();
        up.destroy();
        return;
      }
      down.write(d);
    });
    down.on("close", () => up.destroy());
    up.on("close", () => down.destroy());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `redis://127.0.0.1:${port}${target.pathname}`,
    armOnce: () => {
      armed = true;
    },
    drops: () => dropped,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

describe.runIf(hasRedis)("an answer lost after the write committed", () => {
  it("the resent write is answered, not applied a second time", async () => {
    const keyPrefix = freshPrefix("lost");
    prefixes.push(keyPrefix);
    const proxy = await lossyProxy();
    const app = new Redis(proxy.url, { maxRetriesPerRequest: 5 });
    app.on("error", () => {});
    const s = redisStore({ client: app, keyPrefix });
    const ctx = ctxAt(H0 + 60_000);
    const key = grainKey(A, "api", H0);
    let expected = 0;
    for (let round = 1; round <= 5; round++) {
      proxy.armOnce();
      const r = await s.add([{ identityKey: A, dimension: "api", hour: H0, quantity: round }], ctx);
      expect(r).toEqual({ carried: [] });
      expected += round;
    }
    expect(proxy.drops()).toBe(5);
    expect((await s.get(key))?.quantity).toBe(expected);
    await s.close();
    await app.quit();
    await proxy.close();
  }, 30_000);
});
