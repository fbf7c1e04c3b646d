/**
 * The behaviour every {@link DirectoryStore} must have. Framework-neutral like the usage-store suite:
 * pass your test runner's `describe` and `it`; assertions use `node:assert/strict`. Core runs it against
 * the memory store and `@marketmeter/sqlite` against its SQLite store, so both stay interchangeable.
 */
import assert from "node:assert/strict";
import { createGuard } from "../http/index.js";
import type { Identity } from "../identity/index.js";
import { type Buyers, createBuyers } from "../lifecycle/index.js";
import { Directory } from "./directory.js";
import type { CustomerRecord, DirectoryStore, StoredRegistration } from "./types.js";

export interface DirectoryConformanceHarness {
  store: DirectoryStore;
  /** Durable stores: closes the store and opens a new one on the same data. */
  reopen?: () => Promise<DirectoryStore> | DirectoryStore;
  /**
   * Another store object on the same data, as a second instance of the app opens it (the memory store
   * returns itself). The many-instances tests run when it is given; `cleanup` closes what it opened.
   */
  share?: () => Promise<DirectoryStore> | DirectoryStore;
  cleanup?: () => Promise<void> | void;
}

export interface DirectoryConformanceTarget {
  /** A short name used in test titles. */
  name: string;
  /** The store keeps its data across a close and reopen (the harness then provides `reopen`). */
  durable: boolean;
  create(options: {
    maxSeenEvents?: number;
  }): Promise<DirectoryConformanceHarness> | DirectoryConformanceHarness;
}

type Describe = (name: string, fn: () => void) => void;
type It = (name: string, fn: () => Promise<void>, timeout?: number) => void;

const T0 = Date.UTC(2026, 6, 15, 10, 30);

const PRODUCT = "pca1234567890abcdefghijkl";
const LICENSE = "arn:aws:license-manager::294406891311:license:l-0123456789abcdef0123456789abcdef";
let eventSeq = 0;
/** An EventBridge license event (`License Updated - Manufacturer`, …) for the sample buyer, with a fresh id. */
export const sampleLicenseEvent = (detailType: string, time: number) => ({
  version: "0",
  id: `conformance-${++eventSeq}`,
  "detail-type": detailType,
  source: "aws.agreement-marketplace",
  account: "111122223333",
  time: new Date(time).toISOString().replace(/\.\d{3}Z$/, "Z"),
  region: "us-east-1",
  resources: [],
  detail: {
    product: { code: PRODUCT },
    license: { arn: LICENSE },
    acceptor: { accountId: "123456789012" },
    agreement: { id: "agmt-1" },
  },
});

const loadAll = async (store: DirectoryStore) => await store.loadCustomers();

/** Polls for a condition that must become true (another instance's change arriving). */
async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error("the condition did not become true");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export function sampleCustomer(overrides: Partial<CustomerRecord> = {}): CustomerRecord {
  return {
    id: "cus_1",
    productCode: "pca1234567890abcdefghijkl",
    identity: {
      productCode: "pca1234567890abcdefghijkl",
      customerAWSAccountId: "123456789012",
      licenseArn: "arn:aws:license-manager::294406891311:license:l-0123456789abcdef0123456789abcdef",
    },
    customerAWSAccountId: "123456789012",
    licenseArn: "arn:aws:license-manager::294406891311:license:l-0123456789abcdef0123456789abcdef",
    status: "active",
    statusAt: T0,
    createdAt: T0,
    updatedAt: T0,
    ...overrides,
  };
}

export function sampleRegistration(overrides: Partial<StoredRegistration> = {}): StoredRegistration {
  return {
    id: "reg_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    tokenHash: "h1",
    productCode: "pca1234567890abcdefghijkl",
    identity: {
      productCode: "pca1234567890abcdefghijkl",
      customerAWSAccountId: "123456789012",
      licenseArn: "arn:aws:license-manager::294406891311:license:l-0123456789abcdef0123456789abcdef",
    },
    customerAWSAccountId: "123456789012",
    licenseArn: "arn:aws:license-manager::294406891311:license:l-0123456789abcdef0123456789abcdef",
    freeTrial: false,
    customerId: "cus_1",
    createdAt: T0,
    expiresAt: T0 + 3_600_000,
    ...overrides,
  };
}

