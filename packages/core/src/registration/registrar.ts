import { randomBytes } from "node:crypto";
import {
  type MarketplaceMeteringClient,
  ResolveCustomerCommand,
  type ResolveCustomerCommandOutput,
} from "@aws-sdk/client-marketplace-metering";
import { callDeadlineOf, withDeadline } from "../aws/index.js";
import {
  type CustomerRecord,
  compact,
  type Directory,
  type Registration,
  type StoredRegistration,
} from "../directory/index.js";
import { isMarketplaceError, MarketplaceError } from "../errors/index.js";
import { type Identity, isValidLicenseArn, licenseIdOf, parseIdentity } from "../identity/index.js";
import type { Clock, Logger } from "../runtime/index.js";
import { awsErrorInfo, toAwsError } from "./aws-errors.js";
import type { IncomingRequest } from "./request.js";
import { BUYER_RETRY_HINT, hashToken, parseRegistrationForm } from "./token.js";

export interface RegistrarOptions {
  productCodes: ReadonlySet<string>;
  meteringClient: MarketplaceMeteringClient | undefined;
  directory: Directory;
  clock: Clock;
  logger: Logger;
  ttlMs: number;
  maxBodyBytes: number;
}

/** New random id: `prefix` + base64url of `bytes` random bytes. */
export function randomId(prefix: string, bytes: number): string {
  return prefix + randomBytes(bytes).toString("base64url");
}

const REGISTRATION_ID = /^reg_[A-Za-z0-9_-]{32}$/;

function publicView(r: StoredRegistration): Registration {
  const { tokenHash: _omit, ...rest } = r;
  return Object.freeze(rest);
}

/**
 * The fulfillment-URL flow: token → ResolveCustomer → pending registration → `link` to a tenant.
 */
export class Registrar {
  readonly #o: RegistrarOptions;
  readonly #inflight = new Map<string, Promise<Registration>>();
  #lastSweep = 0;

  constructor(options: RegistrarOptions) {
    this.#o = options;
  }

  async register(request: IncomingRequest): Promise<Registration> {
    const form = parseRegistrationForm(request, this.#o.maxBodyBytes);
    const tokenHash = hashToken(form.token);
    // A double submit (two clicks, a browser retry) shares one resolution and one registration.
    let pending = this.#inflight.get(tokenHash);
    if (!pending) {
      pending = this.#register(form.token, tokenHash, form.freeTrial).finally(() =>
        this.#inflight.delete(tokenHash),
      );
      this.#inflight.set(tokenHash, pending);
    }
    return pending;
  }

