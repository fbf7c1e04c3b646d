import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isMarketplaceError } from "../errors/index.js";
import { storeConformance } from "./conformance.js";
import { memoryStore } from "./memory.js";

storeConformance(
  {
    name: "memory",
    durable: false,
    async create() {
      const store = memoryStore();
      return { store, open: async () => store, cleanup: async () => {} };
    },
  },
  { describe, it, fc, numRuns: 300 },
);

describe("memoryStore", () => {
  it("is not durable and refuses calls after close", async () => {
    const s = memoryStore();
    expect(s.durable).toBe(false);
    expect(s.kind).toBe("memory");
    await s.close();
    await expect(s.counts()).rejects.toSatisfy((e) => isMarketplaceError(e, "STORE_ERROR"));
  });

  it("validates its options", () => {
    expect(() => memoryStore({ retainSettledMs: -1 })).toThrow(/retainSettledMs/);
  });
});
