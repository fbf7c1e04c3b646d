import type { IncomingMessage, ServerResponse } from "node:http";
import {
  type Customer,
  type License,
  parseCustomer,
  parseEntitlement,
  parseLicense,
  parseProduct,
  parseTokenInput,
} from "./config.js";
import { EmulatorError, invalidArgument, isEmulatorError } from "./errors.js";
import type { FaultConfig } from "./faults.js";
import { postFulfillmentForm } from "./marketplace/setup.js";
import type { Notifier } from "./notify/index.js";
import { isNotifierError } from "./notify/index.js";
import type { BuyerState, EmulatorState, LedgerFilter } from "./state.js";
import type { WebhookConfig } from "./types.js";
import { renderBillingPage } from "./ui/index.js";
import { isLoopback, readBody, send, sendJson } from "./wire/http.js";

/** What the control API needs from the running emulator. */
export interface ControlContext {
  state: EmulatorState;
  endpoint: () => string;
  notifier: () => Notifier | undefined;
  setWebhooks: (w: WebhookConfig) => void;
  publicKeyPem: () => Promise<string>;
}

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

/** JSON view of a license (times as ISO strings) plus whether it meters now. */
export function licenseView(state: EmulatorState, l: License) {
  return {
    ...l,
    activatedAt: iso(l.activatedAt),
    agreementEndedAt: iso(l.agreementEndedAt),
    deprovisionedAt: iso(l.deprovisionedAt),
    meteringAllowed: state.licenseActive(l),
  };
}

export function customerView(state: EmulatorState, c: Customer) {
  return { ...c, unsubscribedAt: iso(c.unsubscribedAt), meteringAllowed: state.customerActive(c) };
}

export function buyerView(
  state: EmulatorState,
  b: BuyerState | { kind: "account"; customerAWSAccountId: string },
) {
  if (b.kind === "license") return { kind: b.kind, license: licenseView(state, b.license) };
  if (b.kind === "customer") return { kind: b.kind, customer: customerView(state, b.customer) };
  return b;
}

function clockView(state: EmulatorState) {
  return { now: state.clock.now().toISOString(), frozen: state.clock.frozen };
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

async function jsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const r = await readBody(req, 16 * 1024 * 1024);
  if (!r.ok) throw invalidArgument("request body is too large or was aborted");
  if (r.body.length === 0) return {};
  let v: unknown;
  try {
    v = JSON.parse(r.body.toString("utf8"));
  } catch {
    throw invalidArgument("request body is not valid JSON");
  }
  if (!isObject(v)) throw invalidArgument("request body must be a JSON object");
  return v;
}

