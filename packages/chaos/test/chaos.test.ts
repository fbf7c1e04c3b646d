// Many instances, one bill: four app processes on one shared store, SIGKILLed mid-checkpoint and
// mid-send and restarted, with emulator faults and the store's connections cut (and Redis restarted); after a clean drain the
// emulator's ledger equals what the store checkpointed, grain by grain.
import { beforeAll, describe, expect, it } from "vitest";
import { figuresTable, runChaos, seedFromEnv, violations } from "../src/harness.js";
import { STORE_KITS, type StoreName } from "../src/stores.js";
import { assertBuilt } from "./built.js";

process.env.AWS_EC2_METADATA_DISABLED = "true";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

beforeAll(assertBuilt);

const seed = seedFromEnv();

describe.each(Object.keys(STORE_KITS) as StoreName[])("chaos on %s", (store) => {
  const env = STORE_KITS[store].env;
  const url = process.env[env];
  // A missing service must not pass as green in CI.
  if (!url && process.env.CI) throw new Error(`${env} is not set: CI must start the ${store} service`);
  it.runIf(url !== undefined)(
    "the ledger equals the checkpointed usage; nothing unsent, double-counted or sent twice differently",
    async () => {
      const result = await runChaos({ store, url: url as string, seed, log: (line) => console.log(line) });
      console.log(figuresTable(store, result));
      const found = violations(result);
      expect(found.ledgerVsStore).toEqual([]);
      expect(found.unsent).toEqual([]);
      expect(found.duplicateOtherQuantity).toEqual([]);
      expect(found.sentWithDifferentContent).toEqual([]);
      expect(found.countedTwice).toEqual([]);
      expect(found.crashed).toEqual([]);
      // The run must have exercised what it claims to.
      expect(
        result.figures.kills.checkpoint + result.figures.kills.send + result.figures.kills.random,
      ).toBeGreaterThan(0);
      expect(result.figures.connectionsCut).toBeGreaterThan(0);
      // Redis runs on a private server, stopped and started again once mid-run.
      if (store === "redis") expect(result.figures.serviceRestarts).toBe(1);
      expect(result.figures.records).toBeGreaterThan(0);
    },
    240_000,
  );
});
