import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { memoryStore, type UsageStore } from "../src/index.js";
import type { UsageDelta } from "../src/store.js";
import { defined } from "./defined.js";
import { CA1, CA2, collect, DEMO, HOUR, LEG, type TestBed, testBed, waitFor } from "./helpers.js";

let bed: TestBed;
beforeEach(async () => {
  bed = await testBed();
});
afterEach(async () => bed.close());

/** A store in front of a real one whose adds can fail: before writing (down) or after committing (lost answer). */
function unreliable(inner: UsageStore = memoryStore()) {
  const ctl = {
    down: false,
    /** Adds that commit and then throw, as if the connection dropped before the answer. */
    lostAnswers: 0,
    adds: [] as Array<{ deltas: UsageDelta[]; checkpoint?: { instance: string; seq: number } }>,
    takes: [] as number[],
    inner,
  };
  const store: UsageStore = {
    ...inner,
    async add(deltas, ctx) {
      ctl.adds.push({
        deltas: structuredClone([...deltas]),
        ...(ctx.checkpoint ? { checkpoint: { ...ctx.checkpoint } } : {}),
      });
      if (ctl.down) throw new Error("connect ECONNREFUSED 127.0.0.1:5432");
      if (ctl.lostAnswers > 0) {
        ctl.lostAnswers--;
        await inner.add(deltas, ctx);
        throw new Error("Connection terminated unexpectedly");
      }
      return inner.add(deltas, ctx);
    },
  };
  return { store, ctl };
}

const sum = (xs: readonly { quantity: number }[]) => xs.reduce((a, b) => a + b.quantity, 0);