/** Parses "90000", "90s", "15m", "2h", "1d" into milliseconds. */
function duration(v: unknown, what: string): number {
  if (typeof v === "number" && Number.isFinite(v)) return v;
  if (typeof v === "string") {
    const m = /^(-?\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(v.trim());
    if (m) {
      const unit = { ms: 1, s: 1000, m: 60_000, h: 3600_000, d: 86_400_000 }[(m[2] ?? "ms") as "ms"];
      return Number(m[1]) * unit;
    }
  }
  throw invalidArgument(`${what} must be milliseconds or a duration like "90s", "15m", "2h"`);
}

/** Handles `/_emulator/*`. Answers JSON (HTML for the billing page); unknown routes get 404 JSON. */
export async function handleControl(
  ctx: ControlContext,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  const { state } = ctx;
  const path = url.pathname.replace(/\/+$/, "") || "/";
  const method = req.method ?? "GET";
  try {
    if (path.startsWith("/_emulator/sns/") || path === "/_emulator/sns") {
      const n = ctx.notifier();
      if (!n)
        return sendJson(res, 503, {
          error: { code: "EMU_NOTIFIER_UNAVAILABLE", message: "notifications are not available" },
        });
      if (!n.handle(req, res, url))
        sendJson(res, 404, { error: { code: "EMU_NOT_FOUND", message: `no SNS route ${path}` } });
      return;
    }
    // The control API changes billing state without authentication, so only local callers may use it.
    if (!isLoopback(req.socket.remoteAddress)) {
      return sendJson(res, 403, {
        error: { code: "EMU_FORBIDDEN", message: "the control API only answers loopback clients" },
      });
    }
    const route = `${method} ${path}`;
    switch (route) {
      case "GET /_emulator":
      case "GET /_emulator/billing": {
        let html: string;
        try {
          const refresh = url.searchParams.get("refresh");
          html = renderBillingPage({
            records: state.ledger(),
            duplicates: state.duplicates(),
            now: state.clock.now(),
            ...(refresh !== null && /^[1-9][0-9]{0,3}$/.test(refresh)
              ? { autoRefresh: Number(refresh) }
              : {}),
          });
        } catch (err) {
          return send(
            res,
            503,
            { "content-type": "text/plain; charset=utf-8" },
            `billing page unavailable: ${(err as Error).message}\n`,
          );
        }
        return send(
          res,
          200,
          { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" },
          html,
        );
      }
      case "GET /_emulator/health":
        return sendJson(res, 200, {
          ok: true,
          endpoint: ctx.endpoint(),
          ...clockView(state),
          sellerAccountId: state.sellerAccountId,
        });
      case "GET /_emulator/clock":
        return sendJson(res, 200, clockView(state));
      case "POST /_emulator/clock": {
        const b = await jsonBody(req);
        if (b.set !== undefined) {
          if (typeof b.set !== "string" && typeof b.set !== "number")
            throw invalidArgument("set must be an ISO string or epoch ms");
          state.clock.set(b.set, b.freeze === undefined ? undefined : { freeze: Boolean(b.freeze) });
        } else if (b.freeze === true) state.clock.freeze();
        else if (b.freeze === false) state.clock.unfreeze();
        if (b.advance !== undefined) state.clock.advance(duration(b.advance, "advance"));
        if (b.advanceMs !== undefined) state.clock.advance(duration(b.advanceMs, "advanceMs"));
        await state.processDue();
        return sendJson(res, 200, clockView(state));
      }
      case "POST /_emulator/tokens": {
        const b = await jsonBody(req);
        const token = state.mintToken(b as never);
        return sendJson(res, 200, { token });
      }
      case "POST /_emulator/buyers/setup": {
        // "Set up your account": mint a token and POST the Marketplace form to the fulfillment URL.
        const { fulfillmentUrl, freeTrial, ...ref } = await jsonBody(req);
        if (typeof fulfillmentUrl !== "string") throw invalidArgument("buyers/setup needs a fulfillmentUrl");
        const out = await postFulfillmentForm(fulfillmentUrl, state.mintToken(ref as never), {
          freeTrial: freeTrial === true,
        });
        return sendJson(res, 200, out);
      }
      case "POST /_emulator/buyers/subscribe":
        return sendJson(res, 200, buyerView(state, await state.subscribe((await jsonBody(req)) as never)));
      case "POST /_emulator/buyers/unsubscribe":
        return sendJson(res, 200, buyerView(state, await state.unsubscribe((await jsonBody(req)) as never)));
      case "POST /_emulator/buyers/deprovision":
        return sendJson(res, 200, buyerView(state, await state.deprovision((await jsonBody(req)) as never)));
      case "POST /_emulator/buyers/suspend":
        return sendJson(res, 200, buyerView(state, await state.suspend((await jsonBody(req)) as never)));
      case "GET /_emulator/buyers":
        return sendJson(res, 200, {
          licenses: [...state.licenses.values()].map((l) => licenseView(state, l)),
          customers: [...state.customers.values()].map((c) => customerView(state, c)),
        });
      case "POST /_emulator/entitlements": {
        const b = await jsonBody(req);
        const list = await state.setEntitlements(b.entitlements as never, {
          replaceAll: b.replaceAll === true,
        });
        return sendJson(res, 200, {
          entitlements: list.map((e) => ({ ...e, expirationDate: iso(e.expirationDate) })),
        });
      }
      case "GET /_emulator/faults":
        return sendJson(res, 200, state.faults.get());
      case "POST /_emulator/faults": {
        const b = await jsonBody(req);
        return sendJson(
          res,
          200,
          state.setFaults(b as FaultConfig, { merge: url.searchParams.get("merge") === "true" }),
        );
      }
      case "GET /_emulator/profile":
        return sendJson(res, 200, state.profile);
      case "POST /_emulator/profile":
        return sendJson(res, 200, state.setProfile((await jsonBody(req)) as never));
      case "POST /_emulator/fixtures": {
        const b = await jsonBody(req);
        const counts = { products: 0, licenses: 0, customers: 0, tokens: 0, entitlements: 0 };
        for (const k of Object.keys(b)) {
          if (!(k in counts))
            throw invalidArgument(
              `fixtures: unknown key "${k}"; use products, licenses, customers, tokens, entitlements`,
            );
          if (!Array.isArray(b[k])) throw invalidArgument(`fixtures.${k} must be an array`);
        }
        const arr = (k: string) => (b[k] as unknown[] | undefined) ?? [];
        // Validate everything first so a bad entry leaves no half-applied fixtures behind.
        const products = arr("products").map((p, i) =>
          parseProduct(p, `products[${i}]`, state.sellerAccountId),
        );
        const licenses = arr("licenses").map((l, i) => parseLicense(l, `licenses[${i}]`));
        const customers = arr("customers").map((c, i) => parseCustomer(c, `customers[${i}]`, state.now()));
        const tokens = arr("tokens").map((t, i) => parseTokenInput(t, `tokens[${i}]`));
        const entitlements = arr("entitlements").map((e, i) => parseEntitlement(e, `entitlements[${i}]`));
        const known = new Set([...state.products.keys(), ...products.map((p) => p.productCode)]);
        for (const x of [...licenses, ...customers, ...entitlements]) {
          if (!known.has(x.productCode))
            throw new EmulatorError("EMU_NOT_FOUND", `unknown productCode "${x.productCode}"`);
        }
        for (const p of products) state.putProduct(p);
        for (const l of licenses) state.putLicense(l);
        for (const c of customers) state.putCustomer(c);
        for (const t of tokens) state.mintToken(t);
        if (entitlements.length) await state.setEntitlements(arr("entitlements") as never);
        counts.products = products.length;
        counts.licenses = licenses.length;
        counts.customers = customers.length;
        counts.tokens = tokens.length;
        counts.entitlements = entitlements.length;
        return sendJson(res, 200, { added: counts });
      }
      case "POST /_emulator/webhooks": {
        const b = await jsonBody(req);
        for (const k of Object.keys(b))
          if (k !== "eventBridge" && k !== "sns") throw invalidArgument(`webhooks: unknown key "${k}"`);
        for (const k of ["eventBridge", "sns"] as const) {
          const list = b[k];
          if (list === undefined) continue;
          if (
            !Array.isArray(list) ||
            list.some((w) => !isObject(w) || typeof w.url !== "string" || !/^https?:\/\//.test(w.url))
          ) {
            throw invalidArgument(`webhooks.${k} must be an array of { url: "http(s)://…" }`);
          }
        }
        try {
          ctx.setWebhooks(b as WebhookConfig);
        } catch (err) {
          if (isNotifierError(err)) throw invalidArgument(`webhooks: ${err.message}`);
          throw err;
        }
        return sendJson(res, 200, { webhooks: b });
      }
      case "GET /_emulator/notifications":
        return sendJson(res, 200, ctx.notifier()?.deliveries() ?? []);
      case "GET /_emulator/ledger": {
        const q = url.searchParams;
        const filter: LedgerFilter = {};
        const region = q.get("region");
        const product = q.get("product") ?? q.get("productCode");
        const customer = q.get("customer");
        const dimension = q.get("dimension");
        const hour = q.get("hour");
        const operation = q.get("operation");
        if (region) filter.region = region;
        if (product) filter.productCode = product;
        if (customer) filter.customer = customer;
        if (dimension) filter.dimension = dimension;
        if (hour) filter.hour = /^\d+$/.test(hour) ? Number(hour) : hour;
        if (operation) {
          if (operation !== "BatchMeterUsage" && operation !== "MeterUsage")
            throw invalidArgument("operation must be BatchMeterUsage or MeterUsage");
          filter.operation = operation;
        }
        return sendJson(res, 200, state.ledger(filter));
      }
      case "GET /_emulator/duplicates":
        return sendJson(res, 200, state.duplicates());
      case "GET /_emulator/rejected":
        return sendJson(res, 200, state.rejected());
      case "GET /_emulator/calls":
        return sendJson(res, 200, state.calls());
      case "POST /_emulator/reset":
        state.reset();
        ctx.setWebhooks(state.webhooks);
        return sendJson(res, 200, { ok: true, ...clockView(state) });
      case "GET /_emulator/keys/register-usage.pem":
        return send(res, 200, { "content-type": "application/x-pem-file" }, await ctx.publicKeyPem());
      default:
        return sendJson(res, 404, {
          error: { code: "EMU_NOT_FOUND", message: `no control route ${method} ${path}` },
        });
    }
  } catch (err) {
    if (isEmulatorError(err))
      return sendJson(res, err.status, { error: { code: err.code, message: err.message } });
    return sendJson(res, 500, {
      error: { code: "EMU_INTERNAL", message: (err as Error)?.message ?? String(err) },
    });
  }
}
