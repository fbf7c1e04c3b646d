// The built `marketmeter` CLI as a child process, against real stores filled by a real marketplace that
// sent to the emulator over HTTP with the real AWS SDK.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { acceptanceDeadline, HOUR_MS } from "@marketmeter/core/store";
import { DEMO, demoConfig, type Emulator, startEmulator } from "@marketmeter/emulator";
import { sqliteStore } from "@marketmeter/sqlite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CA1, CLI, CONFIG, checkBuilt, cli, dueGrain, fill, SECRET_KEY } from "./helpers.js";

let emu: Emulator;
let dir: string;
let dbPath: string;
let hours: { sentHour: number; pendingHour: number };

beforeAll(async () => {
  checkBuilt();
  // Real time: the CLI runs in another process on the wall clock, like in production.
  emu = await startEmulator({ port: 0, config: demoConfig({ now: Date.now() }), seed: 18 });
  dir = mkdtempSync(join(tmpdir(), "marketmeter-cli-"));
  dbPath = join(dir, "usage.db");
  hours = await fill(sqliteStore({ path: dbPath }), emu.endpoint);
  writeFileSync(join(dir, "marketmeter.config.json"), JSON.stringify({ ...CONFIG, endpoint: emu.endpoint }));
});

afterAll(async () => {
  await emu?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const run = (args: string[], env?: Record<string, string>) =>
  cli(args, { cwd: dir, ...(env ? { env } : {}) });
const json = <T>(text: string): T => JSON.parse(text) as T;

describe("status", () => {
  it("counts grains by state, names the oldest unsent grain and exits 1 for a rejection in the window", async () => {
    const r = await run(["status", "--store", dbPath, "--json"]);
    const s = json<{
      ok: boolean;
      counts: Record<string, number>;
      oldestUnsent: { hour: string; state: string; deadline: string } | null;
      lastHours: { rejected: number; reasons: Array<{ reason: string }> };
      atRisk: Array<{ kind: string }>;
      store: { reachable: boolean };
    }>(r.stdout);
    expect(r.code).toBe(1);
    expect(s.store.reachable).toBe(true);
    expect(s.counts).toMatchObject({ sent: 2, rejected: 1, pending: 1 });
    expect(s.oldestUnsent?.hour).toBe(new Date(hours.pendingHour).toISOString());
    expect(s.oldestUnsent?.deadline).toBe(new Date(acceptanceDeadline(hours.pendingHour)).toISOString());
    expect(s.lastHours.rejected).toBe(1);
    expect(s.lastHours.reasons[0]?.reason).toMatch(/CustomerNotSubscribed|not subscribed/i);
    expect(s.atRisk.map((a) => a.kind)).toEqual(["rejected"]);
  });

  it("flags an unsent grain near its deadline, as of a later --at", async () => {
    const at = new Date(hours.pendingHour + 23 * HOUR_MS).toISOString();
    const r = await run(["status", "--store", dbPath, "--json", "--since", "1h", "--at", at]);
    expect(r.code).toBe(1);
    expect(json<{ atRisk: Array<{ kind: string }> }>(r.stdout).atRisk.map((a) => a.kind)).toEqual([
      "near-deadline",
    ]);
  });

  it("prints readable tables without --json", async () => {
    const r = await run(["status", "--store", dbPath]);
    expect(r.stdout).toContain("Grains by state");
    expect(r.stdout).toMatch(/AT RISK: 1 grain\(s\) rejected/);
  });
});

describe("usage", () => {
  it("lists each hour with recorded, sent, MeteringRecordId, state and reason, in CSV", async () => {
    const from = new Date(hours.sentHour).toISOString();
    const r = await run([
      "usage",
      "--store",
      dbPath,
      "--customer",
      DEMO.A1,
      "--from",
      from,
      "--format",
      "csv",
    ]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\r\n");
    expect(lines[0]).toBe(
      "hour,product,customer,license,dimension,recorded,sent,meteringRecordId,state,reason",
    );
    const rows = lines.slice(1).map((l) => l.split(","));
    const sent = rows.filter((c) => c[8] === "sent");
    expect(sent.map((c) => [c[4], c[5], c[6]]).sort()).toEqual([
      ["api_calls", "7", "7"],
      ["gb_stored", "3", "3"],
    ]);
    for (const c of sent) expect(c[7]).toMatch(/\S/);
    expect(rows.filter((c) => c[8] === "pending").map((c) => [c[5], c[6]])).toEqual([["4", "0"]]);
  });

  it("finds a customer by license id, and filters by dimension (JSON)", async () => {
    const licenseId = DEMO.L1.slice(DEMO.L1.lastIndexOf("/") + 1).replace(/^.*license:/, "");
    const r = await run([
      "usage",
      "--store",
      dbPath,
      "--customer",
      licenseId,
      "--from",
      "-1d",
      "--dimension",
      "gb_stored",
      "--json",
    ]);
    expect(r.code).toBe(0);
    const out = json<{ rows: Array<{ dimension: string; recorded: number; license: string }> }>(r.stdout);
    expect(out.rows).toEqual([
      expect.objectContaining({ dimension: "gb_stored", recorded: 3, license: CA1.licenseArn }),
    ]);
  });

  it("says so and exits 1 for a customer that is not in the store", async () => {
    const r = await run([
      "usage",
      "--store",
      dbPath,
      "--customer",
      "999999999999",
      "--from",
      "-1d",
      "--json",
    ]);
    expect(r.code).toBe(1);
    expect(json<{ error: { code: string } }>(r.stdout).error.code).toBe("UNKNOWN_CUSTOMER");
    expect(r.stderr).toContain('no customer "999999999999"');
  });

  it("refuses bad dates and periods with exit 2 before opening the store", async () => {
    for (const args of [
      ["--from", "2026-02-30"],
      ["--from", "yesterday"],
      ["--from", "2026-07-15", "--to", "2026-07-14"],
      ["--to", "now"],
      ["--from", "-1d", "--dimension", "api calls"],
      ["--from", "-1d", "--format", "xlsx"],
    ]) {
      const r = await run(["usage", "--store", join(dir, "missing.db"), "--customer", DEMO.A1, ...args]);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(/--from|--to|--dimension|--format/);
    }
  });
});

describe("bad input", () => {
  it("names a missing SQLite file (exit 3) instead of creating an empty store", async () => {
    const r = await run(["status", "--store", join(dir, "nope", "usage.db")]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("no SQLite store at");
  });

  it("refuses unknown schemes, URLs without a host, unknown options and commands (exit 2)", async () => {
    for (const args of [
      ["status", "--store", "mysql://db/x"],
      ["status", "--store", "postgres://"],
      ["status", "--store", dbPath, "--bogus"],
      ["statsu", "--store", dbPath],
      ["status", "--store", dbPath, "--since", "10"],
    ]) {
      const r = await run(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(/^marketmeter: /);
    }
  });

  it("uses MARKETMETER_STORE when --store is not given, and says how to give one when neither is", async () => {
    expect((await run(["status", "--json"], { MARKETMETER_STORE: dbPath })).code).toBe(1);
    const none = await run(["status"]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("MARKETMETER_STORE");
  });

  it("gives up on a store that accepts connections but never answers, with exit 3", async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const { port } = silent.address() as { port: number };
    try {
      const r = await run([
        "status",
        "--store",
        `postgres://app:hunter2secret@127.0.0.1:${port}/app`,
        "--timeout",
        "1s",
      ]);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/1000 ms|timeout/i);
      expect(r.stderr).not.toContain("hunter2secret");
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });

  it("loads @marketmeter/redis for a redis:// store; a port that refuses is exit 3", async () => {
    const r = await run(["status", "--store", "redis://127.0.0.1:1", "--timeout", "2s"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("127.0.0.1:1");
  });
});

describe("send and retry", () => {
  it("--dry-run lists the due grain and changes nothing; send then sends it to the emulator", async () => {
    const dry = await run(["send", "--store", dbPath, "--dry-run", "--json"]);
    expect(dry.code).toBe(0);
    const plan = json<{ wouldSend: Array<{ hour: string; quantity: number }> }>(dry.stdout);
    expect(plan.wouldSend).toEqual([
      expect.objectContaining({ hour: new Date(hours.pendingHour).toISOString(), quantity: 4 }),
    ]);
    const unchanged = json<{ counts: Record<string, number> }>(
      (await run(["status", "--store", dbPath, "--json"])).stdout,
    );
    expect(unchanged.counts).toMatchObject({ pending: 1, sent: 2 });

    const r = await run(["send", "--store", dbPath, "--json"]);
    expect(r.code).toBe(0);
    // No progress line outside a terminal: stderr is a pipe here.
    expect(r.stderr).toBe("");
    const done = json<{ done: Array<{ outcome: string; quantity: number; detail: string }> }>(r.stdout).done;
    expect(done).toEqual([expect.objectContaining({ outcome: "sent", quantity: 4 })]);
    const billed = emu.state.ledger({ customer: DEMO.L1, dimension: "api_calls", hour: hours.pendingHour });
    expect(billed.map((b) => b.quantity)).toEqual([4]);
    const after = json<{ counts: Record<string, number> }>(
      (await run(["status", "--store", dbPath, "--json"])).stdout,
    );
    expect(after.counts).toMatchObject({ pending: 0, sent: 3 });
  });

  it("retry releases a dead instance's lease and sends its grain", async () => {
    const store = sqliteStore({ path: dbPath });
    const hour = hours.pendingHour;
    const key = `L|${DEMO.P_CA}|${DEMO.A1}|${DEMO.L1}`;
    await store.add([{ identityKey: key, dimension: "gb_stored", hour, quantity: 9 }], {
      now: hour,
      openFrom: hour,
      carryTo: hour,
    });
    await store.closeGrains({ hourBefore: hour + HOUR_MS, now: Date.now() - 180_000 });
    // An instance claimed it a while ago and died: its lease ran out.
    const [held] = await store.claim({
      owner: "dead-pod",
      now: Date.now() - 120_000,
      leaseMs: 60_000,
      limit: 1,
    });
    expect(held?.leaseOwner).toBe("dead-pod");
    await store.close();

    const dry = await run(["retry", "--store", dbPath, "--dry-run", "--json"]);
    expect(json<{ wouldRelease: unknown[] }>(dry.stdout).wouldRelease).toHaveLength(1);
    const r = await run(["retry", "--store", dbPath, "--json"]);
    expect(r.code).toBe(0);
    const out = json<{ released: number; done: Array<{ outcome: string; dimension: string }> }>(r.stdout);
    expect(out.released).toBe(1);
    expect(out.done).toEqual([expect.objectContaining({ outcome: "sent", dimension: "gb_stored" })]);
    const check = sqliteStore({ path: dbPath });
    const g = (await check.list({ states: ["sent"] })).find(
      (x) => x.dimension === "gb_stored" && x.hour === hour,
    );
    await check.close();
    expect(g?.leaseOwner).toBeUndefined();
    // The dead holder may have sent it: the grain says so.
    expect(g?.uncertain).toBe(true);
  });

  it("needs the product configuration and says where to put it", async () => {
    const r = await cli(["send", "--store", dbPath], { cwd: tmpdir() });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--config marketmeter.config.json");
  });
});

describe("doctor", () => {
  it("checks credentials, skew, DryRun permission and product codes against the emulator without printing secrets", async () => {
    const r = await run(["doctor", "--json", "--store", dbPath], {
      MARKETMETER_WEBHOOK_SECRET: "a-long-enough-webhook-secret",
    });
    const out = json<{ ok: boolean; checks: Array<{ check: string; status: string; detail: string }> }>(
      r.stdout,
    );
    const status = Object.fromEntries(out.checks.map((c) => [c.check, c.status]));
    expect(status).toMatchObject({
      config: "ok",
      credentials: "ok",
      "clock skew": "ok",
      "MeterUsage (DryRun)": "ok",
      BatchMeterUsage: "warning",
      ResolveCustomer: "warning",
      [`product ${DEMO.P_CA}`]: "ok",
      "webhook secret": "ok",
      store: "ok",
    });
    expect(out.checks.find((c) => c.check === "credentials")?.detail).toContain("environment variables");
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).not.toContain(SECRET_KEY);
    expect(r.stdout + r.stderr).not.toContain("a-long-enough-webhook-secret");
  });

  it("fails (exit 1) on a product code the emulator does not know, with the fix", async () => {
    const cfg = join(dir, "wrong.json");
    writeFileSync(
      cfg,
      JSON.stringify({ ...CONFIG, products: [{ productCode: "pzzz1234567890abcdefghijk" }] }),
    );
    const r = await run(["doctor", "--config", cfg, "--endpoint", emu.endpoint]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAILURE\s+product pzzz1234567890abcdefghijk/);
    expect(r.stdout).toContain("Management Portal");
  });

  it("fails when no credentials can be found", async () => {
    const r = await run(["doctor", "--json", "--timeout", "2s"], {
      AWS_ACCESS_KEY_ID: "",
      AWS_SECRET_ACCESS_KEY: "",
    });
    const out = json<{ checks: Array<{ check: string; status: string }> }>(r.stdout);
    expect(out.checks.find((c) => c.check === "credentials")?.status).toBe("failure");
    expect(r.code).toBe(1);
  });
});

describe("throttling", () => {
  it("send reports a throttled grain as retrying (exit 1) and status counts it as throttled, not at risk", async () => {
    const path = join(dir, "throttled.db");
    await dueGrain(path, emu.endpoint, 4);
    emu.state.setFaults({ BatchMeterUsage: { throttle: { next: 1 } } });

    const sent = await run(["send", "--store", path, "--json"]);
    expect(sent.code).toBe(1);
    expect(json<{ done: Array<{ outcome: string; detail: string }> }>(sent.stdout).done).toEqual([
      expect.objectContaining({ outcome: "retrying", detail: expect.stringMatching(/throttl/i) }),
    ]);
    const s = await run(["status", "--store", path, "--json"]);
    const view = json<{
      counts: Record<string, number>;
      lastHours: { throttled: number };
      atRisk: unknown[];
    }>(s.stdout);
    expect(view.counts.retrying).toBe(1);
    expect(view.lastHours.throttled).toBe(1);
    expect(view.atRisk).toEqual([]);
    expect(s.code).toBe(0);
  });
});

describe("retry puts retrying grains back in the queue", () => {
  it("a throttled grain waits for its back-off under send, and goes out now under retry", async () => {
    const path = join(dir, "retry-now.db");
    await dueGrain(path, emu.endpoint, 6);
    const billedBefore = emu.state.ledger().length;
    emu.state.setFaults({ BatchMeterUsage: { throttle: { next: 1 } } });
    expect((await run(["send", "--store", path, "--json"])).code).toBe(1);
    // Its back-off is random (full jitter, possibly a few ms): push the next attempt an hour out, as after
    // many failed attempts, so that what send and retry do does not depend on timing.
    const store = sqliteStore({ path });
    const [held] = await store.claim({
      owner: "test",
      now: Date.now(),
      leaseMs: 60_000,
      limit: 1,
      ignoreBackoff: true,
    });
    expect(held?.state).toBe("retrying");
    const settled = await store.settle(
      [
        {
          key: String(held?.key),
          leaseToken: Number(held?.leaseToken),
          state: "retrying",
          nextAttemptAt: Date.now() + HOUR_MS,
          error: "ThrottlingException",
          uncertain: false,
        },
      ],
      { owner: "test", now: Date.now() },
    );
    expect(settled.applied).toBe(1);
    await store.close();

    const again = await run(["send", "--store", path, "--json"]);
    const waiting = json<{ done: unknown[]; stillBackingOff: Array<{ state: string }> }>(again.stdout);
    expect(waiting.done).toEqual([]);
    expect(waiting.stillBackingOff).toEqual([expect.objectContaining({ state: "retrying" })]);

    const dry = json<{ wouldSend: unknown[]; backingOff: unknown[] }>(
      (await run(["retry", "--store", path, "--dry-run", "--json"])).stdout,
    );
    expect(dry.wouldSend).toHaveLength(1);
    expect(dry.backingOff).toEqual([]);

    const r = await run(["retry", "--store", path, "--json"]);
    const out = json<{ done: Array<{ outcome: string }>; stillBackingOff: unknown[] }>(r.stdout);
    expect(out.done).toEqual([expect.objectContaining({ outcome: "sent" })]);
    expect(out.stillBackingOff).toEqual([]);
    expect(r.code).toBe(0);
    expect(emu.state.ledger()).toHaveLength(billedBefore + 1);
  });
});

describe("progress", () => {
  // `script` gives the CLI a real terminal, as a person running it has.
  const inTerminal = (args: string[]) =>
    cli(["-qfec", [process.execPath, CLI, ...args].map((a) => `'${a}'`).join(" "), "/dev/null"], {
      cwd: dir,
      command: "script",
    });

  it("shows a progress line on a terminal, and none with --json", async () => {
    const a = join(dir, "progress-a.db");
    const b = join(dir, "progress-b.db");
    await dueGrain(a, emu.endpoint, 5);
    await dueGrain(b, emu.endpoint, 6);
    const shown = await inTerminal(["send", "--store", a]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain("\u001b[2Ksend: 1 grain(s) settled");
    const quiet = await inTerminal(["send", "--store", b, "--json"]);
    expect(quiet.code).toBe(0);
    expect(quiet.stdout).not.toContain("\u001b[2K");
    expect(quiet.stdout).toContain('"outcome": "sent"');
  });
});
