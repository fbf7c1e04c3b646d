// Server-rendered pages. Every interpolated value goes through `html`, which escapes it, so buyer input
// and data from AWS can never inject markup. No scripts or styles are loaded from elsewhere.
import type { CustomerRecord, GrainReport, Registration } from "{{adapter}}";
import { ROUTES } from "./marketplace.js";
import type { Tenant } from "./tenants.js";

/** Markup that is already safe. */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};
const escapeText = (s: string) => s.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);

function render(value: unknown): string {
  if (value instanceof Html) return value.value;
  if (Array.isArray(value)) return value.map(render).join("");
  if (value === undefined || value === null || value === false) return "";
  return escapeText(String(value));
}

/** Tagged template that escapes every interpolation (except `Html`). */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0] ?? "";
  values.forEach((value, i) => {
    out += render(value) + (strings[i + 1] ?? "");
  });
  return new Html(out);
}

/** Headers for every page: the sign-up URL carries a registration id, so it must not leak as a referrer. */
export const PAGE_HEADERS = {
  "content-type": "text/html; charset=utf-8",
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff",
  "cache-control": "no-store",
} as const;

const STYLE = `body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}
code,pre{background:#f3f4f6;border-radius:4px;padding:.1rem .3rem;font-size:.9em}pre{padding:.6rem;overflow-x:auto}
button{font:inherit;padding:.35rem .9rem;cursor:pointer}input{font:inherit;padding:.3rem;width:20rem;max-width:100%}
table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #d0d7de;padding:.2rem .5rem;text-align:left}
.note{background:#fff8c5;padding:.6rem;border-radius:4px}.key{font-size:1.1em;word-break:break-all}`;

export function page(title: string, body: Html): string {
  return html`<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>${title}</title>
<style>${new Html(STYLE)}</style></head><body>${body}</body></html>`.value;
}

export function messagePage(title: string, message: string, demo: boolean): string {
  return page(
    title,
    html`<h1>${title}</h1><p>${message}</p><p><a href="${demo ? "/demo" : "/"}">Back</a></p>`,
  );
}

export function homePage(options: { demo: boolean; productCode: string }): string {
  return page(
    "Quotes API",
    html`<h1>Quotes API</h1>
<p>Market quotes and daily reports over HTTP, billed through AWS Marketplace (product
<code>${options.productCode}</code>).</p>
<ul><li><code>GET /api/quotes?symbol=ACME</code>: one <code>api_calls</code> per call</li>
<li><code>GET /api/reports?symbol=ACME&amp;days=7</code>: one <code>report_rows</code> per row returned</li></ul>
<p>Buy it on AWS Marketplace; the "Set up your account" button brings you to
<code>POST ${ROUTES.register}</code> and then to sign-up.</p>
${options.demo ? html`<p class="note">Emulator mode: <a href="/demo">walk through the demo</a>.</p>` : ""}`,
  );
}

export function signupPage(
  registration: Registration,
  error?: string,
  values?: { name?: unknown; email?: unknown },
): string {
  const buyer = registration.customerIdentifier ?? registration.customerAWSAccountId;
  return page(
    "Create your account",
    html`<h1>Create your account</h1>
<p>AWS Marketplace confirmed your subscription request:</p>
<table><tr><th>Product</th><td><code>${registration.productCode}</code></td></tr>
<tr><th>AWS account</th><td><code>${buyer}</code></td></tr>
${registration.licenseArn ? html`<tr><th>License</th><td><code>${registration.licenseArn}</code></td></tr>` : ""}
${registration.freeTrial ? html`<tr><th>Offer</th><td>free trial</td></tr>` : ""}</table>
${error ? html`<p class="note">${error}</p>` : ""}
<form method="post" action="${ROUTES.signUp}">
<input type="hidden" name="registration" value="${registration.id}">
<p><label>Name<br><input name="name" required maxlength="100" value="${values?.name ?? ""}"></label></p>
<p><label>Email<br><input name="email" type="email" required maxlength="254" value="${values?.email ?? ""}"></label></p>
<p><button>Create account and API key</button></p></form>`,
  );
}

function tryItForm(apiKey?: string): Html {
  return html`<form method="post" action="/demo/call">
<p><label>API key<br><input name="apiKey" required value="${apiKey ?? ""}" autocomplete="off"></label></p>
<p><button name="endpoint" value="quotes">GET /api/quotes</button>
<button name="endpoint" value="reports">GET /api/reports?days=7</button>
<button name="endpoint" value="bad">GET /api/reports?days=0 (400, not billed)</button></p></form>`;
}

/** The API key page after its 15 minutes (or a restart): the key is not stored in clear anywhere. */
export const KEY_PAGE_GONE =
  "This page has expired: an API key is shown only for a while after sign-up. Sign up again from AWS Marketplace to get a new key.";

