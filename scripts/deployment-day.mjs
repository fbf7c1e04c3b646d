#!/usr/bin/env node
// One emulated day per deployment mode, with one restart at 12:30: how many calls reached the emulator,
// and whether its ledger holds exactly one record per dimension per hour (AMI, containers) or one per
// client token (AgentCore). Runs against the built packages (pnpm build first); nothing leaves 127.0.0.1.
//
//   node scripts/deployment-day.mjs
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

process.env.AWS_EC2_METADATA_DISABLED = "true";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

const root = new URL("../packages/", import.meta.url);
const { createDeployment } = await import(new URL("core/dist/index.js", root).href);
const { DEMO, demoConfig, startEmulator } = await import(new URL("emulator/dist/index.js", root).href);
const { sqliteStore } = await import(new URL("sqlite/dist/index.js", root).href);

const START = Date.parse("2026-07-15T00:10:00Z");
const RUNS = [
  { mode: "ami", platform: "ec2" },
  { mode: "container", platform: "ecs" },
  { mode: "container", platform: "eks" },
  { mode: "container", platform: "fargate" },
  { mode: "agentcore", platform: "agentcore" },
  { mode: "agentcore", platform: "agentcore", agentcore: { meter: "interval", intervalMs: 5 * 60_000 } },
  { mode: "agentcore", platform: "agentcore", agentcore: { meter: "per-call" } },
];

async function day({ mode, platform, agentcore }) {
  const emu = await startEmulator({ port: 0, config: demoConfig({ now: new Date(START), frozen: true }) });
  const dir = mkdtempSync(join(tmpdir(), "deployment-day-"));
  let now = START;
  emu.clock.set(now, { freeze: true });
  const start = () =>
    createDeployment({
      mode,
      productCode: DEMO.P_CA,
      deploymentId: `${platform}-1`,
      dimensions: ["api_calls", "gb_stored"],
      store: sqliteStore({ path: join(dir, "usage.db") }),
      aws: {
        region: "us-east-1",
        endpoint: emu.endpoint,
        credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "emulator" },
      },
      clock: () => now,
      autoStart: false,
      emulator: { platform },
      ...(agentcore ? { agentcore } : {}),
      publicKey: () => emu.registerUsagePublicKey(),
    });
  let m = await start();
  let restarts = 0;
  let recorded = 0;
  let units = 0;
  // Every 15 minutes for 24 hours: some usage, then a report cycle (flush sends only final hours).
  for (let step = 0; step < 24 * 4; step++) {
    m.record({ identity: m.deployment.identity, dimension: "api_calls", quantity: 5 });
    units += 5;
    if (step % 4 === 0) {
      m.record({ identity: m.deployment.identity, dimension: "gb_stored", quantity: 2 });
      units += 2;
    }
    recorded++;
    await m.flush();
    if (step === 12 * 4 + 1) {
      await m.close(); // the task restarts at 12:25; its hour so far is in the store
      // A real restart takes more than a second: each process paces its own calls (10 per second).
      await new Promise((resolve) => setTimeout(resolve, 1100));
      m = await start();
      restarts++;
    }
    now += 15 * 60_000;
    emu.clock.set(now, { freeze: true });
  }
  now += 10 * 60_000; // past the last hour's grace period
  emu.clock.set(now, { freeze: true });
  await m.flush();
  const report = await m.report({ limit: 10_000 });
  await m.close();
  const calls = {};
  for (const c of emu.calls()) {
    const key = `${c.operation} ${c.errorType ?? c.status}`;
    calls[key] = (calls[key] ?? 0) + 1;
  }
  const ledger = emu.ledger({ operation: "MeterUsage" });
  const perGrain = new Map();
  for (const r of ledger)
    perGrain.set(`${r.dimension}|${r.hour}`, (perGrain.get(`${r.dimension}|${r.hour}`) ?? 0) + 1);
  const tokens = emu.state.clientTokens.size;
  await emu.close();
  rmSync(dir, { recursive: true, force: true });
  return {
    run: `${mode}/${platform}${agentcore ? ` (${agentcore.meter}${agentcore.intervalMs ? ` ${agentcore.intervalMs / 60_000} min` : ""})` : ""}`,
    restarts,
    calls,
    ledger: ledger.length,
    hours: new Set(ledger.map((r) => r.hour)).size,
    onePerDimensionHour: [...perGrain.values()].every((n) => n === 1),
    clientTokens: tokens,
    billed: ledger.reduce((s, r) => s + r.quantity, 0),
    grainsSent: report.filter((g) => g.state === "sent").length,
    grainsOther: report.filter((g) => g.state !== "sent").map((g) => g.state),
    recordCalls: recorded,
    units,
  };
}

for (const run of RUNS) {
  const r = await day(run);
  const calls = Object.entries(r.calls)
    .sort()
    .map(([k, n]) => `${k}: ${n}`)
    .join(", ");
  console.log(`${r.run} — 1 day, ${r.restarts} restart`);
  console.log(`  calls:   ${calls}`);
  console.log(
    `  ledger:  ${r.ledger} MeterUsage records over ${r.hours} hours` +
      (run.agentcore ? "" : `; one per dimension per hour: ${r.onePerDimensionHour ? "yes" : "NO"}`) +
      (run.mode === "agentcore"
        ? `; client tokens: ${r.clientTokens} (one record each: ${r.clientTokens === r.ledger ? "yes" : "NO"})`
        : ""),
  );
  console.log(
    `  usage:   recorded ${r.units} units, billed ${r.billed}; grains sent ${r.grainsSent}${r.grainsOther.length ? `, others: ${r.grainsOther.join(", ")}` : ""}`,
  );
}
