// The Hono app: pages, the metered API, and the AWS Marketplace routes. `startApp` is what
// `src/main.ts` (the CLI) and the smoke test start.
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { serve } from "@hono/node-server";
import type { Emulator } from "@marketmeter/emulator";
import {
  buyerUsageHandler,
  eventBridgeHandler,
  type Marketplace,
  type MarketplaceEnv,
  meter,
  meterUsage,
  registrationHandler,
  requireSubscription,
  skipMetering,
  snsHandler,
  usagePageHandler,
} from "@marketmeter/hono";
import { type Context, Hono, type MiddlewareHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import { usagePageAccess } from "./admin.js";
import { callApi, closeHour, subscribeNewBuyer } from "./demo.js";
import { BadRequest, parseDays, parseSymbol, quote, report } from "./market-data.js";
import {
  type AwsSettings,
  type Dimension,
  type EmulatorSettings,
  isAddressInUse,
  lineLogger,
  PortInUseError,
  ROUTES,
  setupMarketplace,
} from "./marketplace.js";
import {
  apiKeyPage,
  autoSubmitPage,
  demoPage,
  homePage,
  html,
  KEY_PAGE_GONE,
  messagePage,
  PAGE_HEADERS,
  signupPage,
} from "./pages.js";
import { completeSignup, findRegistration } from "./signup.js";
import type { SharedStoreSettings } from "./stores.js";
import { openTenants, type Tenant } from "./tenants.js";
import { API_NOT_FOUND, createViews, type View } from "./web.js";

export interface StartAppOptions {
  /** @default 3000 (0 picks a free port) */
  port?: number;
  /** @default "127.0.0.1" */
  host?: string;
  /** Where the SQLite files live. @default ".marketmeter" */
  dataDir?: string;
  /** Opens the seller's usage page to `Authorization: Bearer <adminToken>` (else local-only in the demo). */
  adminToken?: string;
  /** Real AWS. Without it the app starts the emulator and a demo page. */
  aws?: AwsSettings;
  emulator?: EmulatorSettings;
  /** A store every instance shares (PostgreSQL or Redis). @default SQLite files in `dataDir` */
  store?: SharedStoreSettings;
  /** Receives warnings and errors. @default console.error */
  log?: (line: string) => void;
}

export interface RunningApp {
  /** e.g. http://127.0.0.1:3000 */
  url: string;
  marketplace: Marketplace<Dimension>;
  /** Only in emulator mode. */
  emulator: Emulator | undefined;
  /** Stops accepting requests, sends what is due, closes the stores (and the emulator). */
  close(): Promise<void>;
}

// marketmeter's variables plus this app's: the tenant of the API key, and the rows a report returned.
type AppEnv = { Variables: MarketplaceEnv["Variables"] & { tenant?: Tenant; rows?: number } };

const tenantOf = (c: Context<AppEnv>) => c.get("tenant")?.id;

export async function startApp(options: StartAppOptions = {}): Promise<RunningApp> {
  const log = options.log ?? ((line: string) => console.error(line));
  const logger = lineLogger(log);
  const setup = await setupMarketplace({
    dataDir: options.dataDir ?? ".marketmeter",
    aws: options.aws,
    emulator: options.emulator,
    store: options.store,
    logger,
    // Who pays for a request, declared once: meterUsage and requireSubscription both use it.
    getCustomer: tenantOf,
  });
  const { marketplace, emulator } = setup;
  const tenants = openTenants(join(setup.dataDir, "tenants.db"));
  const demo = emulator !== undefined;
  let appUrl = "";

  const app = new Hono<AppEnv>();
  const send = (body: string, status = 200) => new Response(body, { status, headers: PAGE_HEADERS });
  const form = async (c: Context) => (await c.req.parseBody()) as Record<string, unknown>;
  // Every POST answers 303 to a page (post-redirect-get), so reloading that page repeats nothing.
  const views = createViews();
  const redirect = (c: Context, location: string, view: View) =>
    new Response(null, {
      status: 303,
      headers: { location, "set-cookie": views.put(c.req.header("cookie"), view) },
    });

  // Every finished request of a tenant with status < 400 is one `api_calls`, unless a route says otherwise.
  app.use(meterUsage(marketplace, { dimension: "api_calls" }));

  app.get("/health", skipMetering(), (c) => c.json({ ok: true }));
  app.get("/", () => send(homePage({ demo, productCode: setup.productCode })));

  // AWS Marketplace: the fulfillment URL (token → 303 to sign-up) and the lifecycle notifications.
  app.post(ROUTES.register, registrationHandler(marketplace, { signUpUrl: ROUTES.signUp }));
  app.post(ROUTES.eventBridge, eventBridgeHandler(marketplace));
  app.post(ROUTES.sns, snsHandler(marketplace));

  app.get(ROUTES.signUp, async (c) => {
    const pending = await findRegistration(marketplace, c.req.query("registration"), setup.now());
    if (!pending.ok) return send(messagePage("Sign-up", pending.message, demo), pending.status);
    return send(signupPage(pending.registration));
  });
  app.post(ROUTES.signUp, async (c) => {
    const body = await form(c);
    const result = await completeSignup(marketplace, tenants, body, setup.now());
    if (result.ok) {
      const { tenant, apiKey, returning } = result;
      return redirect(c, ROUTES.signUpDone, { signup: { tenant, apiKey, returning }, apiKey });
    }
    const pending = await findRegistration(marketplace, body.registration, setup.now());
    if (result.status === 400 && pending.ok)
      return send(signupPage(pending.registration, result.message, body), 400);
    return send(messagePage("Sign-up", result.message, demo), result.status);
  });

  app.get(ROUTES.signUpDone, (c) => {
    const signup = views.get(c.req.header("cookie"))?.signup;
    if (!signup) return send(messagePage("Your API key", KEY_PAGE_GONE, demo), 404);
    return send(apiKeyPage({ ...signup, appUrl, demo }));
  });

  // The API: API key → tenant → subscription check → metered handler.
  const authenticate: MiddlewareHandler<AppEnv> = async (c, next) => {
    // Container, AMI, AgentCore: the buyer is the deployment, so there is no API key to ask for.
    if (setup.mode !== "saas") return next();
    const auth = c.req.header("authorization");
    const key = auth?.startsWith("Bearer ") ? auth.slice(7).trim() : c.req.header("x-api-key");
    const tenant = key ? tenants.byApiKey(key) : undefined;
    if (!tenant) {
      const message = "Send your API key as Authorization: Bearer <key>";
      return c.json({ error: "unauthorized", message }, 401, { "www-authenticate": "Bearer" });
    }
    c.set("tenant", tenant);
    await next();
  };
  // Usage: the seller's page (every buyer), and each buyer's own (even after cancelling).
  const usageAccess = usagePageAccess<[Context]>({ adminToken: options.adminToken, demo }, (c) =>
    c.req.header("authorization"),
  );
  if (usageAccess) app.get(ROUTES.usagePage, usagePageHandler(marketplace, usageAccess));
  app.get(ROUTES.buyerUsage, authenticate, buyerUsageHandler(marketplace));

  app.use("/api/*", authenticate, requireSubscription(marketplace));
  app.get("/api/quotes", (c) => c.json(quote(parseSymbol(c.req.query("symbol")), new Date(setup.now()))));
  // Billed by what the response contains: one `report_rows` per row (and no `api_calls`).
  app.get(
    "/api/reports",
    meter("report_rows", (c) => (c as Context<AppEnv>).get("rows") ?? 0),
    (c) => {
      const rows = report(
        parseSymbol(c.req.query("symbol")),
        parseDays(c.req.query("days")),
        new Date(setup.now()),
      );
      c.set("rows", rows.length);
      return c.json({ rows });
    },
  );

  if (emulator) {
    const billingUrl = `${emulator.endpoint}/_emulator/`;
    const showDemo = async (c: Context) => {
      const { notice, apiKey } = views.get(c.req.header("cookie")) ?? {};
      const grains = await marketplace.report({ from: setup.now() - 48 * 3_600_000 });
      const view = { appUrl, billingUrl, now: new Date(setup.now()), grains, notice, apiKey };
      const buyers = marketplace.buyers.directory.list();
      return send(demoPage({ ...view, buyers, tenantName: (id) => tenants.get(id)?.name }));
    };
    app.get("/demo", (c) => showDemo(c));
    app.post("/demo/subscribe", async (c) => {
      const { token } = await subscribeNewBuyer(emulator, setup.productCode);
      return redirect(c, "/demo/subscribe", { token });
    });
    app.get("/demo/subscribe", (c) => {
      const token = views.get(c.req.header("cookie"))?.token;
      if (!token) return c.redirect("/demo", 303);
      return send(autoSubmitPage(ROUTES.register, token));
    });
    app.post("/demo/call", async (c) => {
      const body = await form(c);
      const apiKey = String(body.apiKey ?? "").trim();
      const paths: Record<string, string> = {
        quotes: "/api/quotes?symbol=ACME",
        reports: "/api/reports?symbol=ACME&days=7",
        bad: "/api/reports?days=0",
      };
      const path = paths[String(body.endpoint)] ?? "/api/quotes";
      const answer = await callApi(appUrl, apiKey, path);
      const notice = html`<p><code>GET ${path}</code> answered <strong>${answer.status}</strong></p><pre>${answer.body}</pre>`;
      return redirect(c, "/demo", { notice, apiKey });
    });
    app.post("/demo/close-hour", async (c) => {
      const hour = await closeHour(emulator, marketplace);
      const notice = html`<p>Closed and sent the hour starting ${hour.toISOString()}. <a href="${billingUrl}">See the bill</a>.</p>`;
      return redirect(c, "/demo", { notice });
    });
  }

  // Unknown API routes answer JSON like the rest of the API, not Hono's plain-text 404.
  app.notFound((c) =>
    c.req.path.startsWith("/api/")
      ? c.body(API_NOT_FOUND.body(c.req.method, c.req.path), API_NOT_FOUND.status, {
          "content-type": API_NOT_FOUND.contentType,
        })
      : c.text("404 Not Found", 404),
  );
  app.onError((err, c) => {
    // Refusals of requireSubscription (402/403/503) carry their problem JSON response.
    if (err instanceof HTTPException) return err.getResponse();
    if (err instanceof BadRequest) return c.json({ error: "bad_request", message: err.message }, 400);
    log(`error ${c.req.method} ${c.req.path}: ${err.stack ?? err}`);
    if (c.req.path.startsWith("/api/")) return c.json({ error: "internal" }, 500);
    return send(messagePage("Something went wrong", "Please try again.", demo), 500);
  });

  const server = serve({
    fetch: app.fetch,
    port: options.port ?? 3000,
    hostname: options.host ?? "127.0.0.1",
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.once("listening", () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (err) {
    await marketplace.close();
    await emulator?.close();
    tenants.close();
    throw isAddressInUse(err) ? new PortInUseError("app", options.port ?? 3000, { cause: err }) : err;
  }
  const { address, port } = server.address() as AddressInfo;
  const host =
    address === "0.0.0.0" || address === "::"
      ? "127.0.0.1"
      : address.includes(":")
        ? `[${address}]`
        : address;
  appUrl = `http://${host}:${port}`;
  setup.connect(appUrl);

  let closing: Promise<void> | undefined;
  const close = async () => {
    // In-flight requests finish (and are metered) before the marketplace checkpoints and sends.
    const http = server as typeof server & { closeIdleConnections(): void; closeAllConnections(): void };
    await new Promise<void>((resolve) => {
      http.close(() => resolve());
      http.closeIdleConnections();
      setTimeout(() => http.closeAllConnections(), 5000).unref();
    });
    await marketplace.close();
    await emulator?.close();
    tenants.close();
  };
  return {
    url: appUrl,
    marketplace,
    emulator,
    close: () => (closing ??= close()),
  };
}
