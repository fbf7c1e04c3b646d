/**
 * The behaviour every {@link DirectoryStore} must have. Framework-neutral like the usage-store suite:
 * pass your test runner's `describe` and `it`; assertions use `node:assert/strict`. Core runs it against
 * the memory store and `@marketmeter/sqlite` against its SQLite store, so both stay interchangeable.
 */
import assert from "node:assert/strict";
import { Directory } from "./directory.js";
import type { CustomerRecord, DirectoryStore, StoredRegistration } from "./types.js";

export interface DirectoryConformanceHarness {
  store: DirectoryStore;
  /** Durable stores: closes the store and opens a new one on the same data. */
  reopen?: () => Promise<DirectoryStore> | DirectoryStore;
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
    });

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
