/**
 * The behaviour every marketmeter web-framework adapter must show, as vitest scenarios that run against
 * a real app on 127.0.0.1:0, a real marketplace, and a real emulator reached over HTTP by the AWS SDK.
 *
 * An adapter test supplies `start(hooks)`, which builds this app with the adapter's own API:
 *
 * | route | middleware | answer |
 * | --- | --- | --- |
 * | (global) | `meterUsage(marketplace, { getCustomer, dimension: "api_calls", onError })` | |
 * | `GET /hello` | | 200 `hello` (text) |
 * | `GET /status/:code` | | `:code`, text `status :code` |
 * | `GET /throw` | | the handler throws (the framework's own 500) |
 * | `POST /upload` | `meter("gb_stored", from the request: Number(header x-units))` | 201 `stored` |
 * | `GET /rows?n=N` | `meter("api_calls", from the response: Number(response header x-rows))` | 200 JSON array of N rows, header `x-rows: N` |
 * | `GET /free` | `skipMetering()` | 200 `free` |
 * | `GET /twice` | a second `meterUsage(...)` with the same options | 200 `twice` |
 * | `GET /manual` | `skipMetering()`; the handler records `{ dimension: "gb_stored", quantity: 7 }` for `await hooks.customer(x-customer)` through the adapter's accessor | 200 `manual` |
 * | `/marketplace/register` (every method: `app.all`, `router.all`, …) | `registrationHandler(marketplace, { signUpUrl: "/signup?from=aws" })` | |
 * | `POST /marketplace/events` | `eventBridgeHandler(marketplace)` | |
 * | `POST /marketplace/sns` | `snsHandler(marketplace)` | |
 * | `GET /paid` | `requireSubscription(marketplace, { getCustomer })` | 200 JSON `{ tenantId }` from the adapter's subscription accessor |
 * | `GET /paid-open` | `requireSubscription(marketplace, { getCustomer, failOpen: true })` | 200 JSON `{ tenantId }` |
 * | `GET /usage` | `usagePageHandler(marketplace, { authorize: (request) => header x-admin === ADMIN_TOKEN })` | |
 * | `GET /usage-local` | `usagePageHandler(marketplace, { localOnly: true })` | |
 * | `GET /my-usage` | `buyerUsageHandler(marketplace, { getCustomer })` | |
 *
 * `getCustomer` is always `(request) => hooks.customer(<the x-customer request header>)`. With
 * `hooks.errorHandler`, the app also has an error handler of its own that answers with what it returns.
 */
process.env.AWS_EC2_METADATA_DISABLED = "true";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

import type { Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type CustomerRef, createMarketplace, type Marketplace } from "@marketmeter/core";
import * as http from "@marketmeter/core/http";
import { DEMO, demoConfig, type Emulator, startEmulator } from "@marketmeter/emulator";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";

export { DEMO };

/** What the app under test gets from the suite. */
export interface ConformanceHooks {
  marketplace: Marketplace;
  /** Maps the `x-customer` header to what `getCustomer` returns; "throw" throws and "reject" rejects. */
  customer(header: string | undefined): CustomerRef | Promise<CustomerRef>;
  /** The `onError` of every `meterUsage` in the app. */
  onMeterError(error: unknown): void;
  /**
   * When set, the app has an error handler of its own (Express: a four-argument middleware after the
   * routes; Koa: a first middleware that catches; Hono: `app.onError`) that passes every error here and
   * answers with the returned status and text. When unset, the app has none.
   */
  errorHandler?: (error: unknown) => { status: number; body: string };
}

/** A running app. */
export interface ConformanceApp {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  url: string;
  close(): Promise<void>;
}

/** An adapter (and framework version) under test. */
export interface AdapterUnderTest {
  /** Shown in test names, e.g. "express 5". */
  name: string;
  start(hooks: ConformanceHooks): Promise<ConformanceApp>;
  /** The app honours `hooks.errorHandler`, so refusals through the error channel are checked. */
  errorChannel?: boolean;
  /** The app mounts `GET /usage-local` (false where one app can mount only one usage page, as in Nest). @default true */
  usageLocal?: boolean;
}

