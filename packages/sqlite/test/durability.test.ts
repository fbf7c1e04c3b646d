// End-to-end durability against the emulator: crashes, restarts, faults and two instances on one file.
import { type ChildProcess, fork } from "node:child_process";
import { rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { MarketplaceMeteringClient } from "@aws-sdk/client-marketplace-metering";
import { createMarketplace, type Marketplace } from "@marketmeter/core";
import { demoConfig, type Emulator, startEmulator } from "@marketmeter/emulator";
import fc from "fast-check";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { sqliteStore } from "../src/index.js";
import { defined } from "./defined.js";
import { CA1, CA2, credentials, DEMO, HOUR, LEG, TRANS, tempDb } from "./helpers.js";

const IDENTITIES = [CA1, CA2, LEG, TRANS] as const;
const NAMES = ["CA1", "CA2", "LEG", "TRANS"] as const;
type Dim = "api_calls" | "gb_stored";
const START = Date.parse(DEMO.now);

let emu: Emulator;
beforeAll(async () => {
  emu = await startEmulator({ port: 0, config: demoConfig({ frozen: true }), seed: 11 });
});
afterAll(async () => emu.close());
beforeEach(() => emu.reset());

function makeInstance(
  path: string,
  clock: () => number,
  instanceId: string,
  client?: MarketplaceMeteringClient,
): Marketplace<Dim> {
  return createMarketplace({
    products: [{ productCode: DEMO.P_CA }, { productCode: DEMO.P_L }],
    dimensions: ["api_calls", "gb_stored"],
    store: sqliteStore({ path }),
    aws: client ? { client } : { region: "us-east-1", endpoint: emu.endpoint, credentials },
    clock,
    autoStart: false,
    instanceId,
    retry: { baseDelayMs: 10, maxDelayMs: 1000 },
  });
}

type Step =
  | { k: "record"; who: number; dim: Dim; q: number; lateMin: number; tag: number }
  | { k: "advance"; min: number }
  | { k: "checkpoint" }
  | { k: "crash" }
  | { k: "restart" }
  | { k: "final"; who: number }
  | { k: "fault"; f: "throttle" | "internalError" | "unprocessed"; n: number };

const TAGS = [undefined, { team: "blue" }, { team: "red", env: "prod" }] as const;

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      k: fc.constant("record" as const),
      who: fc.integer({ min: 0, max: 3 }),
      dim: fc.constantFrom<Dim>("api_calls", "gb_stored"),
      q: fc.integer({ min: 0, max: 1000 }),
      lateMin: fc.oneof(
        { weight: 4, arbitrary: fc.constant(0) },
        { weight: 1, arbitrary: fc.integer({ min: 1, max: 180 }) },
      ),
      tag: fc.integer({ min: 0, max: 2 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ k: fc.constant("advance" as const), min: fc.integer({ min: 1, max: 100 }) }),
  },
  { weight: 2, arbitrary: fc.constant({ k: "checkpoint" as const }) },
  { weight: 1, arbitrary: fc.constant({ k: "crash" as const }) },
  { weight: 1, arbitrary: fc.constant({ k: "restart" as const }) },
  {
    weight: 1,
    arbitrary: fc.record({ k: fc.constant("final" as const), who: fc.integer({ min: 0, max: 3 }) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant("fault" as const),
      f: fc.constantFrom("throttle" as const, "internalError" as const, "unprocessed" as const),
      n: fc.integer({ min: 1, max: 3 }),
    }),
  },
);

