// Container mode (MARKETMETER_MODE=container) against the emulator over real HTTP: the app registers
// with RegisterUsage before serving, every request is the deployment's buyer, and the closed hour is
// billed with one MeterUsage record per dimension.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningApp, startApp } from "../src/app.js";
import { readConfig } from "../src/config.js";
import { closeHour } from "../src/demo.js";
import { defined } from "./defined.js";

process.env.AWS_EC2_METADATA_DISABLED = "true";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

let app: RunningApp;
let dataDir: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "{{name}}-container-"));
  const config = readConfig({
    MARKETMETER_MODE: "container",
    MARKETMETER_PLATFORM: "fargate",
    HOSTNAME: "task-1",
  });
  app = await startApp({
    ...config,
    port: 0,
    dataDir,
    emulator: { ...config.emulator, port: 0, now: "2026-07-15T10:30:00Z", frozen: true },
    log: () => {},
  });
});

afterAll(async () => {
  await app?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("container mode", () => {
  it("reads MARKETMETER_MODE and refuses an unknown one", () => {
    expect(readConfig({ MARKETMETER_MODE: "container" }).emulator?.deployment?.mode).toBe("container");
    expect(readConfig({}).emulator?.deployment).toBeUndefined();
    expect(() => readConfig({ MARKETMETER_MODE: "lambda" })).toThrow(/MARKETMETER_MODE/);
  });

  it("registered before serving, meters every request to the deployment, and bills the hour once", async () => {
    const emulator = defined(app.emulator);
    const calls = emulator.calls();
    expect(calls.filter((c) => c.operation === "RegisterUsage").map((c) => c.status)).toEqual([200]);
    // The buyer is the deployment: the API asks no API key, and every answered call is metered.
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${app.url}/api/quotes?symbol=ACME`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ symbol: "ACME" });
    }
    const reports = await fetch(`${app.url}/api/reports?symbol=ACME&days=2`);
    expect(reports.status).toBe(200);
    const { rows } = (await reports.json()) as { rows: unknown[] };
    expect((await fetch(`${app.url}/api/reports?days=0`)).status).toBe(400); // not metered
    expect((await fetch(`${app.url}/health`)).status).toBe(200); // not metered
    await closeHour(emulator, app.marketplace);
    const billed = emulator.ledger({ operation: "MeterUsage" });
    expect(billed.map((r) => [r.dimension, r.quantity, r.resourceId]).sort()).toEqual([
      ["api_calls", 3, "task-1"],
      ["report_rows", rows.length, "task-1"],
    ]);
    const sent = await app.marketplace.report({ states: ["sent"] });
    expect(sent.map((g) => g.meteringRecordId).sort()).toEqual(billed.map((r) => r.meteringRecordId).sort());
  });
});
