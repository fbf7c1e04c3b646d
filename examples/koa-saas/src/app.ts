// The Koa app: pages, the metered API, and the AWS Marketplace routes. `startApp` is what
// `src/main.ts` (the CLI) and the smoke test start.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { bodyParser } from "@koa/bodyparser";
import Router from "@koa/router";
import type { Emulator } from "@marketmeter/emulator";
import {
  buyerUsageHandler,
  eventBridgeHandler,
  isMarketplaceError,
  type Marketplace,
  type MarketplaceState,
  meter,
  meterUsage,
  registrationHandler,
  requireSubscription,
  skipMetering,
  snsHandler,
  usagePageHandler,
} from "@marketmeter/koa";
import Koa, { type Context, type Middleware } from "koa";
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

// marketmeter's state plus this app's: the tenant of the API key, and the rows a report returned.
type State = MarketplaceState & { tenant?: Tenant; rows?: number };

const tenantOf = (ctx: Context) => (ctx.state as State).tenant?.id;

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

  const app = new Koa<State>();
  const router = new Router<State>();
  const send = (ctx: Context, body: string, status = 200) => {
    ctx.status = status;
    ctx.set(PAGE_HEADERS);
    ctx.body = body;
  };
  // Only the sign-up and demo forms are parsed here; marketmeter's routes read their raw bodies themselves.
  const form = bodyParser({ enableTypes: ["form"], formLimit: "8kb" });
  const formOf = (ctx: Context) => (ctx.request.body ?? {}) as Record<string, unknown>;
  // Every POST answers 303 to a page (post-redirect-get), so reloading that page repeats nothing.
  const views = createViews();
  const redirect = (ctx: Context, location: string, view: View) => {
    ctx.set("set-cookie", views.put(ctx.get("cookie"), view));
    ctx.status = 303;
    ctx.set("location", location);
  };

  // Errors: 400 for bad query parameters, a page or JSON for the rest.
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      // Refusals of requireSubscription (402/403/503): rethrown, they are answered with their problem JSON.
      if (isMarketplaceError(err, "ACCESS_DENIED")) throw err;
      if (err instanceof BadRequest) {
        ctx.status = 400;
        ctx.body = { error: "bad_request", message: err.message };
        return;
      }
      log(`error ${ctx.method} ${ctx.path}: ${(err as Error)?.stack ?? err}`);
      if (ctx.path.startsWith("/api/")) {
        ctx.status = 500;
        ctx.body = { error: "internal" };
      } else send(ctx, messagePage("Something went wrong", "Please try again.", demo), 500);
    }
  });
  // Every finished request of a tenant with status < 400 is one `api_calls`, unless a route says otherwise.
  app.use(meterUsage(marketplace, { dimension: "api_calls" }));

  router.get("/health", skipMetering(), (ctx) => {
    ctx.body = { ok: true };
  });
  router.get("/", (ctx) => send(ctx, homePage({ demo, productCode: setup.productCode })));

  // AWS Marketplace: the fulfillment URL (token → 303 to sign-up) and the lifecycle notifications.
  router.post(ROUTES.register, registrationHandler(marketplace, { signUpUrl: ROUTES.signUp }));
  router.post(ROUTES.eventBridge, eventBridgeHandler(marketplace));
  router.post(ROUTES.sns, snsHandler(marketplace));

  router.get(ROUTES.signUp, async (ctx) => {
    const pending = await findRegistration(marketplace, ctx.query.registration, setup.now());
    if (!pending.ok) return send(ctx, messagePage("Sign-up", pending.message, demo), pending.status);
    send(ctx, signupPage(pending.registration));
  });
  router.post(ROUTES.signUp, form, async (ctx) => {
    const body = formOf(ctx);
    const result = await completeSignup(marketplace, tenants, body, setup.now());
    if (result.ok) {
      const { tenant, apiKey, returning } = result;
      return redirect(ctx, ROUTES.signUpDone, { signup: { tenant, apiKey, returning }, apiKey });
    }
    const pending = await findRegistration(marketplace, body.registration, setup.now());
    if (result.status === 400 && pending.ok)
      return send(ctx, signupPage(pending.registration, result.message, body), 400);
    send(ctx, messagePage("Sign-up", result.message, demo), result.status);
  });

  router.get(ROUTES.signUpDone, (ctx) => {
    const signup = views.get(ctx.get("cookie"))?.signup;
    if (!signup) return send(ctx, messagePage("Your API key", KEY_PAGE_GONE, demo), 404);
    send(ctx, apiKeyPage({ ...signup, appUrl, demo }));
  });

  // The API: API key → tenant → subscription check → metered handler.
  const authenticate: Middleware<State> = async (ctx, next) => {
    // Container, AMI, AgentCore: the buyer is the deployment, so there is no API key to ask for.
    if (setup.mode !== "saas") return next();
    const auth = ctx.get("authorization");
    const key = auth.startsWith("Bearer ") ? auth.slice(7).trim() : ctx.get("x-api-key");
    const tenant = key ? tenants.byApiKey(key) : undefined;
    if (!tenant) {
      ctx.status = 401;
      ctx.set("www-authenticate", "Bearer");
      ctx.body = { error: "unauthorized", message: "Send your API key as Authorization: Bearer <key>" };
      return;
    }
    ctx.state.tenant = tenant;
    await next();
  };
  // Usage: the seller's page (every buyer), and each buyer's own (even after cancelling).
  const usageAccess = usagePageAccess<[Context]>({ adminToken: options.adminToken, demo }, (ctx) =>
    ctx.get("authorization"),
  );
  if (usageAccess) router.get(ROUTES.usagePage, usagePageHandler(marketplace, usageAccess));
  router.get(ROUTES.buyerUsage, authenticate, buyerUsageHandler(marketplace));

  const api = new Router<State>({ prefix: "/api" });
  api.use(authenticate, requireSubscription(marketplace));
  api.get("/quotes", (ctx) => {
    ctx.body = quote(parseSymbol(ctx.query.symbol), new Date(setup.now()));
  });
  // Billed by what the response contains: one `report_rows` per row (and no `api_calls`).
  api.get(
    "/reports",
    meter("report_rows", (ctx) => (ctx.state as State).rows ?? 0),
    (ctx) => {
      const rows = report(parseSymbol(ctx.query.symbol), parseDays(ctx.query.days), new Date(setup.now()));
      ctx.state.rows = rows.length;
      ctx.body = { rows };
    },
  );

  if (emulator) {
    const billingUrl = `${emulator.endpoint}/_emulator/`;
    const showDemo = async (ctx: Context) => {
      const { notice, apiKey } = views.get(ctx.get("cookie")) ?? {};
      const grains = await marketplace.report({ from: setup.now() - 48 * 3_600_000 });
      const view = { appUrl, billingUrl, now: new Date(setup.now()), grains, notice, apiKey };
      const buyers = marketplace.buyers.directory.list();
      send(ctx, demoPage({ ...view, buyers, tenantName: (id) => tenants.get(id)?.name }));
    };
    router.get("/demo", (ctx) => showDemo(ctx));
    router.post("/demo/subscribe", async (ctx) => {
      const { token } = await subscribeNewBuyer(emulator, setup.productCode);
      redirect(ctx, "/demo/subscribe", { token });
    });
    router.get("/demo/subscribe", (ctx) => {
      const token = views.get(ctx.get("cookie"))?.token;
      if (!token) {
        ctx.status = 303;
        return ctx.redirect("/demo");
      }
      send(ctx, autoSubmitPage(ROUTES.register, token));
    });
    router.post("/demo/call", form, async (ctx) => {
      const body = formOf(ctx);
      const apiKey = String(body.apiKey ?? "").trim();
      const paths: Record<string, string> = {
        quotes: "/api/quotes?symbol=ACME",
        reports: "/api/reports?symbol=ACME&days=7",
        bad: "/api/reports?days=0",
      };
      const path = paths[String(body.endpoint)] ?? "/api/quotes";
      const answer = await callApi(appUrl, apiKey, path);
      const notice = html`<p><code>GET ${path}</code> answered <strong>${answer.status}</strong></p><pre>${answer.body}</pre>`;
      redirect(ctx, "/demo", { notice, apiKey });
    });
    router.post("/demo/close-hour", async (ctx) => {
      const hour = await closeHour(emulator, marketplace);
      const notice = html`<p>Closed and sent the hour starting ${hour.toISOString()}. <a href="${billingUrl}">See the bill</a>.</p>`;
      redirect(ctx, "/demo", { notice });
    });
  }

  app.use(router.routes()).use(router.allowedMethods());
  app.use(api.routes()).use(api.allowedMethods());
  // Unknown API routes answer JSON like the rest of the API, not Koa's plain-text 404.
  app.use((ctx, next) => {
    if (!ctx.path.startsWith("/api/")) return next();
    ctx.status = API_NOT_FOUND.status;
    ctx.type = API_NOT_FOUND.contentType;
    ctx.body = API_NOT_FOUND.body(ctx.method, ctx.path);
  });

  const server = createServer(app.callback());
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port ?? 3000, options.host ?? "127.0.0.1", () => {
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
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
      setTimeout(() => server.closeAllConnections(), 5000).unref();
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