const H = 3_600_000;
const credentials = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" };
const SECRET = "conformance-webhook-secret-0123";
/** The `x-customer` of the suite's own probe requests (anonymous: never billed). */
const SENTINEL = "sentinel";
const CA1 = Object.freeze({ productCode: DEMO.P_CA, customerAWSAccountId: DEMO.A1, licenseArn: DEMO.L1 });
const CA2 = Object.freeze({ productCode: DEMO.P_CA, customerAWSAccountId: DEMO.A1, licenseArn: DEMO.L2 });
const LEG = Object.freeze({ productCode: DEMO.P_L, customerIdentifier: DEMO.C1 });
const IDENTITIES: Readonly<Record<string, CustomerRef>> = { ca1: CA1, ca2: CA2, leg: LEG };

/** The `x-admin` header value the conformance app's `authorize` of `/usage` accepts. */
export const ADMIN_TOKEN = "conformance-admin-token";

/** The billing identity the adapters' own tests meter (a Concurrent Agreements buyer of `DEMO.P_CA`). */
export const TEST_IDENTITY = Object.freeze({ customerAWSAccountId: DEMO.A1, licenseArn: DEMO.L2 });

/**
 * A dry-run marketplace (memory store, timers off) on `DEMO.P_CA` with the dimensions `api_calls` and
 * `tokens`, for adapter tests that count what was recorded; `close` it when done.
 */
export function dryRunMarketplace(): Marketplace {
  return createMarketplace({
    products: [{ productCode: DEMO.P_CA }],
    dimensions: ["api_calls", "tokens"],
    dryRun: true,
    autoStart: false,
    aws: {
      region: "us-east-1",
      endpoint: "http://127.0.0.1:9",
      credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
    },
  });
}

/**
 * Units recorded per dimension so far. Recording happens when a response finishes on the server, which
 * can be after the client has read it: call it after `settled()` of {@link listenOnLoopback} (or use
 * `units` of {@link testResources}).
 */
export async function unitsByDimension(m: Marketplace): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const g of await m.report()) out[g.dimension] = (out[g.dimension] ?? 0) + g.quantity;
  return out;
}

/**
 * Starts an app (anything with Node's `listen`) on 127.0.0.1:0: its URL, a way to stop it, and
 * `settled()`, which resolves once every response it has started has closed (so its finish listeners,
 * where metering records, have run) and the promises they started have had their turn.
 */