  async #register(token: string, tokenHash: string, freeTrial: boolean): Promise<Registration> {
    const o = this.#o;
    await o.directory.ready();
    const now = o.clock();
    this.#sweep(now);
    const log = { tokenHash: tokenHash.slice(0, 12) };
    const existing = await this.#store((s) => s.findRegistrationByTokenHash(tokenHash, now));
    if (existing) {
      o.logger.debug(
        { ...log, registrationId: existing.id.slice(0, 8) },
        "registration token submitted again",
      );
      return publicView(existing);
    }
    if (!o.meteringClient)
      throw new MarketplaceError(
        "INVALID_CONFIG",
        "registration needs a metering client: pass aws options or meteringClient",
        {
          details: { httpStatus: 500 },
        },
      );
    let out: ResolveCustomerCommandOutput;
    try {
      const client = o.meteringClient;
      out = await withDeadline("ResolveCustomer", callDeadlineOf(client), (abortSignal) =>
        client.send(new ResolveCustomerCommand({ RegistrationToken: token }), { abortSignal }),
      );
    } catch (err) {
      const { name } = awsErrorInfo(err);
      o.logger.warn({ ...log, awsError: name }, "ResolveCustomer failed");
      if (name === "ExpiredTokenException")
        throw new MarketplaceError(
          "EXPIRED_TOKEN",
          `Your AWS Marketplace sign-up link has expired. ${BUYER_RETRY_HINT}`,
          {
            cause: err,
            details: { httpStatus: 400 },
          },
        );
      if (name === "InvalidTokenException" || name === "ValidationException")
        throw new MarketplaceError(
          "INVALID_TOKEN",
          `AWS Marketplace did not accept this sign-up link. ${BUYER_RETRY_HINT}`,
          {
            cause: err,
            details: { httpStatus: 400 },
          },
        );
      throw toAwsError(err, "ResolveCustomer");
    }
    const productCode = out.ProductCode;
    if (typeof productCode !== "string" || !o.productCodes.has(productCode)) {
      o.logger.warn({ ...log, productCode }, "registration token is for a product that is not configured");
      throw new MarketplaceError(
        "FOREIGN_PRODUCT",
        "This AWS Marketplace sign-up link is for a product this service does not sell. Check that you opened the right product in AWS Marketplace.",
        { details: { httpStatus: 400, productCode } },
      );
    }
    const aliases = compact({
      customerIdentifier: nonEmpty(out.CustomerIdentifier),
      customerAWSAccountId: nonEmpty(out.CustomerAWSAccountId),
      licenseArn: nonEmpty(out.LicenseArn),
    });
    let identity: Identity;
    try {
      // Legacy products keep billing by customer identifier; new integrations get account + license.
      identity = aliases.customerIdentifier
        ? parseIdentity({ productCode, customerIdentifier: aliases.customerIdentifier })
        : parseIdentity({
            productCode,
            customerAWSAccountId: aliases.customerAWSAccountId,
            licenseArn:
              aliases.licenseArn && isValidLicenseArn(aliases.licenseArn) ? aliases.licenseArn : undefined,
          });
    } catch (cause) {
      throw new MarketplaceError(
        "AWS_REJECTED",
        "ResolveCustomer returned no usable buyer identity; please retry later.",
        {
          cause,
          details: { httpStatus: 502 },
        },
      );
    }
    const customer = await this.#ensureCustomer(productCode, identity, aliases, freeTrial, now);
    const registration: StoredRegistration = Object.freeze(
      compact({
        id: randomId("reg_", 24),
        tokenHash,
        productCode,
        identity,
        ...aliases,
        freeTrial,
        customerId: customer.id,
        createdAt: now,
        expiresAt: now + o.ttlMs,
      }),
    );
    await this.#store((s) => s.saveRegistration(registration));
    o.logger.info(
      { ...log, productCode, customerId: customer.id, status: customer.status, freeTrial },
      "buyer registered through the fulfillment URL",
    );
    return publicView(registration);
  }

  /**
   * Finds the buyer's record (by license id, legacy identifier or exact identity) or creates a pending
   * one; if events already created separate records under different names, they are merged.
   */
  async #ensureCustomer(
    productCode: string,
    identity: Identity,
    aliases: { customerIdentifier?: string; customerAWSAccountId?: string; licenseArn?: string },
    freeTrial: boolean,
    now: number,
  ): Promise<CustomerRecord> {
    const dir = this.#o.directory;
    const found = new Map<string, CustomerRecord>();
    const add = (r: CustomerRecord | undefined) => {
      if (r && r.productCode === productCode) found.set(r.id, r);
    };
    const lookup = () => {
      add(dir.getByIdentity(identity));
      if (aliases.licenseArn) add(dir.findByLicense(aliases.licenseArn));
      if (aliases.customerIdentifier)
        add(dir.findByCustomerIdentifier(productCode, aliases.customerIdentifier));
    };
    lookup();
    // Another instance may have created the buyer (from an event) since this one last read the store.
    if (found.size === 0) {
      await dir.refresh();
      lookup();
    }
    const records = [...found.values()];
    if (records.length === 0) {
      const record: CustomerRecord = compact({
        id: randomId("cus_", 12),
        productCode,
        identity,
        ...aliases,
        status: "pending",
        // No event seen yet: any real notification, however old, outranks this placeholder state.
        statusAt: 0,
        freeTrial: freeTrial || undefined,
        createdAt: now,
        updatedAt: now,
      });
      await dir.save(record);
      return record;
    }
    // Prefer a record already bound to a tenant, then the one with the newest status.
    records.sort(
      (a, b) =>
        Number(b.tenantId !== undefined) - Number(a.tenantId !== undefined) || b.statusAt - a.statusAt,
    );
    const [primary, ...others] = records as [CustomerRecord, ...CustomerRecord[]];
    const newest = [primary, ...others].reduce((a, b) => (b.statusAt > a.statusAt ? b : a));
    for (const other of others) {
      if (other.tenantId !== undefined && other.tenantId !== primary.tenantId)
        this.#o.logger.warn(
          { customerId: primary.id, mergedId: other.id },
          "merging two directory records of one buyer that were bound to different tenants; keeping the first",
        );
    }
    const merged: CustomerRecord = compact({
      ...primary,
      identity,
      ...aliases,
      licenseArn: aliases.licenseArn ?? primary.licenseArn ?? others.find((r) => r.licenseArn)?.licenseArn,
      agreementId: primary.agreementId ?? others.find((r) => r.agreementId)?.agreementId,
      status: newest.status,
      statusAt: newest.statusAt,
      finalWindowEndsAt: newest.finalWindowEndsAt,
      finalMeteringAt: newest.finalMeteringAt,
      entitlements: primary.entitlements ?? others.find((r) => r.entitlements)?.entitlements,
      freeTrial: freeTrial || primary.freeTrial || undefined,
      updatedAt: now,
    });
    for (const other of others) await dir.remove(other.id);
    await dir.save(merged);
    return merged;
  }

  /** Binds a pending registration to the seller's tenant. */
  async link(registrationId: unknown, tenantId: unknown): Promise<CustomerRecord> {
    if (typeof registrationId !== "string" || !REGISTRATION_ID.test(registrationId))
      throw new MarketplaceError(
        "REGISTRATION_NOT_FOUND",
        "unknown registration id; start again from AWS Marketplace",
        {
          details: { httpStatus: 404 },
        },
      );
    if (typeof tenantId !== "string" || tenantId.length === 0 || tenantId.length > 256)
      throw new MarketplaceError(
        "INVALID_ARGUMENT",
        "tenantId must be a non-empty string of at most 256 characters",
        {
          details: { httpStatus: 400 },
        },
      );
    const o = this.#o;
    await o.directory.ready();
    const now = o.clock();
    const stored = await this.#store((s) => s.getRegistration(registrationId));
    if (!stored) throw notFound();
    if (stored.tenantId !== undefined) throw alreadyLinked();
    if (stored.expiresAt <= now) throw expired();
    const before = this.#customerOf(stored);
    if (before?.tenantId !== undefined && before.tenantId !== tenantId)
      throw new MarketplaceError(
        "IDENTITY_ALREADY_LINKED",
        "This AWS Marketplace subscription is already linked to another account; sign in to that account instead.",
        { details: { httpStatus: 409 } },
      );
    const claim = await this.#store((s) => s.claimRegistration(registrationId, tenantId, now));
    if (!claim.ok) {
      if (claim.reason === "not-found") throw notFound();
      throw claim.reason === "linked" ? alreadyLinked() : expired();
    }
    // Re-read after the await: an event may have changed the record meanwhile.
    const current = this.#customerOf(claim.registration);
    const base: CustomerRecord =
      current ??
      (await this.#ensureCustomer(
        stored.productCode,
        stored.identity,
        compact({
          customerIdentifier: stored.customerIdentifier,
          customerAWSAccountId: stored.customerAWSAccountId,
          licenseArn: stored.licenseArn,
        }),
        stored.freeTrial,
        now,
      ));
    const linked: CustomerRecord = { ...base, tenantId, updatedAt: now };
    await o.directory.save(linked);
    o.logger.info({ customerId: linked.id, status: linked.status }, "registration linked to a tenant");
    return o.directory.get(linked.id) ?? linked;
  }

  #customerOf(r: StoredRegistration): CustomerRecord | undefined {
    const dir = this.#o.directory;
    const byId = dir.get(r.customerId);
    if (byId) return byId;
    // The record may have been merged into another one since.
    if (r.licenseArn) {
      const byLicense = dir.findByLicense(licenseIdOf(r.licenseArn));
      if (byLicense) return byLicense;
    }
    return dir.getByIdentity(r.identity);
  }

  #sweep(now: number): void {
    if (now - this.#lastSweep < this.#o.ttlMs) return;
    this.#lastSweep = now;
    Promise.resolve()
      .then(() => this.#o.directory.store.deleteExpiredRegistrations(now))
      .catch((err) => this.#o.logger.warn({ err }, "removing expired registrations failed"));
  }

  async #store<T>(op: (s: Directory["store"]) => T | Promise<T>): Promise<T> {
    try {
      return await op(this.#o.directory.store);
    } catch (cause) {
      if (isMarketplaceError(cause)) throw cause;
      throw new MarketplaceError("STORE_ERROR", "the directory store failed; please retry", {
        cause,
        details: { httpStatus: 503 },
      });
    }
  }
}

function nonEmpty(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}

function notFound(): MarketplaceError {
  return new MarketplaceError(
    "REGISTRATION_NOT_FOUND",
    "unknown registration id; start again from AWS Marketplace",
    {
      details: { httpStatus: 404 },
    },
  );
}

function alreadyLinked(): MarketplaceError {
  return new MarketplaceError(
    "REGISTRATION_ALREADY_LINKED",
    "This registration was already linked to an account.",
    {
      details: { httpStatus: 409 },
    },
  );
}

function expired(): MarketplaceError {
  return new MarketplaceError("REGISTRATION_EXPIRED", `This registration has expired. ${BUYER_RETRY_HINT}`, {
    details: { httpStatus: 410 },
  });
}
