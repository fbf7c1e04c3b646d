process.env.AWS_EC2_METADATA_DISABLED = "true";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

// A database blip while an instance starts: the directory's first load fails. It must be retried on its
// own, and until it succeeds the guard says "unavailable" (503), never "not registered" (403).
import { afterEach, describe, expect, it, vi } from "vitest";
import { type DirectoryStore, memoryDirectoryStore } from "../directory/index.js";
import { createGuard } from "../http/index.js";
import { type Buyers, createBuyers } from "./buyers.js";

const P = "pca1234567890abcdefghijkl";
const A1 = "123456789012";
const L1 = "arn:aws:license-manager::294406891311:license:l-0123456789abcdef0123456789abcdef";
const T0 = Date.UTC(2026, 6, 15, 10, 0);
const SECRET = "0123456789abcdef-secret";
const ID = { productCode: P, customerAWSAccountId: A1, licenseArn: L1 };

const licenseUpdated = {
  version: "0",
  id: "ev-startup-1",
  "detail-type": "License Updated - Manufacturer",
  source: "aws.agreement-marketplace",
  account: "111122223333",
  time: new Date(T0).toISOString().replace(/\.\d{3}Z$/, "Z"),
  region: "us-east-1",
  resources: [],
  detail: {
    agreement: { id: "agmt-1" },
    acceptor: { accountId: A1 },
    proposer: { accountId: "111122223333" },
    offer: { id: "offer-1" },
    product: { code: P, id: "prod-1" },
    license: { arn: L1 },
  },
};

const open: Buyers[] = [];
function buyersOn(directory: DirectoryStore, directoryRefreshMs?: number): Buyers {
  const b = createBuyers({
    products: [P],
    aws: {
      region: "us-east-1",
      endpoint: "http://127.0.0.1:9",
      credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
    },
    clock: () => T0,
    eventBridge: { secret: SECRET },
    directory,
    ...(directoryRefreshMs !== undefined ? { directoryRefreshMs } : {}),
  });
  open.push(b);
  return b;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close()));
});

/** A shared (non-local) store over `inner` whose reads fail while `down` is set. */
function blipping(inner: DirectoryStore) {
  const state = { down: true, loads: 0 };
  const read =
    <A extends unknown[], R>(fn: (...a: A) => R) =>
    async (...a: A): Promise<Awaited<R>> => {
      state.loads++;
      if (state.down) throw new Error("connect ECONNREFUSED 127.0.0.1:5432");
      return await fn(...a);
    };
  const store: DirectoryStore = {
    ...inner,
    local: false,
    loadCustomers: read(() => inner.loadCustomers()),
    customersChangedSince: read((c: string | undefined) =>
      (inner.customersChangedSince as NonNullable<DirectoryStore["customersChangedSince"]>)(c),
    ),
  };
  return { store, state };
}

describe("a directory whose first load fails", () => {
  it.each([
    ["with the periodic refresh off", 0],
    ["with the default periodic refresh", undefined],
  ])(
    "is retried on its own %s; unavailable (503) meanwhile, then ready and allowed",
    async (_, refreshMs) => {
      const inner = memoryDirectoryStore();
      const writer = buyersOn(inner);
      await writer.handleEventBridge(licenseUpdated);
      expect(writer.access(ID)).toMatchObject({ allowed: true });

      const { store, state } = blipping(inner);
      const starting = buyersOn(store, refreshMs);
      await expect(starting.ready()).rejects.toMatchObject({ code: "STORE_ERROR" });
      expect(starting.access(ID)).toMatchObject({ allowed: false, reason: "unavailable" });
      expect(await starting.checkAccess(ID)).toMatchObject({ allowed: false, reason: "unavailable" });
      // What a request meets: the adapters' guard answers 503 with Retry-After, not a 403 refusal.
      const guard = createGuard<[]>(starting, { getCustomer: () => ID });
      expect(await guard([])).toMatchObject({
        allowed: false,
        problem: { status: 503, type: "urn:marketmeter:problem:subscription-check-failed" },
        headers: { "retry-after": "5" },
      });

      // It keeps trying while the store is down…
      const before = state.loads;
      await vi.waitFor(() => expect(state.loads).toBeGreaterThan(before), { timeout: 10_000 });
      expect(starting.access(ID)).toMatchObject({ allowed: false, reason: "unavailable" });

      // …and once the store answers, the buyer is allowed and everything waiting on ready() proceeds.
      state.down = false;
      await vi.waitFor(() => expect(starting.access(ID)).toMatchObject({ allowed: true }), {
        timeout: 10_000,
      });
      await expect(starting.ready()).resolves.toBeUndefined();
      expect(await guard([])).toMatchObject({ allowed: true });
    },
  );
});