describe("idempotent checkpoints", () => {
  it("a checkpoint that committed but lost its answer is retried identically and counted once", async () => {
    const { store, ctl } = unreliable();
    const m = bed.make({ store });
    m.record({ identity: CA1, dimension: "api_calls", quantity: 5 });
    ctl.lostAnswers = 1;
    await expect(m.flush()).rejects.toThrow(/Connection terminated/);
    // Usage recorded meanwhile goes to the next batch, not into the one being retried.
    m.record({ identity: CA1, dimension: "api_calls", quantity: 2 });
    await m.flush();
    expect(ctl.adds.length).toBe(3);
    const [first, retry, next] = ctl.adds;
    expect(retry).toEqual(first);
    expect(next?.checkpoint?.instance).toBe(first?.checkpoint?.instance);
    expect(next?.checkpoint?.seq).toBe((first?.checkpoint?.seq ?? 0) + 1);
    expect(sum(next?.deltas ?? [])).toBe(2);
    expect(m.stats().instance).toBe(first?.checkpoint?.instance);
    bed.advance(HOUR);
    await m.flush();
    expect(bed.emu.ledger().map((r) => r.quantity)).toEqual([7]);
    await m.close();
  });

  it("a store outage never reaches record(); when it heals nothing is lost or counted twice", async () => {
    const { store, ctl } = unreliable();
    const m = bed.make({ store });
    const mErrors = collect(m, "error");
    let recorded = 0;
    const record = (identity: typeof CA1 | typeof CA2 | typeof LEG, q: number) => {
      m.record({ identity, dimension: "api_calls", quantity: q });
      recorded += q;
    };
    record(CA1, 3);
    ctl.down = true;
    for (let i = 1; i <= 5; i++) {
      record(CA1, i);
      record(LEG, 10 * i);
      await expect(m.flush()).rejects.toThrow(/ECONNREFUSED/);
      bed.advance(60_000);
    }
    expect(m.stats().checkpointErrors).toBe(5);
    expect(mErrors.filter((e) => e.phase === "checkpoint").length).toBe(5);
    // Back, but the first write's answer is lost: the batch goes again and is not counted twice.
    ctl.down = false;
    ctl.lostAnswers = 1;
    await expect(m.flush()).rejects.toThrow(/terminated/);
    record(CA2, 7);
    await m.flush();
    expect(m.stats().inMemoryGrains).toBe(0);
    bed.advance(HOUR);
    await m.flush();
    const ledger = bed.emu.ledger();
    expect(sum(ledger)).toBe(recorded);
    const rows = ledger.map((r) => [r.licenseArn ?? r.customerIdentifier, r.hour, r.quantity]);
    expect(rows.sort((a, b) => String(a[0]).localeCompare(String(b[0])))).toEqual(
      [
        [CA1.licenseArn, "2026-07-15T10:00:00.000Z", 3 + 15],
        [CA2.licenseArn, "2026-07-15T10:00:00.000Z", 7],
        [LEG.customerIdentifier, "2026-07-15T10:00:00.000Z", 150],
      ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    );
    expect(bed.emu.duplicates()).toEqual([]);
    await m.close();
  });

  it("memory is bounded: past maxBufferedGrains usage for new grains is refused (counted, one event), existing ones keep counting", async () => {
    const { store, ctl } = unreliable();
    const logs: string[] = [];
    const log = (_o: unknown, msg?: string) => void logs.push(String(msg));
    const m = bed.make({
      store,
      maxBufferedGrains: 2,
      logger: { info: () => {}, warn: log, error: log, debug: () => {} } as never,
    });
    const overflow = collect(m, "overflow");
    ctl.down = true;
    m.record({ identity: CA1, dimension: "api_calls", quantity: 1 });
    m.record({ identity: CA1, dimension: "gb_stored", quantity: 1 });
    await expect(m.flush()).rejects.toThrow();
    // The unconfirmed batch is held besides: the same grains may be recorded again.
    m.record({ identity: CA1, dimension: "api_calls", quantity: 1 });
    m.record({ identity: CA1, dimension: "gb_stored", quantity: 1 });
    expect(() => m.record({ identity: CA2, dimension: "api_calls", quantity: 4 })).not.toThrow();
    m.record({ identity: LEG, dimension: "api_calls", quantity: 5 });
    m.record({ identity: CA1, dimension: "api_calls", quantity: 3 });
    await waitFor(() => overflow.length > 0, "the overflow event");
    expect(overflow).toEqual([{ maxBufferedGrains: 2, bufferedGrains: 4 }]);
    expect(logs.filter((l) => l.includes("maxBufferedGrains")).length).toBe(1);
    expect(m.stats()).toMatchObject({ overflowRecords: 2, overflowQuantity: 9, inMemoryGrains: 4 });
    ctl.down = false;
    await m.flush();
    // Room again: a new grain is taken, and a new episode would be reported again.
    m.record({ identity: CA2, dimension: "api_calls", quantity: 4 });
    bed.advance(HOUR);
    await m.flush();
    const billed = Object.fromEntries(
      bed.emu.ledger().map((r) => [`${r.licenseArn ?? r.customerIdentifier}|${r.dimension}`, r.quantity]),
    );
    expect(billed).toEqual({
      [`${CA1.licenseArn}|api_calls`]: 5,
      [`${CA1.licenseArn}|gb_stored`]: 2,
      [`${CA2.licenseArn}|api_calls`]: 4,
    });
    await m.close();
  });

  it("maxBufferedGrains is validated", () => {
    for (const bad of [0, -1, 1.5, "10"])
      expect(() => bed.make({ maxBufferedGrains: bad as number })).toThrow(/maxBufferedGrains/);
  });
});

function licenseArn(i: number): string {
  return `arn:aws:license-manager::294406891311:license:l-${i.toString(16).padStart(4, "0")}56789abcdef0123456789abcdef`;
}

describe("global pacing", () => {
  it("three instances sending at once share the store's bucket: together they stay under the quota", async () => {
    for (let i = 0; i < 300; i++)
      bed.emu.addLicense({
        licenseArn: licenseArn(i),
        customerAWSAccountId: DEMO.A2,
        productCode: DEMO.P_CA,
        activatedAt: "2026-07-01T00:00:00Z",
      });
    const store = memoryStore();
    // 9 calls per second each: pacing alone, the three would reach 27 per second; the emulator allows 10.
    const instances = [0, 1, 2].map(() =>
      bed.make({ store, callsPerSecond: 9, aws: { client: bed.recordingClient().client } }),
    );
    for (let i = 0; i < 300; i++)
      for (const dimension of ["api_calls", "gb_stored"] as const)
        defined(instances[i % 3]).record({
          identity: { customerAWSAccountId: DEMO.A2, licenseArn: licenseArn(i), productCode: DEMO.P_CA },
          dimension,
          quantity: 1,
        });
    await Promise.all(instances.map((m) => m.checkpoint()));
    bed.advance(HOUR);
    await Promise.all(instances.map((m) => m.flush()));
    expect(bed.emu.rejected().filter((r) => r.errorType === "ThrottlingException")).toHaveLength(0);
    expect(bed.emu.ledger()).toHaveLength(600);
    for (const m of instances) await m.close();
  });

  it("takes a token from the store's shared bucket before each BatchMeterUsage call", async () => {
    const inner = memoryStore();
    const takes: Array<{ bucket: string; wait: number }> = [];
    let refuse = 2;
    const store: UsageStore = {
      ...inner,
      async takeSendToken(bucket, o) {
        const wait = refuse-- > 0 ? 5 : await inner.takeSendToken?.call(inner, bucket, o);
        takes.push({ bucket, wait: wait ?? 0 });
        return wait ?? 0;
      },
    };
    const m = bed.make({ store });
    m.record({ identity: CA1, dimension: "api_calls", quantity: 1 });
    m.record({ identity: LEG, dimension: "api_calls", quantity: 2 });
    bed.advance(HOUR);
    await m.flush();
    expect(bed.emu.ledger().length).toBe(2);
    const calls = m.stats().calls;
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(takes.filter((t) => t.wait === 0).length).toBe(calls);
    expect(takes.slice(0, 2).map((t) => t.wait)).toEqual([5, 5]);
    expect(new Set(takes.map((t) => t.bucket))).toEqual(new Set(["batchMeterUsage:us-east-1"]));
    await m.close();
  });

  it("a store that cannot pace leaves the local pacing: the usage is still sent", async () => {
    const inner = memoryStore();
    const store: UsageStore = {
      ...inner,
      async takeSendToken() {
        throw new Error("store unreachable");
      },
    };
    const m = bed.make({ store });
    m.record({ identity: CA1, dimension: "api_calls", quantity: 1 });
    bed.advance(HOUR);
    await m.flush();
    expect(bed.emu.ledger().map((r) => r.quantity)).toEqual([1]);
    await m.close();
  });
});
