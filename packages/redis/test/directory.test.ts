import { directoryStoreConformance, sampleCustomer } from "@marketmeter/core/store";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { parseChangeCursor } from "../src/directory.js";
import { type RedisDirectoryStore, redisDirectoryStore } from "../src/index.js";
import { client, directoryTarget, dropPrefix, freshPrefix, hasRedis, url } from "./helpers.js";

describe("change cursors", () => {
  it("accepts exactly the decimal change numbers the store hands out", () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), (n) => {
        expect(parseChangeCursor(String(n))).toBe(n);
      }),
    );
  });

  it("refuses anything else with INVALID_ARGUMENT", () => {
    const bad = fc.oneof(
      fc.string().filter((s) => !/^(0|[1-9][0-9]*)$/.test(s)),
      fc.bigInt({ min: BigInt(Number.MAX_SAFE_INTEGER) + 1n }).map(String),
      fc.constantFrom("-1", "1.5", "1e3", " 1", "01", "0x10", ""),
    );
    fc.assert(
      fc.property(bad, (cursor) => {
        expect(() => parseChangeCursor(cursor)).toThrow(
          expect.objectContaining({ code: "INVALID_ARGUMENT" }),
        );
      }),
    );
  });
});

describe.runIf(hasRedis)("redis directory", () => {
  directoryStoreConformance(
    directoryTarget("redis", (keyPrefix, o) => redisDirectoryStore({ url, keyPrefix, ...o }), dropPrefix),
    { describe, it },
  );
});

describe.runIf(hasRedis)("redis directory: versions and changes", () => {
  const opened: Array<{ store: RedisDirectoryStore; keyPrefix: string }> = [];
  const open = () => {
    const keyPrefix = freshPrefix("dirv");
    const store = redisDirectoryStore({ url, keyPrefix });
    opened.push({ store, keyPrefix });
    return { store, keyPrefix };
  };
  afterEach(async () => {
    for (const { store, keyPrefix } of opened.splice(0)) {
      await store.close();
      await dropPrefix(keyPrefix);
    }
  });

  it("a record stored before versions counts as version 0", async () => {
    const { store, keyPrefix } = open();
    // As an earlier release wrote it: plain JSON without a version.
    await client().hset(`{${keyPrefix}}:d:c`, "cus_1", JSON.stringify(sampleCustomer()));
    expect(await store.saveCustomer(sampleCustomer({ version: 2 }))).toBe(false);
    expect(await store.saveCustomer(sampleCustomer({ version: 1, tenantId: "t" }))).toBe(true);
    expect(await store.getCustomer("cus_1")).toMatchObject({ version: 1, tenantId: "t" });
  });

  it("refuses a version that is not a whole number >= 1, and stores nothing", async () => {
    const { store } = open();
    for (const version of [0, -1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 2])
      await expect(store.saveCustomer(sampleCustomer({ version }))).rejects.toMatchObject({
        code: "INVALID_ARGUMENT",
      });
    expect(await store.loadCustomers()).toEqual([]);
  });

  it("refuses a cursor it did not hand out", async () => {
    const { store } = open();
    await expect(store.customersChangedSince("abc")).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });

  it("changes seen through another store object; a deleted record is not returned", async () => {
    const { store: a, keyPrefix } = open();
    const b = redisDirectoryStore({ url, keyPrefix });
    try {
      const start = await b.customersChangedSince(undefined);
      await a.saveCustomer(sampleCustomer({ version: 1 }));
      await a.saveCustomer(sampleCustomer({ id: "cus_2" }));
      await a.deleteCustomer("cus_1");
      const next = await b.customersChangedSince(start.cursor);
      expect(next.records.map((r) => r.id)).toEqual(["cus_2"]);
      // A refused write is no change.
      expect(await a.saveCustomer(sampleCustomer({ id: "cus_2", version: 5 }))).toBe(false);
      expect((await b.customersChangedSince(next.cursor)).records).toEqual([]);
    } finally {
      await b.close();
    }
  });
});