describe("durability (sqlite + emulator)", () => {
  it("property: no grain billed twice, billed = recorded - lost in crashes, nothing lost on close", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 5, maxLength: 35 }), async (steps) => {
        emu.reset();
        let now = START;
        const setNow = (t: number) => {
          now = t;
          emu.clock.set(t, { freeze: true });
        };
        setNow(START);
        const { dir, path } = tempDb();
        let gen = 0;
        let m = makeInstance(path, () => now, `i${gen}`);
        const recorded = new Map<string, number>();
        let unsaved = new Map<string, number>();
        const lost = new Map<string, number>();
        const add = (map: Map<string, number>, k: string, q: number) => map.set(k, (map.get(k) ?? 0) + q);
        const saved = () => {
          unsaved = new Map();
        };
        try {
          for (const s of steps) {
            if (s.k === "record") {
              // The legacy product defines api_calls only.
              const dim: Dim = s.who >= 2 ? "api_calls" : s.dim;
              const tags = TAGS[s.tag];
              m.record({
                identity: defined(IDENTITIES[s.who]),
                dimension: dim,
                quantity: s.q,
                timestamp: now - s.lateMin * 60_000,
                ...(tags ? { tags } : {}),
              });
              const key = `${NAMES[s.who]}|${dim}`;
              add(recorded, key, s.q);
              add(unsaved, key, s.q);
            } else if (s.k === "advance") {
              setNow(now + s.min * 60_000);
              // What the background timer would do.
              await m.flush();
              saved();
            } else if (s.k === "checkpoint") {
              await m.checkpoint();
              saved();
            } else if (s.k === "crash") {
              // Hard crash: in-memory sums since the last checkpoint are gone, the file stays.
              for (const [k, q] of unsaved) add(lost, k, q);
              saved();
              await m.store.close();
              m = makeInstance(path, () => now, `i${++gen}`);
            } else if (s.k === "restart") {
              await m.close();
              saved();
              m = makeInstance(path, () => now, `i${++gen}`);
            } else if (s.k === "final") {
              await m.flush({ identity: defined(IDENTITIES[s.who]) });
              saved();
            } else {
              emu.setFaults({ BatchMeterUsage: { [s.f]: { next: s.n } } });
            }
          }
          await m.close();
          emu.setFaults({});
          // Drain: a later instance sends everything that is left.
          m = makeInstance(path, () => now, `i${++gen}`);
          for (let i = 0; i < 6; i++) {
            setNow(now + 2 * HOUR);
            await m.flush();
          }
          const left = await m.report({ states: ["pending", "closed", "retrying"] });
          expect(left).toEqual([]);
          const notSent = await m.report({ states: ["rejected", "expired", "uncertain"] });
          expect(notSent).toEqual([]);
          await m.close();
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
        expect(emu.duplicates()).toEqual([]);
        const billed = new Map<string, number>();
        const seen = new Set<string>();
        for (const r of emu.ledger()) {
          const who =
            r.licenseArn === DEMO.L1
              ? "CA1"
              : r.licenseArn === DEMO.L2
                ? "CA2"
                : r.customerIdentifier
                  ? "LEG"
                  : "TRANS";
          const grain = `${who}|${r.dimension}|${r.hour}`;
          expect(seen.has(grain)).toBe(false);
          seen.add(grain);
          add(billed, `${who}|${r.dimension}`, r.quantity);
          if (r.allocations) expect(r.allocations.reduce((n, a) => n + a.quantity, 0)).toBe(r.quantity);
          expect(Date.parse(r.hour) % HOUR).toBe(0);
        }
        for (const key of new Set([...recorded.keys(), ...billed.keys()]))
          expect(billed.get(key) ?? 0, key).toBe((recorded.get(key) ?? 0) - (lost.get(key) ?? 0));
      }),
      { numRuns: 20, seed: 20260715 },
    );
  }, 60_000);

  it("two instances sharing one file never send the same grain twice", async () => {
    let now = START;
    emu.clock.set(now, { freeze: true });
    const { dir, path } = tempDb();
    const client = new MarketplaceMeteringClient({
      region: "us-east-1",
      endpoint: emu.endpoint,
      credentials,
      maxAttempts: 1,
    });
    const sentRecords: string[] = [];
    client.middlewareStack.add(
      (next) => async (args) => {
        const input = args.input as {
          UsageRecords: Array<{
            LicenseArn?: string;
            CustomerIdentifier?: string;
            Dimension: string;
            Timestamp: Date;
          }>;
        };
        for (const r of input.UsageRecords)
          sentRecords.push(
            `${r.LicenseArn ?? r.CustomerIdentifier}|${r.Dimension}|${r.Timestamp.toISOString()}`,
          );
        return next(args);
      },
      { step: "initialize", name: "recordRecords" },
    );
    const a = makeInstance(path, () => now, "a", client);
    const b = makeInstance(path, () => now, "b", client);
    let expected = 0;
    for (let h = 0; h < 6; h++) {
      for (const [i, m] of [a, b].entries())
        for (const identity of [CA1, CA2, LEG])
          for (const dimension of ["api_calls", "gb_stored"] as const) {
            if (identity === LEG && dimension === "gb_stored") continue;
            m.record({ identity, dimension, quantity: 10 + i + h });
            expected += 10 + i + h;
          }
      await Promise.all([a.checkpoint(), b.checkpoint()]);
      now += HOUR;
      emu.clock.set(now, { freeze: true });
      await Promise.all([a.flush(), b.flush(), a.flush(), b.flush()]);
    }
    expect(emu.duplicates()).toEqual([]);
    expect(new Set(sentRecords).size).toBe(sentRecords.length);
    expect(emu.ledger()).toHaveLength(6 * 5);
    expect(emu.ledger().reduce((n, r) => n + r.quantity, 0)).toBe(expected);
    await a.close();
    await b.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("three instances in separate processes on one file never send the same grain twice", async () => {
    // Separate processes, unlike the test above: SQLite's file locks then really contend across
    // processes (busy waits, WAL readers and writers), as they do with several app instances on one host.
    let now = START;
    emu.clock.set(now, { freeze: true });
    const { dir, path } = tempDb();
    const fixture = fileURLToPath(new URL("./fixtures/instance.mjs", import.meta.url));
    const children: ChildProcess[] = [];
    const instances = await Promise.all(
      ["p1", "p2", "p3"].map(
        (id) =>
          new Promise<(cmd: string, extra?: object) => Promise<unknown>>((resolve, reject) => {
            const child = fork(
              fixture,
              [path, emu.endpoint, id, JSON.stringify([DEMO.P_CA, DEMO.P_L]), String(now)],
              { stdio: ["ignore", "inherit", "inherit", "ipc"] },
            );
            children.push(child);
            const waiting = new Map<number, (m: { ok: boolean; result?: unknown; error?: string }) => void>();
            let seq = 0;
            child.on("message", (m: { ready?: boolean; id?: number; ok: boolean; error?: string }) => {
              if (m.ready) resolve(ask);
              else waiting.get(m.id as number)?.(m);
            });
            child.once("error", reject);
            child.once("exit", (code) => reject(new Error(`instance ${id} exited with ${code}`)));
            function ask(cmd: string, extra: object = {}): Promise<unknown> {
              const msgId = ++seq;
              return new Promise((res, rej) => {
                waiting.set(msgId, (m) => {
                  waiting.delete(msgId);
                  if (m.ok) res(m.result);
                  else rej(new Error(`instance ${id}: ${m.error}`));
                });
                child.send({ id: msgId, cmd, ...extra });
              });
            }
          }),
      ),
    );
    try {
      let expected = 0;
      for (let h = 0; h < 4; h++) {
        await Promise.all(
          instances.map((ask, i) => {
            const records = [];
            for (const identity of [CA1, CA2, LEG])
              for (const dimension of ["api_calls", "gb_stored"] as const) {
                if (identity === LEG && dimension === "gb_stored") continue;
                records.push({ identity, dimension, quantity: 10 + i + h });
                expected += 10 + i + h;
              }
            return ask("record", { records });
          }),
        );
        await Promise.all(instances.map((ask) => ask("checkpoint")));
        now += HOUR;
        emu.clock.set(now, { freeze: true });
        await Promise.all(instances.map((ask) => ask("now", { now })));
        // Every instance tries to send the closed hour at the same moment, twice.
        await Promise.all([...instances, ...instances].map((ask) => ask("flush")));
      }
      const closed = (await Promise.all(instances.map((ask) => ask("close")))) as Array<{ sent: string[] }>;
      const sent = closed.flatMap((c) => c.sent);
      expect(emu.duplicates()).toEqual([]);
      expect(new Set(sent).size).toBe(sent.length);
      expect(emu.ledger()).toHaveLength(4 * 5);
      expect(emu.ledger().reduce((n, r) => n + r.quantity, 0)).toBe(expected);
    } finally {
      for (const c of children) {
        c.removeAllListeners("exit");
        if (c.exitCode === null) c.kill();
      }
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it("restart resume: pending and retrying grains are sent after a restart", async () => {
    let now = START;
    emu.clock.set(now, { freeze: true });
    const { dir, path } = tempDb();
    const first = makeInstance(path, () => now, "first");
    first.record({ identity: CA1, dimension: "api_calls", quantity: 3, timestamp: now - HOUR });
    first.record({ identity: LEG, dimension: "api_calls", quantity: 4 });
    emu.setFaults({ BatchMeterUsage: { internalError: { probability: 1 } } });
    await first.flush();
    expect((await first.report()).map((g) => g.state)).toEqual(["retrying", "pending"]);
    await first.store.close(); // crash after the checkpoint
    emu.setFaults({});
    now += HOUR;
    emu.clock.set(now, { freeze: true });
    const second = makeInstance(path, () => now, "second");
    await second.flush();
    expect(emu.ledger().map((r) => r.quantity)).toEqual([3, 4]);
    expect((await second.report()).map((g) => g.state)).toEqual(["sent", "sent"]);
    await second.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