export async function listenOnLoopback(app: {
  listen(port: number, host: string): Server;
}): Promise<{ url: string; close(): Promise<void>; settled(): Promise<void> }> {
  const server = app.listen(0, "127.0.0.1");
  const open = new Set<Promise<void>>();
  server.on("request", (_req, res: ServerResponse) => {
    const closed = new Promise<void>((resolve) => res.once("close", () => resolve()));
    open.add(closed);
    void closed.then(() => open.delete(closed));
  });
  await new Promise((r) => server.once("listening", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async settled() {
      while (open.size > 0) await Promise.all(open);
      await new Promise((r) => setImmediate(r));
    },
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

/**
 * What one test file opens (dry-run marketplaces, loopback servers), closed together by `closeAll`: call
 * it in `afterEach`.
 */
export function testResources(): {
  marketplace(): Marketplace;
  serve(app: Parameters<typeof listenOnLoopback>[0]): Promise<string>;
  /** Units recorded per dimension once every response of the served apps has finished. */
  units(m: Marketplace): Promise<Record<string, number>>;
  closeAll(): Promise<void>;
} {
  const open: Array<() => Promise<void>> = [];
  const servers: Array<() => Promise<void>> = [];
  return {
    marketplace() {
      const m = dryRunMarketplace();
      open.push(() => m.close());
      return m;
    },
    async serve(app) {
      const { url, close, settled } = await listenOnLoopback(app);
      open.push(close);
      servers.push(settled);
      return url;
    },
    async units(m) {
      for (const settled of servers) await settled();
      return unitsByDimension(m);
    },
    async closeAll() {
      servers.length = 0;
      for (const close of open.splice(0)) await close();
    },
  };
}

/** The `getCustomer` every conformance app uses, keyed by the `x-customer` header. */
export function customerFromHeader(header: string | undefined): CustomerRef | Promise<CustomerRef> {
  if (header === undefined || header === "") return undefined;
  if (header === "throw") throw new Error("getCustomer failed (conformance)");
  if (header === "reject") return Promise.reject(new Error("getCustomer rejected (conformance)"));
  if (header.startsWith("async:")) return Promise.resolve(customerFromHeader(header.slice(6)));
  if (header.startsWith("tenant:")) return { tenantId: header.slice(7) };
  return IDENTITIES[header];
}

interface Bed {
  emu: Emulator;
  now: number;
}

/**
 * Registers the conformance scenarios for one adapter.
 *
 * @example
 * describeAdapterConformance({ name: "express 5", start: (hooks) => startExpressApp(express, hooks) })
 */
export function describeAdapterConformance(adapter: AdapterUnderTest): void {
  describe(`adapter conformance: ${adapter.name}`, () => {
    const bed: Bed = { emu: undefined as unknown as Emulator, now: Date.parse(DEMO.now) };
    let marketplace: Marketplace<"api_calls" | "gb_stored">;
    let app: ConformanceApp;
    let meterErrors: unknown[] = [];
    const extra: Array<{ app: ConformanceApp; marketplace: Marketplace }> = [];

    const setClock = (t: number) => {
      bed.now = t;
      bed.emu.clock.set(t, { freeze: true });
    };
    const makeMarketplace = (aws: { endpoint: string }) =>
      createMarketplace({
        products: [{ productCode: DEMO.P_CA }, { productCode: DEMO.P_L }],
        dimensions: ["api_calls", "gb_stored"] as const,
        aws: { region: "us-east-1", credentials, maxAttempts: 1, requestTimeoutMs: 2000, ...aws },
        clock: () => bed.now,
        autoStart: false,
        retry: { baseDelayMs: 10, maxDelayMs: 100 },
        buyers: {
          sns: { trustedCertificateOrigins: [bed.emu.endpoint], autoConfirm: true },
          eventBridge: { secret: SECRET },
        },
      });
    // Anonymous requests whose getCustomer call proves that the app has finished every earlier response.
    const sentinels = { seen: 0 };
    const hooksFor = (m: Marketplace): ConformanceHooks => ({
      marketplace: m,
      customer: (header) => {
        if (header !== SENTINEL) return customerFromHeader(header);
        sentinels.seen++;
        return undefined;
      },
      onMeterError: (e) => meterErrors.push(e),
    });

    beforeAll(async () => {
      bed.emu = await startEmulator({ port: 0, config: demoConfig({ frozen: true }), seed: 11 });
    });
    afterAll(async () => {
      await bed.emu.close();
    });
    beforeEach(async () => {
      bed.emu.reset();
      setClock(Date.parse(DEMO.now));
      meterErrors = [];
      marketplace = makeMarketplace({ endpoint: bed.emu.endpoint });
      app = await adapter.start(hooksFor(marketplace));
      bed.emu.setWebhooks({
        eventBridge: [{ url: `${app.url}/marketplace/events`, secret: SECRET }],
        sns: [{ url: `${app.url}/marketplace/sns` }],
      });
    });
    afterEach(async () => {
      bed.emu.setWebhooks({});
      for (const x of [{ app, marketplace }, ...extra.splice(0)]) {
        await x.app.close();
        await x.marketplace.close().catch(() => {});
      }
    });

    const get = (path: string, customer?: string, init: RequestInit = {}, base = app.url) =>
      fetch(`${base}${path}`, {
        redirect: "manual",
        ...init,
        headers: {
          ...(customer !== undefined ? { "x-customer": customer } : {}),
          ...(init.headers as Record<string, string>),
        },
      });
    const text = async (path: string, customer?: string, init?: RequestInit, base?: string) => {
      const res = await get(path, customer, init, base);
      return { status: res.status, type: res.headers.get("content-type"), body: await res.text() };
    };
    /**
     * Waits until the finish listeners have recorded `n` events, then proves no stray record follows: a
     * later anonymous request reaches getCustomer only once the app has finished it, and by then every
     * earlier response has finished too.
     */
    const recorded = async (n: number, m: Marketplace = marketplace, base = app.url) => {
      await vi.waitFor(() => expect(m.stats().records).toBe(n), { timeout: 5000, interval: 5 });
      const before = sentinels.seen;
      expect((await text("/hello", SENTINEL, undefined, base)).status).toBe(200);
      await vi.waitFor(() => expect(sentinels.seen).toBe(before + 1), { timeout: 5000, interval: 5 });
      expect(m.stats().records).toBe(n);
    };
    /** Closes the current hour in both clocks and sends it. */
    const closeHour = async () => {
      setClock(bed.now + H);
      await marketplace.flush();
    };
    const billed = (customer: string, dimension: string, hour = DEMO.now) =>
      bed.emu.ledger({ customer, dimension, hour }).reduce((s, r) => s + r.quantity, 0);
    const register = (token: string, accept = "text/html") =>
      get("/marketplace/register", undefined, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", accept },
        body: new URLSearchParams({ "x-amzn-marketplace-token": token }).toString(),
      });
    const registerAndLink = async (token: string, tenantId: string) => {
      const res = await register(token);
      expect(res.status).toBe(303);
      const id = new URL(res.headers.get("location") as string, app.url).searchParams.get(
        "registration",
      ) as string;
      return marketplace.link(id, tenantId);
    };

    it("N requests from several customers become exactly N units per customer, dimension and hour", async () => {
      const plan: Array<[string, number]> = [
        ["ca1", 5],
        ["ca2", 3],
        ["leg", 2],
        ["async:ca2", 2],
      ];
      const responses = await Promise.all(
        plan.flatMap(([c, n]) => Array.from({ length: n }, () => text("/hello", c))),
      );
      for (const r of responses) expect(r).toMatchObject({ status: 200, body: "hello" });
      await recorded(12);
      await closeHour();
      expect(billed(DEMO.L1, "api_calls")).toBe(5);
      expect(billed(DEMO.L2, "api_calls")).toBe(5);
      expect(billed(DEMO.C1, "api_calls")).toBe(2);
      expect(bed.emu.ledger()).toHaveLength(3);
      expect(meterErrors).toEqual([]);
    });

    it("4xx and 5xx responses are not billed", async () => {
      for (const code of [400, 401, 404, 409, 500, 503])
        expect((await text(`/status/${code}`, "ca1")).status).toBe(code);
      expect((await text("/throw", "ca1")).status).toBe(500);
      expect((await text("/no-such-route", "ca1")).status).toBe(404);
      expect((await text("/status/201", "ca1")).status).toBe(201);
      expect((await text("/status/302", "ca1")).status).toBe(302);
      await recorded(2);
      await closeHour();
      expect(billed(DEMO.L1, "api_calls")).toBe(2);
    });

    it("per-route dimensions and quantities computed from the request and from the response", async () => {
      const up = (units: number) =>
        text("/upload", "ca1", { method: "POST", headers: { "x-units": String(units) }, body: "x" });
      expect(await up(40)).toMatchObject({ status: 201, body: "stored" });
      expect(await up(2)).toMatchObject({ status: 201 });
      const rows = await get("/rows?n=3", "ca2");
      expect(rows.headers.get("x-rows")).toBe("3");
      expect(await rows.json()).toHaveLength(3);
      await text("/rows?n=4", "ca2");
      await recorded(4);
      await closeHour();
      expect(billed(DEMO.L1, "gb_stored")).toBe(42);
      expect(billed(DEMO.L1, "api_calls")).toBe(0);
      expect(billed(DEMO.L2, "api_calls")).toBe(7);
    });

    it("skipMetering() leaves a route unbilled; anonymous requests are not metered", async () => {
      for (let i = 0; i < 3; i++)
        expect(await text("/free", "ca1")).toMatchObject({ status: 200, body: "free" });
      expect(await text("/hello")).toMatchObject({ status: 200, body: "hello" });
      await text("/hello", "ca1");
      await recorded(1);
      await closeHour();
      expect(bed.emu.ledger()).toHaveLength(1);
      expect(billed(DEMO.L1, "api_calls")).toBe(1);
    });

    it("metering mounted twice records once", async () => {
      for (let i = 0; i < 4; i++)
        expect(await text("/twice", "ca1")).toMatchObject({ status: 200, body: "twice" });
      await recorded(4);
      await closeHour();
      expect(billed(DEMO.L1, "api_calls")).toBe(4);
    });

    it("a handler records usage by hand through the adapter's accessor", async () => {
      expect(await text("/manual", "ca2")).toMatchObject({ status: 200, body: "manual" });
      await recorded(1);
      await closeHour();
      expect(billed(DEMO.L2, "gb_stored")).toBe(7);
      expect(billed(DEMO.L2, "api_calls")).toBe(0);
    });

    it("getCustomer throwing or rejecting leaves the response untouched and reports the error", async () => {
      const base = await text("/hello", "ca1");
      expect(await text("/hello", "throw")).toEqual(base);
      expect(await text("/hello", "reject")).toEqual(base);
      expect(await text("/rows?n=2", "throw")).toMatchObject({ status: 200 });
      await vi.waitFor(() => expect(meterErrors).toHaveLength(3), { timeout: 5000, interval: 5 });
      for (const e of meterErrors)
        expect(String((e as Error).message)).toMatch(/getCustomer (failed|rejected)/);
      await recorded(1);
    });

    it("metering failures (AWS throttling, AWS down) never change responses", async () => {
      const probe = async (base?: string) => [
        await text("/hello", "ca1", undefined, base),
        await text("/status/404", "ca1", undefined, base),
        await text("/rows?n=2", "ca2", undefined, base),
        await text("/upload", "leg", { method: "POST", headers: { "x-units": "5" }, body: "x" }, base),
      ];
      const baseline = await probe();
      await recorded(3);
      bed.emu.setFaults({ BatchMeterUsage: { throttle: { probability: 1 } } });
      setClock(bed.now + H);
      const sending = marketplace.flush();
      expect(await probe()).toEqual(baseline);
      await sending;
      expect(bed.emu.ledger()).toHaveLength(0);
      expect(marketplace.stats().throttled).toBeGreaterThan(0);
      expect(await probe()).toEqual(baseline);

      // AWS unreachable: nothing listens on the endpoint.
      const down = makeMarketplace({ endpoint: "http://127.0.0.1:9" });
      const downApp = await adapter.start(hooksFor(down));
      extra.push({ app: downApp, marketplace: down });
      const first = await probe(downApp.url);
      expect(first).toEqual(baseline);
      await recorded(3, down, downApp.url);
      setClock(bed.now + H);
      const failing = down.flush();
      expect(await probe(downApp.url)).toEqual(baseline);
      await failing;
      expect(down.stats().callErrors + down.stats().retries).toBeGreaterThan(0);
    });

    it("registration end to end: token → 303 with the registration id → link", async () => {
      const token = bed.emu.mintToken({ licenseArn: DEMO.L1 });
      const res = await register(token);
      expect(res.status).toBe(303);
      const location = res.headers.get("location") as string;
      expect(location).toMatch(/^\/signup\?from=aws&registration=reg_[A-Za-z0-9_-]{32}$/);
      const id = new URL(location, app.url).searchParams.get("registration") as string;
      const again = await register(token, "application/json");
      expect(again.status).toBe(303);
      expect(await again.json()).toMatchObject({ registrationId: id });
      const record = await marketplace.link(id, "tenant-1");
      expect(record).toMatchObject({ tenantId: "tenant-1", licenseArn: DEMO.L1 });
    });

    it("the fulfillment URL refuses a token sent by GET (405, Allow: POST) without resolving it", async () => {
      const token = bed.emu.mintToken({ licenseArn: DEMO.L1 });
      const query = new URLSearchParams({ "x-amzn-marketplace-token": token }).toString();
      const res = await get(`/marketplace/register?${query}`, undefined, {
        headers: { accept: "application/json" },
      });
      expect(res.status).toBe(405);
      expect(res.headers.get("allow")).toBe("POST");
      expect(res.headers.get("content-type")).toMatch(/^application\/problem\+json/);
      expect(await res.json()).toMatchObject({ status: 405, code: "INVALID_REQUEST" });
      expect(bed.emu.calls().filter((c) => c.operation === "ResolveCustomer")).toHaveLength(0);
      // A token in the query string of a POST is not read either.
      const posted = await get(`/marketplace/register?${query}`, undefined, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
        body: "other=1",
      });
      expect(posted.status).toBe(400);
      expect(await posted.json()).toMatchObject({ code: "INVALID_TOKEN" });
      expect(bed.emu.calls().filter((c) => c.operation === "ResolveCustomer")).toHaveLength(0);
      expect((await register(token)).status).toBe(303);
    });

    it("bad, expired or malformed registrations get a readable page or problem JSON", async () => {
      const bad = await register("bm90LWEtcmVhbC10b2tlbg==");
      expect(bad.status).toBe(400);
      expect(bad.headers.get("content-type")).toMatch(/^text\/html/);
      const page = await bad.text();
      expect(page).toContain("<h1>");
      expect(page).toContain("INVALID_TOKEN");

      const expired = await register(DEMO.T_OLD, "application/json");
      expect(expired.status).toBe(400);
      expect(expired.headers.get("content-type")).toMatch(/^application\/problem\+json/);
      expect(await expired.json()).toMatchObject({
        status: 400,
        code: "EXPIRED_TOKEN",
        title: "Bad Request",
      });

      const missing = await get("/marketplace/register", undefined, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
        body: "other=1",
      });
      expect(missing.status).toBe(400);
      expect(await missing.json()).toMatchObject({ code: "INVALID_TOKEN" });

      const json = await get("/marketplace/register", undefined, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({ "x-amzn-marketplace-token": "abc" }),
      });
      expect(json.status).toBe(415);

      const huge = await get("/marketplace/register", undefined, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
        body: `x-amzn-marketplace-token=${"a".repeat(20_000)}`,
      });
      expect(huge.status).toBe(413);
      expect(await huge.json()).toMatchObject({ status: 413 });
    });

    it("the EventBridge route refuses requests without the shared secret", async () => {
      const res = await get("/marketplace/events", undefined, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      expect(res.status).toBe(401);
      expect(res.headers.get("content-type")).toMatch(/^application\/problem\+json/);
      expect(await res.json()).toMatchObject({ status: 401, code: "UNAUTHORIZED" });
    });

    it("EventBridge: activation, usage, cancellation → final hour billed at once → 402 after the final window", async () => {
      const token = bed.emu.mintToken({ licenseArn: DEMO.L3 });
      await registerAndLink(token, "tenant-3");
      const pending = await get("/paid", "tenant:tenant-3");
      expect(pending.status).toBe(403);
      expect(await pending.json()).toMatchObject({ status: 403, reason: "pending" });

      await bed.emu.subscribe({ licenseArn: DEMO.L3 });
      const ok = await get("/paid", "tenant:tenant-3");
      expect(ok.status).toBe(200);
      expect(await ok.json()).toEqual({ tenantId: "tenant-3" });

      for (let i = 0; i < 4; i++) await text("/hello", "tenant:tenant-3");
      // The 200 from /paid is billed too (it passed the global metering); the 403 was not.
      await recorded(5);
      await bed.emu.unsubscribe({ licenseArn: DEMO.L3 });
      // Final metering ran inside the webhook: the open hour is billed without waiting for it to close.
      await vi.waitFor(() => expect(billed(DEMO.L3, "api_calls")).toBe(5), { timeout: 5000, interval: 10 });
      expect((await get("/paid", "tenant:tenant-3")).status).toBe(200);

      setClock(bed.now + H + 60_000);
      const denied = await get("/paid", "tenant:tenant-3");
      expect(denied.status).toBe(402);
      expect(denied.headers.get("content-type")).toMatch(/^application\/problem\+json/);
      expect(await denied.json()).toMatchObject({ status: 402, reason: "cancelled", instance: "/paid" });
    });

    it("SNS: subscribe-success, usage, unsubscribe-pending → final hour billed → 402 after unsubscribe-success", async () => {
      const token = bed.emu.mintToken({ customerIdentifier: DEMO.C1 });
      await registerAndLink(token, "tenant-c1");
      await bed.emu.subscribe({ customerIdentifier: DEMO.C1 });
      expect((await get("/paid", "tenant:tenant-c1")).status).toBe(200);
      await text("/hello", "tenant:tenant-c1");
      await text("/hello", "tenant:tenant-c1");
      await recorded(3);
      await bed.emu.unsubscribe({ customerIdentifier: DEMO.C1 });
      await vi.waitFor(() => expect(billed(DEMO.C1, "api_calls")).toBe(3), { timeout: 5000, interval: 10 });

      setClock(bed.now + H + 60_000);
      await bed.emu.settle();
      await bed.emu.notifier()?.idle?.();
      const denied = await get("/paid", "tenant:tenant-c1");
      expect(denied.status).toBe(402);
      expect(await denied.json()).toMatchObject({ reason: "cancelled" });
    });

    it.skipIf(!adapter.errorChannel)(
      "refusals (402, 403, 503) reach the app's own error handler with the problem; without one the answer is the problem JSON itself",
      async () => {
        const seen: unknown[] = [];
        const handledApp = await adapter.start({
          ...hooksFor(marketplace),
          errorHandler: (error) => {
            seen.push(error);
            const p = http.problemOf(error)?.problem;
            return p
              ? { status: p.status, body: `restyled ${JSON.stringify(p)}` }
              : { status: 500, body: "app" };
          },
        });
        extra.push({ app: handledApp, marketplace: { close: async () => {} } as Marketplace });
        const both = async (customer: string) => {
          const plain = await get("/paid", customer);
          const handled = await text("/paid", customer, undefined, handledApp.url);
          return { plain, body: await plain.text(), handled };
        };
        const exact = (body: string, reason: string | undefined, kind: string, status: number) => {
          const p = JSON.parse(body) as { detail: string };
          const expected = {
            type: `urn:marketmeter:problem:${kind}`,
            title: http.statusTitle(status),
            status,
          };
          const rest = reason === undefined ? {} : { reason };
          expect(body).toBe(JSON.stringify({ ...expected, detail: p.detail, ...rest, instance: "/paid" }));
        };

        await registerAndLink(bed.emu.mintToken({ licenseArn: DEMO.L3 }), "tenant-3");
        const pending = await both("tenant:tenant-3");
        expect(pending.plain.status).toBe(403);
        expect(pending.plain.headers.get("content-type")).toBe("application/problem+json");
        expect(pending.plain.headers.get("cache-control")).toBe("no-store");
        exact(pending.body, "pending", "subscription-pending", 403);
        expect(pending.handled).toMatchObject({ status: 403, body: `restyled ${pending.body}` });

        await bed.emu.subscribe({ licenseArn: DEMO.L3 });
        const decision = marketplace.access({ tenantId: "tenant-3" });
        if (!decision.allowed) throw new Error(`tenant-3 should be active, is ${decision.reason}`);
        marketplace.buyers.noteNotSubscribed(decision.identity);
        const unpaid = await both("tenant:tenant-3");
        expect(unpaid.plain.status).toBe(402);
        exact(unpaid.body, "not-subscribed", "not-subscribed", 402);
        expect(unpaid.handled).toMatchObject({ status: 402, body: `restyled ${unpaid.body}` });

        const failed = await both("throw");
        expect(failed.plain.status).toBe(503);
        expect(failed.plain.headers.get("retry-after")).toBe("5");
        exact(failed.body, undefined, "subscription-check-failed", 503);
        expect(failed.handled).toMatchObject({ status: 503, body: `restyled ${failed.body}` });
        expect(seen).toHaveLength(3);
        for (const e of seen) expect(http.problemOf(e)).toMatchObject({ code: "ACCESS_DENIED" });

        // Errors that are not refusals still reach the app's handler; allowed requests never do.
        expect(await text("/throw", "ca1", undefined, handledApp.url)).toMatchObject({
          status: 500,
          body: "app",
        });
        expect((await text("/paid-open", "reject", undefined, handledApp.url)).status).toBe(200);
        expect(seen).toHaveLength(4);
      },
    );

    it("the seller's usage page: 401 without authorization, then each grain's state, MeteringRecordId and totals as in the ledger, under a strict CSP", async () => {
      for (let i = 0; i < 3; i++) await text("/hello", "ca1");
      await text("/hello", "ca2");
      await recorded(4);
      await closeHour();
      const [row] = bed.emu.ledger({ customer: DEMO.L1, dimension: "api_calls", hour: DEMO.now });
      if (!row) throw new Error("the hour of ca1 was not billed");
      const day = DEMO.now.slice(0, 10);
      const key = `L|${DEMO.P_CA}|${DEMO.A1}|${DEMO.L1}`;
      const path = `/usage?${new URLSearchParams({ customer: key, from: day, to: day })}`;

      expect((await get(path)).status).toBe(401);
      expect((await get(path, undefined, { headers: { "x-admin": "wrong" } })).status).toBe(401);
      const denied = await get(path, undefined, {
        headers: { "x-admin": "wrong", accept: "application/json" },
      });
      expect(await denied.json()).toMatchObject({ status: 401 });

      const res = await get(path, undefined, { headers: { "x-admin": ADMIN_TOKEN } });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^text\/html/);
      expect(res.headers.get("content-security-policy")).toBe(http.USAGE_CSP);
      expect(res.headers.get("cache-control")).toBe("no-store");
      const page = await res.text();
      expect(page).toContain(`<code>${row.meteringRecordId}</code>`);
      expect(page).toMatch(
        new RegExp(
          `<th scope="row">api_calls</th><td class="n">${row.quantity}</td><td class="n">${row.quantity}</td><td class="n">0</td>`,
        ),
      );
      expect(row.quantity).toBe(3);
      // Only the chosen customer: ca2's license is not on the page.
      expect(page).not.toContain(DEMO.L2);
      expect((await get(`/usage?from=nope`, undefined, { headers: { "x-admin": ADMIN_TOKEN } })).status).toBe(
        400,
      );
      // Local only: the suite's requests come from 127.0.0.1, so the adapter passed the peer's address.
      if (adapter.usageLocal !== false) expect((await get("/usage-local")).status).toBe(200);
      // Looking at usage is never billed.
      await recorded(4);
    });

    it("the buyer's own usage: only the caller's, whatever customer the query names; 401 anonymous; 404 without a subscription", async () => {
      for (let i = 0; i < 3; i++) await text("/hello", "ca1");
      for (let i = 0; i < 2; i++) await text("/hello", "ca2");
      await recorded(5);
      await closeHour();
      await text("/hello", "ca1");
      await recorded(6);
      const month = DEMO.now.slice(0, 7);
      const forged = `?customer=${encodeURIComponent(`L|${DEMO.P_CA}|${DEMO.A1}|${DEMO.L2}`)}&licenseArn=${encodeURIComponent(DEMO.L2)}`;
      const mine = await get(`/my-usage${forged}`, "ca1", { headers: { accept: "application/json" } });
      expect(mine.status).toBe(200);
      expect(mine.headers.get("content-type")).toMatch(/^application\/json/);
      const usage = (await mine.json()) as http.BuyerUsage;
      expect(usage.months[0]?.month).toBe(month);
      expect(usage.months[0]?.dimensions).toEqual([
        expect.objectContaining({ dimension: "api_calls", recorded: 4, sent: 3, open: 1 }),
      ]);
      expect(JSON.stringify(usage)).not.toContain(DEMO.L2);
      const theirs = (await (await get("/my-usage", "ca2")).json()) as http.BuyerUsage;
      expect(theirs.months[0]?.dimensions).toEqual([
        expect.objectContaining({ dimension: "api_calls", recorded: 2, sent: 2, open: 0 }),
      ]);
      expect(bed.emu.ledger({ customer: DEMO.L2 }).reduce((s, r) => s + r.quantity, 0)).toBe(2);
      const anonymous = await get(`/my-usage${forged}`, undefined, {
        headers: { accept: "application/json" },
      });
      expect(anonymous.status).toBe(401);
      expect(await anonymous.json()).toMatchObject({ status: 401 });
      expect((await get("/my-usage", "tenant:nobody")).status).toBe(404);
      const fragment = await text("/my-usage?format=html", "ca1");
      expect(fragment.type).toMatch(/^text\/html/);
      expect(fragment.body).toMatch(/<th scope="row">api_calls<\/th><td>3<\/td><td>1<\/td><td>4<\/td>/);
      await recorded(6);
    });

    it("the access guard fails closed by default and open when configured", async () => {
      const unknown = await get("/paid", "tenant:nobody");
      expect(unknown.status).toBe(403);
      expect(await unknown.json()).toMatchObject({
        reason: "not-registered",
        type: "urn:marketmeter:problem:subscription-not-registered",
      });
      const anonymous = await get("/paid");
      expect(anonymous.status).toBe(403);
      const closed = await get("/paid", "throw");
      expect(closed.status).toBe(503);
      expect(closed.headers.get("content-type")).toMatch(/^application\/problem\+json/);
      expect(await closed.json()).toMatchObject({
        status: 503,
        type: "urn:marketmeter:problem:subscription-check-failed",
      });
      const open = await get("/paid-open", "reject");
      expect(open.status).toBe(200);
      expect(await open.json()).toEqual({});
      // Failing open is about failures only: a real denial is still enforced.
      expect((await get("/paid-open", "tenant:nobody")).status).toBe(403);
    });
  });
}
