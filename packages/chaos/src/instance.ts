// One app instance as its own process: the chaos app on port 0, metering into the shared store, with
// business time driven by the test (the emulator's clock). The test may ask it to SIGKILL itself while
// a checkpoint or a send is in flight.
import { appendFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { MarketplaceMeteringClient } from "@aws-sdk/client-marketplace-metering";
import type { UsageStore } from "@marketmeter/core";
import { createMarketplace, type Logger } from "@marketmeter/express";
import { chaosApp, DIMENSIONS, tenantOf } from "./app.js";
import type { Activity, FromInstance, InstanceConfig, ToInstance } from "./protocol.js";
import { isStoreName, STORE_KITS } from "./stores.js";

const config = JSON.parse(process.env.CHAOS_INSTANCE ?? "{}") as InstanceConfig;
if (!isStoreName(config.store)) throw new Error(`unknown store ${config.store}`);
const kit = STORE_KITS[config.store];
const tell = (m: FromInstance) => process.send?.(m);

let now = config.now;
const armed: Partial<Record<Activity, number>> = {};
function activity(kind: Activity): void {
  const delay = armed[kind];
  if (delay === undefined) return;
  delete armed[kind];
  setTimeout(() => process.kill(process.pid, "SIGKILL"), delay);
}

// Checkpoints are the store's add(); everything else passes through unchanged.
const inner = kit.openStore(config.settings);
const store: UsageStore = {
  kind: inner.kind,
  durable: inner.durable,
  add(deltas, ctx) {
    activity("checkpoint");
    return inner.add(deltas, ctx);
  },
  closeGrains: (filter) => inner.closeGrains(filter),
  claim: (options) => inner.claim(options),
  settle: (outcomes, ctx) => inner.settle(outcomes, ctx),
  release: (leases, owner) => inner.release(leases, owner),
  get: (key) => inner.get(key),
  list: (query) => inner.list(query),
  counts: () => inner.counts(),
  close: () => inner.close(),
};

const client = new MarketplaceMeteringClient({
  region: "us-east-1",
  endpoint: config.endpoint,
  credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "chaos" },
  maxAttempts: 1,
});
client.middlewareStack.add(
  (next) => async (args) => {
    const input = args.input as {
      UsageRecords?: Array<{ LicenseArn?: string; Dimension: string; Timestamp: Date; Quantity?: number }>;
    };
    if (input.UsageRecords) {
      // Written before the call, synchronously: what an instance sent is known even if it is killed.
      const lines = input.UsageRecords.map(
        (r) =>
          `${config.instanceId}\t${r.LicenseArn}|${r.Dimension}|${hourOf(r.Timestamp)}\t${r.Quantity ?? 1}\n`,
      );
      appendFileSync(config.sendLog, lines.join(""));
      activity("send");
    }
    return next(args);
  },
  { step: "initialize", name: "chaosSendLog" },
);

const HOUR = 3_600_000;
const hourOf = (t: Date) => new Date(Math.floor(t.getTime() / HOUR) * HOUR).toISOString();

const line =
  (level: string) =>
  (obj: object, msg?: string): void => {
    process.stderr.write(`[${config.instanceId}] ${level} ${msg ?? ""} ${JSON.stringify(obj)}\n`);
  };
const logger: Logger = { debug() {}, info() {}, warn: line("warn"), error: line("error") };

const marketplace = createMarketplace({
  products: [{ productCode: config.productCode }],
  dimensions: DIMENSIONS,
  store,
  directory: kit.openDirectory(config.settings),
  aws: { client, requestTimeoutMs: 1_000 },
  clock: () => now,
  logger,
  getCustomer: tenantOf,
  buyers: { eventBridge: { secret: config.webhookSecret } },
  instanceId: config.instanceId,
  // Short intervals: a kill always finds work in flight. Leases and back-off are business time, which
  // the test moves by minutes between load batches: calls still out then have outlived their lease.
  checkpointIntervalMs: 50,
  reportIntervalMs: 100,
  leaseMs: 8_000,
  retry: { baseDelayMs: 1_000, maxDelayMs: 60_000 },
  closeTimeoutMs: 5_000,
});

process.on("message", (raw) => {
  const m = raw as ToInstance;
  if (m.type === "clock") {
    now = m.now;
    tell({ type: "clock", seq: m.seq });
  } else if (m.type === "arm") {
    armed[m.activity] = m.delayMs;
  } else if (m.type === "flush") {
    marketplace.flush().then(
      () => tell({ type: "flushed", seq: m.seq }),
      (err: unknown) => tell({ type: "flushed", seq: m.seq, error: String(err) }),
    );
  } else if (m.type === "close") {
    // A clean stop is not part of the chaos.
    delete armed.checkpoint;
    delete armed.send;
    void marketplace
      .close()
      .catch((err: unknown) => line("error")({ error: String(err) }, "close failed"))
      .finally(() => {
        // Exit once the parent has the answer; SIGKILLed instances never get here.
        process.send?.({ type: "closed" } satisfies FromInstance, () => process.exit(0));
      });
  }
});
// The test is the only parent: an instance whose parent died must not linger.
process.on("disconnect", () => process.exit(0));

// No waiting for the directory: a store blip at start-up is retried by the directory itself, and until
// its first load succeeds the guard answers 503 (the test counts those as refused, never as metered).
const server = chaosApp(marketplace).listen(0, "127.0.0.1", () => {
  tell({ type: "ready", port: (server.address() as AddressInfo).port });
});
