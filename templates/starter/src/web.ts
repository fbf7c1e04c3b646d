// Framework-free pieces of the web layer: short-lived views for post-redirect-get, and the API's 404.
import { randomBytes } from "node:crypto";
import type { Html } from "./pages.js";
import type { Tenant } from "./tenants.js";

/** What a POST left for the page it redirects to (303), so a reload shows it again without redoing it. */
export interface View {
  /** The API key page after sign-up: the key exists nowhere else in clear (only its hash is stored). */
  signup?: { tenant: Tenant; apiKey: string; returning: boolean };
  /** The registration token the demo's "Subscribe" button posts to the fulfillment URL. */
  token?: string;
  /** The demo page's result line ("Try it", "Close the hour"). */
  notice?: Html;
  /** The key the demo's "Try it" form is filled with. */
  apiKey?: string;
}

export interface Views {
  /** The view of the browser that sent `cookieHeader`, if it has one that has not expired. */
  get(cookieHeader: string | undefined): View | undefined;
  /** Merges `patch` into the browser's view; returns the `set-cookie` value that names it. */
  put(cookieHeader: string | undefined, patch: View): string;
}

const COOKIE = "mm_view";
const TTL_MS = 15 * 60_000;
const MAX_VIEWS = 1000;
const ID = /^[A-Za-z0-9_-]{22}$/;

function idOf(cookieHeader: string | undefined): string | undefined {
  for (const part of cookieHeader?.split(";") ?? []) {
    const [name, value] = part.trim().split("=", 2);
    if (name === COOKIE && value && ID.test(value)) return value;
  }
  return undefined;
}

/**
 * Views live in memory on the server, named by an opaque random id in an HttpOnly cookie: the API key is
 * never put in a URL (history, logs, referrers), and it is gone 15 minutes later or at restart.
 */
export function createViews(now: () => number = Date.now): Views {
  const views = new Map<string, { view: View; expiresAt: number }>();
  const live = (id: string | undefined) => {
    const entry = id ? views.get(id) : undefined;
    if (entry && entry.expiresAt > now()) return entry;
    if (id) views.delete(id);
    return undefined;
  };
  return {
    get: (cookieHeader) => live(idOf(cookieHeader))?.view,
    put(cookieHeader, patch) {
      let id = idOf(cookieHeader);
      const view = { ...live(id)?.view, ...patch };
      if (!id || !views.has(id)) id = randomBytes(16).toString("base64url");
      views.delete(id);
      views.set(id, { view, expiresAt: now() + TTL_MS });
      // Oldest first (Map keeps insertion order): a flood of sign-ups cannot grow memory without bound.
      for (const old of views.keys()) {
        if (views.size <= MAX_VIEWS) break;
        views.delete(old);
      }
      return `${COOKIE}=${id}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${TTL_MS / 1000}`;
    },
  };
}

/** The problem JSON (RFC 9457) an unknown `/api/*` route answers, like the API's other refusals. */
export const API_NOT_FOUND = {
  status: 404,
  contentType: "application/problem+json",
  body: (method: string, path: string) =>
    JSON.stringify({
      type: "about:blank",
      title: "Not Found",
      status: 404,
      detail: `No route ${method} ${path}`,
    }),
} as const;
