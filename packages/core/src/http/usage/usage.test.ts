import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { identityKey, parseIdentity } from "../../identity/index.js";
import { dryMarketplace, ID, P } from "../testbed.test-helper.js";
import {
  createBuyerUsage,
  createUsagePage,
  isLoopback,
  parseUsagePageQuery,
  renderUsagePage,
  USAGE_CSP,
} from "./index.js";

const HOUR = 3_600_000;
const NOW = Date.parse("2026-07-15T10:30:00Z");
const CUSTOMER = "<script>alert(1)</script>\"'&";
const OTHER = "cust-2";
const LEG = { productCode: P, customerIdentifier: CUSTOMER };
const LEG2 = { productCode: P, customerIdentifier: OTHER };
const opened: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const m of opened.splice(0)) await m.close();
});

function bed() {
  let now = NOW;
  // The page and the route read the marketplace's own clock (declared by createMarketplace).
  const m = dryMarketplace(() => now);
  opened.push(m);
  return {
    m,
    at: (t: number) => {
      now = t;
    },
  };
}

const get = (url: string, extra: Partial<{ remoteAddress: string; accept: string }> = {}) => ({
  method: "GET",
  url,
  headers: { accept: extra.accept ?? "text/html" },
  remoteAddress: extra.remoteAddress ?? "127.0.0.1",
  args: [] as [],
});

describe("seller usage page", () => {
  it("refuses to be built without authorize unless localOnly is explicit", () => {
    const { m } = bed();
    expect(() => createUsagePage(m, {})).toThrow(expect.objectContaining({ code: "INVALID_CONFIG" }));
    expect(() => createUsagePage(m, { localOnly: "yes" as never })).toThrow(/localOnly/);
    expect(() => createUsagePage(m, { authorize: true as never })).toThrow(/authorize/);
    expect(createUsagePage(m, { localOnly: true })).toBeTypeOf("function");
  });

  it("localOnly refuses other peers; authorize false, or throwing, gives 401", async () => {
    const { m } = bed();
    const local = createUsagePage(m, { localOnly: true });
    expect((await local(get("/usage", { remoteAddress: "10.0.0.8" }))).status).toBe(403);
    expect((await local(get("/usage", { remoteAddress: "::ffff:192.168.1.2" }))).status).toBe(403);
    expect((await local(get("/usage", { remoteAddress: "::1" }))).status).toBe(200);
    const no = createUsagePage<[]>(m, { authorize: () => false });
    const r = await no(get("/usage", { accept: "application/json" }));
    expect(r.status).toBe(401);
    expect(JSON.parse(r.body)).toMatchObject({ status: 401 });
    const boom = createUsagePage<[]>(m, {
      authorize: () => {
        throw new Error("session store down");
      },
    });
    expect((await boom(get("/usage"))).status).toBe(401);
    expect((await no({ ...get("/usage"), method: "POST" })).status).toBe(405);
  });

  it("shows a customer's hours, states and totals, escaping hostile ids, dimensions and reasons, under a strict CSP", async () => {
    const { m } = bed();
    m.record({ identity: LEG, dimension: "api_calls", quantity: 5 });
    m.record({ identity: LEG2, dimension: "api_calls", quantity: 9 });
    const page = createUsagePage(m, { localOnly: true });
    const key = identityKey(parseIdentity(LEG));
    const r = await page(get(`/usage?customer=${encodeURIComponent(key)}&from=2026-07-15&to=2026-07-15`));
    expect(r.status).toBe(200);
    expect(r.headers["content-security-policy"]).toBe(USAGE_CSP);
    expect(USAGE_CSP).toMatch(/^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/=]+'/);
    expect(r.body).not.toContain("<script");
    expect(r.body).toContain("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;");
    expect(r.body).toMatch(/<caption>Totals per dimension<\/caption>/);
    expect(r.body).toMatch(
      /<th scope="row">api_calls<\/th><td class="n">5<\/td><td class="n">0<\/td><td class="n">5<\/td>/,
    );
    expect(r.body).toContain('role="img"');
    // The other customer's usage is not on this customer's page.
    expect(r.body).not.toMatch(/<td class="n">9<\/td>/);
    expect(r.body).not.toContain(OTHER);
  });

  it("answers 400 to a bad period, and the query parser accepts exactly valid days within the limit", async () => {
    const { m } = bed();
    const page = createUsagePage(m, { localOnly: true });
    for (const q of [
      "from=2026-02-30",
      "to=yesterday",
      "from=2026-07-10&to=2026-07-01",
      "from=2026-01-01&to=2026-07-01",
      "customer=%00",
      "from=2026-07-01&from=2026-07-02",
    ])
      expect((await page(get(`/usage?${q}`))).status, q).toBe(400);
    fc.assert(
      fc.property(fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 }), (from, to) => {
        let q: ReturnType<typeof parseUsagePageQuery> | undefined;
        try {
          q = parseUsagePageQuery(new URLSearchParams({ from, to }), NOW);
        } catch (err) {
          expect(err).toMatchObject({ code: "INVALID_ARGUMENT" });
          return;
        }
        expect(q.from).toBeLessThan(q.to);
        expect(q.from % 86_400_000).toBe(0);
        expect((q.to - q.from) / 86_400_000).toBeLessThanOrEqual(92);
      }),
    );
    fc.assert(
      fc.property(
        fc.date({ min: new Date("1971-01-01"), max: new Date("2100-01-01"), noInvalidDate: true }),
        fc.integer({ min: 0, max: 91 }),
        (d, days) => {
          const from = Math.floor(d.getTime() / 86_400_000) * 86_400_000;
          const to = from + days * 86_400_000;
          const day = (t: number) => new Date(t).toISOString().slice(0, 10);
          const q = parseUsagePageQuery(new URLSearchParams({ from: day(from), to: day(to) }), NOW);
          expect(q).toEqual({ from, to: to + 86_400_000 });
        },
      ),
    );
  });

  it("escapes whatever the store holds: customer ids, dimensions, reasons, MeteringRecordIds", () => {
    const query = { from: Date.parse("2026-07-15T00:00:00Z"), to: Date.parse("2026-07-16T00:00:00Z") };
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 40 }), (evil) => {
        const identity = { productCode: P, customerIdentifier: evil };
        const grain = (state: "sent" | "rejected") => ({
          identity,
          dimension: evil,
          hour: new Date(query.from + HOUR),
          quantity: 1,
          state,
          uncertain: false,
          attempts: 1,
          reason: evil,
          meteringRecordId: evil,
        });
        const grains = [grain("sent"), { ...grain("rejected"), hour: new Date(query.from + 2 * HOUR) }];
        for (const customer of [undefined, identityKey(identity)]) {
          const page = renderUsagePage({
            title: evil,
            query: { ...query, ...(customer ? { customer } : {}) },
            grains,
          });
          // The markup is the same whatever the text: only the page's own tags, never one from the data.
          const tags = (html: string) => html.match(/<\/?[a-z][a-z0-9]*/g)?.join(" ");
          const plain = renderUsagePage({
            title: "x",
            query: {
              ...query,
              ...(customer ? { customer: identityKey({ ...identity, customerIdentifier: "x" }) } : {}),
            },
            grains: grains.map((g) => ({
              ...g,
              identity: { ...identity, customerIdentifier: "x" },
              dimension: "x",
              reason: "x",
              meteringRecordId: "x",
            })),
          });
          expect(tags(page)).toBe(tags(plain));
          // No markup character of the data reaches the page raw (attributes cannot be broken out of).
          const marks = (html: string) => [..."<>\"'"].map((c) => html.split(c).length);
          expect(marks(page)).toEqual(marks(plain));
        }
      }),
      { numRuns: 200 },
    );
  });

  it("isLoopback accepts only loopback addresses", () => {
    for (const a of ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"]) expect(isLoopback(a)).toBe(true);
    for (const a of [undefined, "", "10.0.0.1", "::ffff:10.0.0.1", "128.0.0.1", "127.0.0.1.evil", "fe80::1"])
      expect(isLoopback(a)).toBe(false);
  });
});

