// Sign-up after the fulfillment URL: show the buyer what AWS told us, create (or find) their tenant,
// bind the AWS buyer to it with `marketplace.link`, and hand out an API key.
import { isMarketplaceError, type Marketplace, type Registration } from "{{adapter}}";
import { parseSignup, type Tenant, type Tenants } from "./tenants.js";

const REGISTRATION_ID = /^[A-Za-z0-9_-]{16,128}$/;

export type Pending =
  | { ok: true; registration: Registration }
  | { ok: false; status: number; message: string };

/** The pending registration named by the sign-up link, if it can still be used. */
export async function findRegistration(marketplace: Marketplace, id: unknown, now: number): Promise<Pending> {
  if (typeof id !== "string" || !REGISTRATION_ID.test(id))
    return { ok: false, status: 400, message: "This sign-up link is incomplete." };
  const stored = await marketplace.buyers.directory.store.getRegistration(id);
  if (!stored) return { ok: false, status: 404, message: "This sign-up link is unknown." };
  if (stored.tenantId) return { ok: false, status: 409, message: "This sign-up link was already used." };
  if (stored.expiresAt <= now) return { ok: false, status: 410, message: "This sign-up link has expired." };
  const { tokenHash: _hidden, ...registration } = stored;
  return { ok: true, registration };
}

export type SignupResult =
  | { ok: true; tenant: Tenant; apiKey: string; returning: boolean }
  | { ok: false; status: number; message: string };

/** Completes the sign-up form: validates it, then links the registration to a tenant. */
export async function completeSignup(
  marketplace: Marketplace,
  tenants: Tenants,
  form: { registration?: unknown; name?: unknown; email?: unknown },
  now: number,
): Promise<SignupResult> {
  const pending = await findRegistration(marketplace, form.registration, now);
  if (!pending.ok) return pending;
  const { registration } = pending;
  const input = parseSignup(form.name, form.email);
  if (typeof input === "string") return { ok: false, status: 400, message: input };

  // A buyer who comes back with a new token (a new license, a renewal) keeps their tenant.
  const linkedTo = marketplace.buyers.directory.get(registration.customerId)?.tenantId;
  const existing = linkedTo ? tenants.get(linkedTo) : undefined;
  try {
    if (existing) {
      await marketplace.link(registration.id, existing.id);
      return { ok: true, tenant: existing, apiKey: tenants.rotateKey(existing.id), returning: true };
    }
    const { tenant, apiKey } = tenants.create(input);
    try {
      await marketplace.link(registration.id, tenant.id);
    } catch (err) {
      tenants.remove(tenant.id);
      throw err;
    }
    return { ok: true, tenant, apiKey, returning: false };
  } catch (err) {
    // link() answers expired or already-used links with a coded error that carries the HTTP status.
    if (isMarketplaceError(err)) {
      const status = Number(err.details?.httpStatus ?? 500);
      return { ok: false, status, message: err.message };
    }
    throw err;
  }
}