export function apiKeyPage(options: {
  tenant: Tenant;
  apiKey: string;
  returning: boolean;
  appUrl: string;
  demo: boolean;
}): string {
  const { tenant, apiKey, appUrl } = options;
  return page(
    "Your API key",
    html`<h1>${options.returning ? "Welcome back" : "Welcome"}, ${tenant.name}</h1>
<p>Your API key (this page shows it for 15 minutes, then never again; ${options.returning ? "your previous key no longer works" : "keep it secret"}):</p>
<p><code class="key">${apiKey}</code></p>
<pre>curl -H 'Authorization: Bearer ${apiKey}' ${appUrl}/api/quotes?symbol=ACME
curl -H 'Authorization: Bearer ${apiKey}' '${appUrl}/api/reports?symbol=ACME&amp;days=7'</pre>
${options.demo ? html`<h2>Try it</h2>${tryItForm(apiKey)}<p><a href="/demo">Back to the demo</a></p>` : ""}`,
  );
}

export function autoSubmitPage(action: string, token: string): string {
  // AWS's "Set up your account" button is a form POST of the token from the buyer's browser.
  return page(
    "Redirecting to the seller",
    html`<p>AWS Marketplace is sending you to the seller's sign-up page…</p>
<form method="post" action="${action}" id="aws">
<input type="hidden" name="x-amzn-marketplace-token" value="${token}">
<button>Set up your account</button></form>
<script>document.getElementById("aws").submit()</script>`,
  );
}

export interface DemoView {
  appUrl: string;
  billingUrl: string;
  now: Date;
  buyers: CustomerRecord[];
  tenantName: (tenantId: string) => string | undefined;
  grains: GrainReport[];
  notice?: Html;
  apiKey?: string;
}

export function demoPage(v: DemoView): string {
  const account = (g: GrainReport) => {
    const id = g.identity as { customerIdentifier?: string; customerAWSAccountId?: string };
    return id.customerIdentifier ?? id.customerAWSAccountId;
  };
  return page(
    "marketmeter demo",
    html`<h1>marketmeter demo</h1>
<p>Everything runs locally: the AWS Marketplace APIs are the emulator. Emulator time:
<strong>${v.now.toISOString()}</strong>.</p>
${v.notice ? html`<div class="note">${v.notice}</div>` : ""}
<h2>1. Subscribe in AWS Marketplace</h2>
<p>A new buyer subscribes; AWS notifies this app (EventBridge and SNS) and the "Set up your account"
button posts a registration token to <code>${ROUTES.register}</code>.</p>
<form method="post" action="/demo/subscribe"><button>Subscribe in AWS Marketplace</button></form>
<h2>2. Sign up</h2>
<p>The fulfillment URL resolves the token and redirects (303) to <code>${ROUTES.signUp}</code>, where the
buyer names their account and receives an API key.</p>
<h2>3. Call the API</h2>
<pre>curl -H "Authorization: Bearer $API_KEY" ${v.appUrl}/api/quotes?symbol=ACME</pre>
${tryItForm(v.apiKey)}
<h2>4. Close the hour</h2>
<p>AWS bills one record per buyer, dimension and hour, sent once the hour is over. This moves the emulator's
clock past the end of the hour (plus the grace period) and sends it now.</p>
<form method="post" action="/demo/close-hour"><button>Close the hour</button></form>
<h2>5. See the bill</h2>
<p><a href="${v.billingUrl}">The emulator's billing page</a> lists every record AWS accepted.
<a href="/admin/usage">Your usage page</a> shows what this app recorded and sent, per buyer and hour.</p>
<h2>Buyers</h2>
${
  v.buyers.length === 0
    ? html`<p>None yet.</p>`
    : html`<table><tr><th>AWS account</th><th>status</th><th>tenant</th></tr>${v.buyers.map(
        (b) =>
          html`<tr><td>${b.customerIdentifier ?? b.customerAWSAccountId}</td><td>${b.status}</td><td>${
            b.tenantId ? (v.tenantName(b.tenantId) ?? b.tenantId) : "not signed up"
          }</td></tr>`,
      )}</table>`
}
<h2>Usage</h2>
${
  v.grains.length === 0
    ? html`<p>None yet.</p>`
    : html`<table><tr><th>hour (UTC)</th><th>AWS account</th><th>dimension</th><th>quantity</th><th>state</th></tr>${v.grains.map(
        (g) =>
          html`<tr><td>${g.hour.toISOString().slice(0, 16)}</td><td>${account(g)}</td><td>${g.dimension}</td><td>${g.quantity}</td><td>${g.state}</td></tr>`,
      )}</table>`
}`,
  );
}