describe("buyer's own usage", () => {
  it("answers only the calling customer's usage (query parameters ignored); 401 without one", async () => {
    const { m, at } = bed();
    m.record({ identity: LEG, dimension: "api_calls", quantity: 3 });
    m.record({ identity: LEG2, dimension: "api_calls", quantity: 40 });
    at(NOW + 2 * HOUR);
    m.record({ identity: LEG, dimension: "tokens", quantity: 2 });
    const who: Record<string, unknown> = { a: LEG, b: LEG2 };
    const route = createBuyerUsage<[string | undefined]>(m, {
      getCustomer: (h) => (h ? who[h] : undefined) as never,
    });
    const ask = (caller: string | undefined, url = "/me/usage") =>
      route({ ...get(url), headers: { accept: "application/json" }, args: [caller] });
    const a = await ask("a", `/me/usage?customer=${encodeURIComponent(identityKey(parseIdentity(LEG2)))}`);
    expect(a.status).toBe(200);
    const usage = JSON.parse(a.body);
    expect(usage.months.map((x: { month: string }) => x.month)).toEqual(["2026-07", "2026-06"]);
    expect(usage.months[0].dimensions).toEqual([
      expect.objectContaining({ dimension: "api_calls", recorded: 3, open: 3, sent: 0 }),
      expect.objectContaining({ dimension: "tokens", recorded: 2 }),
    ]);
    expect(a.body).not.toContain(OTHER);
    const b = JSON.parse((await ask("b")).body);
    expect(b.months[0].dimensions).toEqual([
      expect.objectContaining({ dimension: "api_calls", recorded: 40 }),
    ]);
    expect((await ask(undefined)).status).toBe(401);
    const fragment = await ask("a", "/me/usage?format=html");
    expect(fragment.headers["content-type"]).toMatch(/^text\/html/);
    expect(fragment.body).toMatch(/<caption>Metered usage in July 2026 \(UTC\)<\/caption>/);
    expect(fragment.body).toContain('<th scope="row">api_calls</th><td>0</td><td>3</td><td>3</td>');
  });

  it("needs a getCustomer", () => {
    const { m } = bed();
    expect(() => createBuyerUsage(m)).toThrow(expect.objectContaining({ code: "INVALID_CONFIG" }));
    expect(ID.productCode).toBe(P);
  });
});
