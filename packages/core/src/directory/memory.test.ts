import { describe, expect, it } from "vitest";
import { directoryStoreConformance, sampleCustomer } from "./conformance.js";
import { Directory } from "./directory.js";
import { memoryDirectoryStore } from "./memory.js";
import { parseCustomerRecord } from "./records.js";

directoryStoreConformance(
  {
    name: "memory",
    durable: false,
    create: (o) => {
      const store = memoryDirectoryStore(o);
      // Two directories over one memory store behave like two instances over one shared store.
      return { store, share: () => store };
    },
  },
  { describe, it },
);

describe("Directory cache", () => {
  it("is ready at once over a synchronous store and answers every index in O(1)", async () => {
    const dir = new Directory(memoryDirectoryStore());
    expect(dir.loaded).toBe(true);
    const legacy = sampleCustomer({
      id: "cus_leg",
      productCode: "pleg1234567890abcdefghijk",
      identity: { productCode: "pleg1234567890abcdefghijk", customerIdentifier: "cust-ABC123" },
      customerIdentifier: "cust-ABC123",
      customerAWSAccountId: "333344445555",
      licenseArn: undefined,
      tenantId: "t1",
    });
    await dir.save(sampleCustomer({ tenantId: "t1" }));
    await dir.save(legacy);
    expect(
      dir
        .getByTenant("t1")
        .map((r) => r.id)
        .sort(),
    ).toEqual(["cus_1", "cus_leg"]);
    expect(dir.getByIdentity(legacy.identity)?.id).toBe("cus_leg");
    expect(dir.findByCustomerIdentifier("pleg1234567890abcdefghijk", "cust-ABC123")?.id).toBe("cus_leg");
    expect(
      dir.getByIdentity({ productCode: "pleg1234567890abcdefghijk", customerAWSAccountId: "333344445555" })
        ?.id,
    ).toBe("cus_leg");
    // License identities match on the l-… id whatever the ARN spelling.
    expect(
      dir.getByIdentity({
        productCode: "pca1234567890abcdefghijkl",
        customerAWSAccountId: "123456789012",
        licenseArn:
          "arn:aws:license-manager:us-east-1:294406891311:license/l-0123456789abcdef0123456789abcdef",
      })?.id,
    ).toBe("cus_1");
  });

  it("keeps indexes coherent when a record changes tenant or is removed", async () => {
    const dir = new Directory(memoryDirectoryStore());
    await dir.save(sampleCustomer({ tenantId: "a" }));
    await dir.save(sampleCustomer({ tenantId: "b" }));
    expect(dir.getByTenant("a")).toEqual([]);
    expect(dir.getByTenant("b")).toHaveLength(1);
    await dir.remove("cus_1");
    expect(dir.getByTenant("b")).toEqual([]);
    expect(dir.findByLicense("l-0123456789abcdef0123456789abcdef")).toBeUndefined();
    expect(dir.size).toBe(0);
  });

  it("an account with two concurrent licenses is ambiguous without the license", async () => {
    const dir = new Directory(memoryDirectoryStore());
    await dir.save(sampleCustomer());
    await dir.save(
      sampleCustomer({
        id: "cus_2",
        licenseArn: "arn:aws:license-manager::294406891311:license:l-1123456789abcdef0123456789abcdef",
        identity: {
          productCode: "pca1234567890abcdefghijkl",
          customerAWSAccountId: "123456789012",
          licenseArn: "arn:aws:license-manager::294406891311:license:l-1123456789abcdef0123456789abcdef",
        },
      }),
    );
    expect(dir.findByAccount("pca1234567890abcdefghijkl", "123456789012")).toHaveLength(2);
    expect(
      dir.getByIdentity({ productCode: "pca1234567890abcdefghijkl", customerAWSAccountId: "123456789012" }),
    ).toBeUndefined();
  });

  it("returns frozen snapshots", async () => {
    const dir = new Directory(memoryDirectoryStore());
    await dir.save(sampleCustomer());
    const r = dir.get("cus_1");
    expect(Object.isFrozen(r)).toBe(true);
    expect(Object.isFrozen(r?.identity)).toBe(true);
  });

  it("reports store failures as STORE_ERROR while the cache keeps the value", async () => {
    const store = memoryDirectoryStore();
    store.saveCustomer = () => {
      throw new Error("disk full");
    };
    const dir = new Directory(store);
    await expect(dir.save(sampleCustomer())).rejects.toMatchObject({ code: "STORE_ERROR" });
    expect(dir.get("cus_1")).toBeDefined();
  });

  it("waits for an asynchronous store before it is loaded", async () => {
    const inner = memoryDirectoryStore();
    await inner.saveCustomer(sampleCustomer());
    const store = { ...inner, loadCustomers: async () => inner.loadCustomers() };
    const dir = new Directory(store);
    expect(dir.loaded).toBe(false);
    await dir.ready();
    expect(dir.loaded).toBe(true);
    expect(dir.get("cus_1")).toBeDefined();
  });

  it("validates its options, and after close() neither the timer nor refresh() reads the store", async () => {
    const store = memoryDirectoryStore();
    for (const bad of [{ refreshIntervalMs: -1 }, { refreshIntervalMs: 1.5 }, { minRefreshGapMs: "1" }])
      expect(() => new Directory(store, bad as never)).toThrow(
        expect.objectContaining({ code: "INVALID_CONFIG" }),
      );
    let reads = 0;
    const counted = {
      ...store,
      loadCustomers: () => {
        reads++;
        return store.loadCustomers();
      },
    };
    const dir = new Directory(counted, { refreshIntervalMs: 1, minRefreshGapMs: 0 });
    await dir.refresh();
    const before = reads;
    expect(before).toBeGreaterThanOrEqual(2);
    dir.close();
    await dir.refresh();
    expect(reads).toBe(before);
  });

  it("parseCustomerRecord refuses corrupt rows", () => {
    expect(() => parseCustomerRecord({ ...sampleCustomer(), status: "weird" })).toThrow(/status/);
    expect(() => parseCustomerRecord({ ...sampleCustomer(), identity: {} })).toThrow(/identity/);
    expect(() => parseCustomerRecord("x")).toThrow(/corrupt/);
    expect(parseCustomerRecord(JSON.parse(JSON.stringify(sampleCustomer())))).toEqual(sampleCustomer());
  });
});