/**
 * Registers the directory-store conformance suite.
 *
 * @example
 * import { describe, it } from "vitest";
 * directoryStoreConformance({ name: "sqlite", durable: true, create: () => ({ store: sqliteDirectoryStore({ path }) }) }, { describe, it });
 */
export function directoryStoreConformance(
  target: DirectoryConformanceTarget,
  t: { describe: Describe; it: It },
): void {
  const { describe, it } = t;
  const test = (
    name: string,
    fn: (h: DirectoryConformanceHarness) => Promise<void>,
    opts: { maxSeenEvents?: number } = {},
  ) =>
    it(name, async () => {
      const h = await target.create(opts);
      try {
        await fn(h);
      } finally {
        await h.cleanup?.();
      }
    });
  const sortById = (list: CustomerRecord[]) => [...list].sort((a, b) => a.id.localeCompare(b.id));
  const plain = (v: unknown) => JSON.parse(JSON.stringify(v));

  describe(`directory store conformance: ${target.name}`, () => {
    test("round-trips customer records with every optional field", async ({ store }) => {
      const full = sampleCustomer({
        tenantId: "tenant-1",
        finalWindowEndsAt: T0 + 1,
        finalMeteringAt: T0 + 2,
        notSubscribedAt: T0 + 3,
        agreementId: "agmt-1",
        offerId: "offer-1",
        freeTrial: true,
        entitlements: {
          fetchedAt: T0,
          stale: true,
          items: [
            { productCode: "pca1234567890abcdefghijkl", dimension: "seats", value: 10, expiresAt: T0 + 9 },
            { productCode: "pca1234567890abcdefghijkl", dimension: "tier", value: "gold" },
            { productCode: "pca1234567890abcdefghijkl", dimension: "sso", value: true },
          ],
        },
      });
      const legacy = sampleCustomer({
        id: "cus_2",
        productCode: "pleg1234567890abcdefghijk",
        identity: { productCode: "pleg1234567890abcdefghijk", customerIdentifier: "cust-ABC123" },
        customerIdentifier: "cust-ABC123",
        status: "pending",
      });
      delete (legacy as { licenseArn?: string }).licenseArn;
      delete (legacy as { customerAWSAccountId?: string }).customerAWSAccountId;
      await store.saveCustomer(full);
      await store.saveCustomer(legacy);
      const loaded = sortById(await store.loadCustomers());
      assert.equal(loaded.length, 2);
      assert.deepEqual(plain(loaded[0]), plain(full));
      assert.deepEqual(plain(loaded[1]), plain(legacy));
    });

    test("replaces a record by id and deletes it", async ({ store }) => {
      await store.saveCustomer(sampleCustomer());
      await store.saveCustomer(sampleCustomer({ status: "cancelled", statusAt: T0 + 5, tenantId: "t" }));
      let all = await store.loadCustomers();
      assert.equal(all.length, 1);
      assert.equal(all[0]?.status, "cancelled");
      assert.equal(all[0]?.tenantId, "t");
      await store.deleteCustomer("cus_1");
      await store.deleteCustomer("does-not-exist");
      all = await store.loadCustomers();
      assert.deepEqual(all, []);
    });

    test("stores registrations and finds them by token hash until they expire", async ({ store }) => {
      const reg = sampleRegistration();
      await store.saveRegistration(reg);
      assert.deepEqual(plain(await store.getRegistration(reg.id)), plain(reg));
      assert.equal(await store.getRegistration("reg_missing"), undefined);
      assert.deepEqual(plain(await store.findRegistrationByTokenHash("h1", T0)), plain(reg));
      assert.equal(await store.findRegistrationByTokenHash("h1", reg.expiresAt), undefined);
      assert.equal(await store.findRegistrationByTokenHash("h2", T0), undefined);
    });

    test("a new registration for the same token replaces the old one", async ({ store }) => {
      await store.saveRegistration(sampleRegistration({ id: "reg_old" }));
      await store.saveRegistration(sampleRegistration({ id: "reg_new", createdAt: T0 + 10 }));
      assert.equal((await store.findRegistrationByTokenHash("h1", T0))?.id, "reg_new");
      assert.equal(await store.getRegistration("reg_old"), undefined);
    });

    test("claims a registration once; later claims say linked; expired and unknown ones are refused", async ({
      store,
    }) => {
      await store.saveRegistration(sampleRegistration());
      await store.saveRegistration(sampleRegistration({ id: "reg_exp", tokenHash: "h2", expiresAt: T0 }));
      const first = await store.claimRegistration(sampleRegistration().id, "tenant-a", T0 + 1);
      assert.equal(first.ok, true);
      assert.equal(first.ok && first.registration.tenantId, "tenant-a");
      assert.equal(first.ok && first.registration.linkedAt, T0 + 1);
      const second = await store.claimRegistration(sampleRegistration().id, "tenant-b", T0 + 2);
      assert.equal(!second.ok && second.reason, "linked");
      assert.equal((await store.getRegistration(sampleRegistration().id))?.tenantId, "tenant-a");
      const expired = await store.claimRegistration("reg_exp", "tenant-a", T0 + 1);
      assert.equal(!expired.ok && expired.reason, "expired");
      assert.deepEqual(await store.claimRegistration("nope", "tenant-a", T0), {
        ok: false,
        reason: "not-found",
      });
    });

    test("concurrent claims of one registration have exactly one winner", async ({ store }) => {
      await store.saveRegistration(sampleRegistration());
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          Promise.resolve(store.claimRegistration(sampleRegistration().id, `t${i}`, T0)),
        ),
      );
      assert.equal(results.filter((r) => r.ok).length, 1);
    });

    test("deletes expired registrations", async ({ store }) => {
      await store.saveRegistration(sampleRegistration({ id: "r1", tokenHash: "a", expiresAt: T0 }));
      await store.saveRegistration(sampleRegistration({ id: "r2", tokenHash: "b", expiresAt: T0 + 10 }));
      assert.equal(await store.deleteExpiredRegistrations(T0 + 1), 1);
      assert.equal(await store.getRegistration("r1"), undefined);
      assert.notEqual(await store.getRegistration("r2"), undefined);
    });

    test(
      "keeps a bounded seen-set of notification ids",
      async ({ store }) => {
        assert.equal(await store.markEventSeen("e1", T0), true);
        assert.equal(await store.markEventSeen("e1", T0 + 1), false);
        await store.forgetEvent("e1");
        assert.equal(await store.markEventSeen("e1", T0 + 2), true);
        for (const id of ["e2", "e3", "e4"]) assert.equal(await store.markEventSeen(id, T0 + 3), true);
        // e1 is the oldest and fell out; the newest three are still remembered.
        assert.equal(await store.markEventSeen("e4", T0 + 4), false);
        assert.equal(await store.markEventSeen("e3", T0 + 4), false);
        assert.equal(await store.markEventSeen("e1", T0 + 4), true);
      },
      { maxSeenEvents: 3 },
    );

    test("hasSeenEvent reads the seen-set without adding to it", async ({ store }) => {
      if (!store.hasSeenEvent) return;
      assert.equal(await store.hasSeenEvent("e1"), false);
      assert.equal(await store.hasSeenEvent("e1"), false);
      assert.equal(await store.markEventSeen("e1", T0), true);
      assert.equal(await store.hasSeenEvent("e1"), true);
      await store.forgetEvent("e1");
      assert.equal(await store.hasSeenEvent("e1"), false);
    });

    test("a Directory over the store answers lookups and sees records after a fresh load", async ({
      store,
    }) => {
      const dir = new Directory(store);
      await dir.ready();
      await dir.save(sampleCustomer({ tenantId: "tenant-1", agreementId: "agmt-1" }));
      const again = new Directory(store);
      await again.ready();
      assert.deepEqual(
        again.getByTenant("tenant-1").map((r) => r.id),
        ["cus_1"],
      );
      assert.equal(again.findByAgreement("agmt-1")?.id, "cus_1");
      assert.equal(
        again.findByLicense("aws:license-manager:us-east-1:1:l-0123456789abcdef0123456789abcdef")?.id,
        "cus_1",
      );
      dir.close();
      again.close();
    });

    test("a versioned write applies only on top of the version it was based on", async ({ store }) => {
      const v = (version: number, overrides: Partial<CustomerRecord> = {}) =>
        sampleCustomer({ ...overrides, version });
      assert.notEqual(await store.saveCustomer(v(2)), true, "no stored record is version 1");
      assert.deepEqual(await store.loadCustomers(), []);
      assert.equal(await store.saveCustomer(v(1)), true);
      assert.equal(await store.saveCustomer(v(1, { tenantId: "late" })), false);
      assert.equal(
        await store.saveCustomer(v(2, { status: "cancelled", statusAt: T0 + 5, tenantId: "t" })),
        true,
      );
      // A copy read at version 1 cannot undo the cancellation.
      assert.equal(await store.saveCustomer(v(2, { status: "active", statusAt: T0 })), false);
      const all = await store.loadCustomers();
      assert.equal(all.length, 1);
      assert.equal(all[0]?.status, "cancelled");
      assert.equal(all[0]?.version, 2);
      assert.equal(all[0]?.tenantId, "t");
      if (store.getCustomer) {
        assert.equal((await store.getCustomer("cus_1"))?.version, 2);
        assert.equal(await store.getCustomer("cus_missing"), undefined);
      }
      const racing = await Promise.all(
        Array.from({ length: 6 }, (_, i) => Promise.resolve(store.saveCustomer(v(3, { tenantId: `t${i}` })))),
      );
      assert.equal(racing.filter((ok) => ok === true).length, 1);
    });

    test("customersChangedSince returns what changed after a cursor", async ({ store }) => {
      if (!store.customersChangedSince) return;
      const first = await store.customersChangedSince(undefined);
      assert.deepEqual(first.records, []);
      await store.saveCustomer(sampleCustomer({ version: 1 }));
      await store.saveCustomer(sampleCustomer({ id: "cus_2", version: 1 }));
      const second = await store.customersChangedSince(first.cursor);
      assert.deepEqual(second.records.map((r) => r.id).sort(), ["cus_1", "cus_2"]);
      await store.saveCustomer(sampleCustomer({ id: "cus_2", version: 2, tenantId: "t" }));
      const third = await store.customersChangedSince(second.cursor);
      assert.deepEqual(
        third.records.map((r) => [r.id, r.tenantId]),
        [["cus_2", "t"]],
      );
      const none = await store.customersChangedSince(third.cursor);
      assert.deepEqual(none.records, []);
    });

    const instances = (
      name: string,
      fn: (a: Directory, b: Directory, h: DirectoryConformanceHarness) => Promise<void>,
      options: { refreshIntervalMs?: number } = {},
    ) =>
      test(name, async (h) => {
        if (!h.share) return;
        const a = new Directory(h.store, { refreshIntervalMs: 0, minRefreshGapMs: 0 });
        const b = new Directory(await h.share(), {
          refreshIntervalMs: options.refreshIntervalMs ?? 0,
          minRefreshGapMs: 0,
        });
        try {
          await Promise.all([a.ready(), b.ready()]);
          await fn(a, b, h);
        } finally {
          a.close();
          b.close();
        }
      });

    instances("a second instance sees new, changed and removed records after refresh()", async (a, b) => {
      await a.save(sampleCustomer({ tenantId: "tenant-1" }));
      assert.equal(b.getByTenant("tenant-1").length, 0);
      await b.refresh();
      assert.equal(b.getByTenant("tenant-1")[0]?.status, "active");
      const current = a.get("cus_1") as CustomerRecord;
      await a.save({ ...current, status: "cancelled", statusAt: T0 + 10 });
      await b.refresh();
      assert.equal(b.getByTenant("tenant-1")[0]?.status, "cancelled");
      // Deletions need not be in incremental changes; a full load drops them.
      await a.remove("cus_1");
      await b.reload();
      assert.equal(b.get("cus_1"), undefined);
    });

    instances(
      "the periodic refresh brings another instance's changes without a call",
      async (a, b) => {
        await a.save(sampleCustomer({ tenantId: "tenant-1" }));
        await until(() => b.getByTenant("tenant-1").length === 1);
      },
      { refreshIntervalMs: 10 },
    );

    instances("a write from a stale copy never undoes another instance's newer status", async (a, b) => {
      await a.save(sampleCustomer());
      await b.refresh();
      const stale = b.get("cus_1") as CustomerRecord;
      const fresh = a.get("cus_1") as CustomerRecord;
      await a.save({ ...fresh, status: "cancelled", statusAt: T0 + 10, updatedAt: T0 + 10 });
      // B still holds the active copy and changes an unrelated field from it.
      await b.save({ ...stale, tenantId: "tenant-b", updatedAt: T0 + 11 });
      const stored = (await loadAll(b.store)).find((r) => r.id === "cus_1");
      assert.equal(stored?.status, "cancelled");
      assert.equal(stored?.statusAt, T0 + 10);
      assert.equal(stored?.tenantId, "tenant-b");
      assert.equal(b.get("cus_1")?.status, "cancelled");
      // A's next write starts from its own copy, which lacks B's tenant: the tenant survives it.
      await a.save({ ...(a.get("cus_1") as CustomerRecord), finalMeteringAt: T0 + 12 });
      const last = (await loadAll(a.store)).find((r) => r.id === "cus_1");
      assert.equal(last?.tenantId, "tenant-b");
      assert.equal(last?.finalMeteringAt, T0 + 12);
      assert.equal(last?.status, "cancelled");
    });

    instances("a newer lifecycle change from a stale copy wins over an older one", async (a, b) => {
      await a.save(sampleCustomer({ status: "pending" }));
      await b.refresh();
      const stale = b.get("cus_1") as CustomerRecord;
      await a.save({ ...(a.get("cus_1") as CustomerRecord), notSubscribedAt: T0 + 1 });
      await b.save({ ...stale, status: "cancelled", statusAt: T0 + 20 });
      const stored = (await loadAll(a.store)).find((r) => r.id === "cus_1");
      assert.equal(stored?.status, "cancelled");
      assert.equal(stored?.statusAt, T0 + 20);
    });

    const buyersOn = (
      name: string,
      fn: (a: Buyers, b: Buyers, clock: { now: number }) => Promise<void>,
      refreshMs: number,
    ) =>
      test(name, async (h) => {
        if (!h.share) return;
        const clock = { now: T0 + 1000 };
        const make = (store: DirectoryStore, directoryRefreshMs: number) =>
          createBuyers({
            products: [PRODUCT],
            // Never called: these buyers come from events and a stored registration.
            aws: {
              region: "us-east-1",
              endpoint: "http://127.0.0.1:9",
              credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
            },
            directory: store,
            directoryRefreshMs,
            clock: () => clock.now,
            access: { finalWindowMs: 3_600_000, finalWindowLeadMs: 0 },
          });
        const a = make(h.store, 0);
        const b = make(await h.share(), refreshMs);
        try {
          await Promise.all([a.ready(), b.ready()]);
          await fn(a, b, clock);
        } finally {
          await Promise.all([a.close(), b.close()]);
        }
      });

    /** A buyer activated by an event on `a` and linked to tenant-1 there. */
    const activeBuyer = async (a: Buyers, store: DirectoryStore) => {
      await a.handleEventBridge(sampleLicenseEvent("License Updated - Manufacturer", T0));
      const record = a.directory.findByLicense(LICENSE) as CustomerRecord;
      await store.saveRegistration(sampleRegistration({ customerId: record.id }));
      await a.link(sampleRegistration().id, "tenant-1");
      assert.equal(a.access({ tenantId: "tenant-1" }).allowed, true);
    };

    buyersOn(
      "buyers: a tenant linked on one instance is allowed on another, at once through the access guard",
      async (a, b) => {
        const guard = createGuard(b, { getCustomer: () => "tenant-1" });
        assert.equal(b.access({ tenantId: "tenant-1" }).allowed, false);
        await activeBuyer(a, a.directory.store);
        assert.equal((await guard([])).allowed, true);
        await until(() => b.access({ tenantId: "tenant-1" }).allowed);
      },
      10,
    );

    buyersOn(
      "buyers: a cancellation processed on one instance denies on the other within the refresh interval",
      async (a, b, clock) => {
        await activeBuyer(a, a.directory.store);
        await b.directory.refresh();
        assert.equal(b.access({ tenantId: "tenant-1" }).allowed, true);
        await a.handleEventBridge(sampleLicenseEvent("License Deprovisioned - Manufacturer", T0 + 500));
        clock.now += 3_600_000;
        await until(() => !b.access({ tenantId: "tenant-1" }).allowed);
        const denied = b.access({ tenantId: "tenant-1" });
        assert.equal(!denied.allowed && denied.reason, "cancelled");
      },
      10,
    );

    buyersOn(
      "buyers: an instance writing from its stale copy does not undo another's newer status",
      async (a, b) => {
        await activeBuyer(a, a.directory.store);
        await b.directory.refresh();
        await a.handleEventBridge(sampleLicenseEvent("License Deprovisioned - Manufacturer", T0 + 500));
        // B has not refreshed: it marks the buyer on its active copy.
        b.noteNotSubscribed(b.directory.findByLicense(LICENSE)?.identity as Identity, { at: T0 + 600 });
        await b.directory.settled();
        const [stored] = await a.directory.store.loadCustomers();
        assert.equal(stored?.status, "unsubscribe-pending");
        assert.equal(stored?.tenantId, "tenant-1");
        assert.equal(b.directory.findByLicense(LICENSE)?.status, "unsubscribe-pending");
      },
      0,
    );

    buyersOn(
      "buyers: an event for a buyer another instance created updates that record, not a second one",
      async (a, b) => {
        await activeBuyer(a, a.directory.store);
        await b.handleEventBridge(sampleLicenseEvent("License Deprovisioned - Manufacturer", T0 + 500));
        const stored = await a.directory.store.loadCustomers();
        assert.deepEqual(
          stored.map((r) => [r.status, r.tenantId]),
          [["unsubscribe-pending", "tenant-1"]],
        );
      },
      0,
    );

    // Only durable stores promise this; the memory store starts empty by design.
    if (!target.durable) return;
    test("keeps customers, registrations and the seen-set across a reopen", async (h) => {
      if (!h.reopen) throw new Error("a durable store's harness must provide reopen()");
      await h.store.saveCustomer(sampleCustomer());
      await h.store.saveRegistration(sampleRegistration());
      await h.store.markEventSeen("sns:m1", T0);
      const store = await h.reopen();
      assert.deepEqual(plain(await store.loadCustomers()), [plain(sampleCustomer())]);
      assert.deepEqual(
        plain(await store.getRegistration(sampleRegistration().id)),
        plain(sampleRegistration()),
      );
      if (store.hasSeenEvent) assert.equal(await store.hasSeenEvent("sns:m1"), true);
      assert.equal(await store.markEventSeen("sns:m1", T0), false);
    });
  });
}
