import { randomBytes, randomUUID } from "node:crypto";
import { createClock, type EmulatorClock, toEpochMs } from "./clock.js";
import {
  type Customer,
  type CustomerConfig,
  DEFAULT_SELLER_ACCOUNT_ID,
  type EmulatorConfig,
  type Entitlement,
  type EntitlementConfig,
  type License,
  type LicenseConfig,
  loadConfig,
  type Product,
  type ProductConfig,
  parseCustomer,
  parseEntitlement,
  parseLicense,
  parseProduct,
  parseTokenInput,
  type Token,
  withPath,
} from "./config.js";
import { EmulatorError, invalidArgument } from "./errors.js";
import { type FaultConfig, FaultEngine, parseFaults } from "./faults.js";
import {
  applyProfilePatch,
  defaultProfile,
  type OperationName,
  type Profile,
  type ProfilePatch,
} from "./profile.js";
import { createRandom } from "./random.js";
import type {
  ApiCall,
  BilledRecord,
  DuplicateAttempt,
  LifecycleAction,
  LifecycleNotification,
  RejectedRequest,
  WebhookConfig,
} from "./types.js";

/** Filter for {@link EmulatorState.ledger}; every field narrows the result. */
export interface LedgerFilter {
  region?: string;
  productCode?: string;
  /** Matches customerIdentifier, customerAWSAccountId or licenseArn. */
  customer?: string;
  dimension?: string;
  /** Any instant inside the hour (Date, ISO string or epoch ms); matched on the UTC hour. */
  hour?: Date | string | number;
  operation?: "BatchMeterUsage" | "MeterUsage";
}

/** Who a lifecycle action targets: a license, a legacy customer, or (for suspend) a whole account. */
export interface BuyerRef {
  licenseArn?: string;
  customerIdentifier?: string;
  /** With customerIdentifier, picks the product when the identifier is used on several. */
  productCode?: string;
  customerAWSAccountId?: string;
}

/** Input of `subscribe`: an existing license/customer, or a new one for productCode + customerAWSAccountId. */
export interface SubscribeInput extends BuyerRef {
  /** Legacy only: simulate a failed subscription (`subscribe-fail`). */
  fail?: boolean;
  /** Legacy only: `isFreeTrialTermPresent` of the notification. */
  freeTrial?: boolean;
  agreementId?: string;
  offerId?: string;
}

/** Input of `mintToken`. */
export interface MintTokenInput extends BuyerRef {
  /** When AWS issued it. @default now */
  issuedAt?: Date | string | number;
  /** Use this token string instead of a random one. */
  token?: string;
}

/** Result of a lifecycle action. */
export type BuyerState = { kind: "license"; license: License } | { kind: "customer"; customer: Customer };

export interface EmulatorStateOptions {
  config?: EmulatorConfig | string;
  /** Seed of the PRNG behind probabilistic faults. @default 1 */
  seed?: number;
  /** Delivers lifecycle notifications (EventBridge/SNS). */
  emit?: (n: LifecycleNotification) => Promise<void>;
  /** Receives problems that must not fail a request (e.g. a notifier error). */
  log?: (line: string) => void;
  /**
   * Monotonic milliseconds behind the rate limits (throttling follows the caller's real request rate,
   * not the emulated clock). Tests can pass a controllable source.
   * @default performance.now
   */
  rateClock?: () => number;
}

interface MeterUsageEntry {
  record: BilledRecord;
  fingerprint: string;
}

interface Bucket {
  tokens: number;
  last: number;
}

const HOUR = 3600_000;
const MAX_LOG = 10_000;

/** Start of the UTC hour containing `ms`. */
export const hourStart = (ms: number): number => Math.floor(ms / HOUR) * HOUR;

const push = <T>(list: T[], item: T) => {
  list.push(item);
  if (list.length > MAX_LOG) list.splice(0, list.length - MAX_LOG);
};

/**
 * All emulator state: fixtures, buyers over time, the ledger, tokens, faults, rate buckets. The HTTP
 * layer and the programmatic API both work on this object.
 */
export class EmulatorState {
  readonly clock: EmulatorClock;
  sellerAccountId = DEFAULT_SELLER_ACCOUNT_ID;
  defaultBuyerAccountId: string | undefined;
  profile: Profile = defaultProfile();
  readonly products = new Map<string, Product>();
  readonly licenses = new Map<string, License>();
  /** Key: productCode + NUL + customerIdentifier. */
  readonly customers = new Map<string, Customer>();
  readonly tokens = new Map<string, Token>();
  readonly suspendedAccounts = new Set<string>();
  entitlements: Entitlement[] = [];
  webhooks: WebhookConfig = {};
  faults: FaultEngine;

  /** Billed BatchMeterUsage grains: key → first write. */
  readonly grains = new Map<string, BilledRecord>();
  /** MeterUsage (non-AgentCore) idempotency: key → first write. */
  readonly meterUsageGrains = new Map<string, MeterUsageEntry>();
  /** MeterUsage AgentCore ClientToken → first call. */
  readonly clientTokens = new Map<string, MeterUsageEntry>();
  /** RegisterUsage: tasks that passed their first call. */
  readonly registeredTasks = new Set<string>();
  private ledgerList: BilledRecord[] = [];
  private duplicateList: DuplicateAttempt[] = [];
  private rejectedList: RejectedRequest[] = [];
  private callList: ApiCall[] = [];
  private readonly buckets = new Map<string, Bucket>();
  private scheduled: Array<{ at: number; run: () => Promise<void> }> = [];
  private processing: Promise<void> = Promise.resolve();
  private readonly config: EmulatorConfig;
  private readonly seed: number;
  private readonly emitFn?: (n: LifecycleNotification) => Promise<void>;
  private readonly logFn?: (line: string) => void;
  private readonly rateClock: () => number;

  constructor(options: EmulatorStateOptions = {}) {
    if (options.seed !== undefined && !Number.isInteger(options.seed)) {
      throw invalidArgument("seed must be an integer");
    }
    this.config = loadConfig(options.config);
    this.seed = options.seed ?? 1;
    this.emitFn = options.emit;
    this.logFn = options.log;
    if (options.rateClock !== undefined && typeof options.rateClock !== "function") {
      throw invalidArgument("rateClock must be a function returning milliseconds");
    }
    this.rateClock = options.rateClock ?? (() => performance.now());
    this.faults = new FaultEngine(createRandom(this.seed));
    this.clock = createClock(() => {
      void this.processDue();
    });
    this.load(this.config, true);
  }

  /** Loads (or reloads) everything from the initial config. */
  private load(config: EmulatorConfig, setClock: boolean): void {
    this.sellerAccountId = config.sellerAccountId ?? DEFAULT_SELLER_ACCOUNT_ID;
    this.defaultBuyerAccountId = config.defaultBuyerAccountId;
    this.profile = config.profile
      ? withPath("config.profile", () => applyProfilePatch(defaultProfile(), config.profile))
      : defaultProfile();
    this.faults = new FaultEngine(createRandom(this.seed));
    if (config.faults) withPath("config.faults", () => this.faults.set(parseFaults(config.faults)));
    this.webhooks = config.webhooks ?? {};
    if (setClock && config.clock?.start !== undefined) {
      this.clock.set(config.clock.start, { freeze: config.clock.frozen ?? false });
    } else if (setClock && config.clock?.frozen) this.clock.freeze();
    const start = this.clock.now().getTime();
    for (const m of [
      this.products,
      this.licenses,
      this.customers,
      this.tokens,
      this.grains,
      this.meterUsageGrains,
      this.clientTokens,
    ]) {
      m.clear();
    }
    this.registeredTasks.clear();
    this.suspendedAccounts.clear();
    this.buckets.clear();
    this.entitlements = [];
    this.ledgerList = [];
    this.duplicateList = [];
    this.rejectedList = [];
    this.callList = [];
    this.scheduled = [];
    for (const [i, p] of (config.products ?? []).entries()) {
      this.putProduct(parseProduct(p, `config.products[${i}]`, this.sellerAccountId));
    }
    for (const [i, l] of (config.licenses ?? []).entries()) {
      this.putLicense(parseLicense(l, `config.licenses[${i}]`), `config.licenses[${i}]`);
    }
    for (const [i, c] of (config.customers ?? []).entries()) {
      this.putCustomer(parseCustomer(c, `config.customers[${i}]`, start), `config.customers[${i}]`);
    }
    for (const [i, e] of (config.entitlements ?? []).entries()) {
      this.entitlements.push(parseEntitlement(e, `config.entitlements[${i}]`));
    }
    for (const [i, t] of (config.tokens ?? []).entries()) {
      withPath(`config.tokens[${i}]`, () => this.mintToken(parseTokenInput(t, "token")));
    }
  }

  /** Back to the initial config: fixtures, profile, faults, empty ledger and logs (the clock is reset too). */
  reset(): void {
    this.load(this.config, true);
  }

  // ---------------------------------------------------------------- fixtures

  /** Inserts an already-validated product. */
  putProduct(p: Product): Product {
    this.products.set(p.productCode, p);
    return p;
  }

  /** Inserts an already-validated license (its product must exist). */
  putLicense(l: License, path = "license"): License {
    if (!this.products.has(l.productCode)) {
      throw new EmulatorError(
        "EMU_INVALID_CONFIG",
        `${path}: unknown productCode "${l.productCode}"; add the product first`,
      );
    }
    this.licenses.set(l.licenseArn, l);
    return l;
  }

  /** Inserts an already-validated legacy customer (its product must exist). */
  putCustomer(c: Customer, path = "customer"): Customer {
    if (!this.products.has(c.productCode)) {
      throw new EmulatorError(
        "EMU_INVALID_CONFIG",
        `${path}: unknown productCode "${c.productCode}"; add the product first`,
      );
    }
    this.customers.set(`${c.productCode}\u0000${c.customerIdentifier}`, c);
    return c;
  }

  /** Adds or replaces a product. */
  addProduct(input: ProductConfig): Product {
    return this.putProduct(parseProduct(input, "product", this.sellerAccountId));
  }

  /** Adds or replaces a license (its product must exist). */
  addLicense(input: LicenseConfig): License {
    return this.putLicense(parseLicense(input, "license"));
  }

  /** Adds or replaces a legacy customer (its product must exist). */
  addCustomer(input: CustomerConfig): Customer {
    return this.putCustomer(parseCustomer(input, "customer", this.now()));
  }

  now(): number {
    return this.clock.now().getTime();
  }

  /** Finds a legacy customer by identifier (and product when given). */
  findCustomer(customerIdentifier: string, productCode?: string): Customer | undefined {
    if (productCode) return this.customers.get(`${productCode}\u0000${customerIdentifier}`);
    for (const c of this.customers.values()) if (c.customerIdentifier === customerIdentifier) return c;
    return undefined;
  }

  // ---------------------------------------------------------------- tokens

  /** Issues a registration token for a license, a legacy customer, or productCode + account; returns it. */
  mintToken(input: MintTokenInput): string {
    if (typeof input !== "object" || input === null) throw invalidArgument("mintToken needs an object");
    const issuedAt = input.issuedAt === undefined ? this.now() : toEpochMs(input.issuedAt, "issuedAt");
    if (input.token !== undefined && (typeof input.token !== "string" || input.token.length === 0)) {
      throw invalidArgument("token must be a non-empty string");
    }
    const token = input.token ?? randomBytes(32).toString("base64");
    let t: Token;
    if (input.licenseArn) {
      const l = this.licenses.get(input.licenseArn);
      if (!l) throw new EmulatorError("EMU_NOT_FOUND", `no license ${input.licenseArn}; add it first`);
      t = {
        token,
        productCode: l.productCode,
        customerAWSAccountId: l.customerAWSAccountId,
        licenseArn: l.licenseArn,
        issuedAt,
      };
    } else if (input.customerIdentifier) {
      const c = this.findCustomer(input.customerIdentifier, input.productCode);
      if (!c)
        throw new EmulatorError(
          "EMU_NOT_FOUND",
          `no legacy customer ${input.customerIdentifier}; add it first`,
        );
      t = {
        token,
        productCode: c.productCode,
        customerAWSAccountId: c.customerAWSAccountId,
        customerIdentifier: c.customerIdentifier,
        licenseArn: c.licenseArn,
        issuedAt,
      };
    } else if (input.productCode && input.customerAWSAccountId) {
      if (!/^[0-9]+$/.test(input.customerAWSAccountId))
        throw invalidArgument("customerAWSAccountId must be digits");
      const l = [...this.licenses.values()].find(
        (x) => x.productCode === input.productCode && x.customerAWSAccountId === input.customerAWSAccountId,
      );
      t = {
        token,
        productCode: input.productCode,
        customerAWSAccountId: input.customerAWSAccountId,
        licenseArn: l?.licenseArn,
        issuedAt,
      };
    } else {
      throw invalidArgument(
        "mintToken needs licenseArn, customerIdentifier, or productCode + customerAWSAccountId",
      );
    }
    this.tokens.set(token, t);
    return token;
  }

  // ---------------------------------------------------------------- buyer state

  /** Whether usage for this license is metered now (else `CustomerNotSubscribed`). */
  licenseActive(l: License, now = this.now()): boolean {
    if (l.suspended || this.suspendedAccounts.has(l.customerAWSAccountId)) return false;
    if (l.activatedAt === undefined || l.activatedAt > now) return false;
    if (this.profile.deprovisionOrder === "windowAfterDeprovision") {
      if (l.deprovisionedAt !== undefined && now >= l.deprovisionedAt + this.profile.finalWindowMs)
        return false;
    } else {
      if (l.deprovisionedAt !== undefined && now >= l.deprovisionedAt) return false;
      if (l.agreementEndedAt !== undefined && now >= l.agreementEndedAt + this.profile.finalWindowMs)
        return false;
    }
    return true;
  }

  /** Whether usage for this legacy customer is metered now. */
  customerActive(c: Customer, now = this.now()): boolean {
    if (c.suspended || this.suspendedAccounts.has(c.customerAWSAccountId)) return false;
    if (c.status === "subscribed") return true;
    if (c.status === "unsubscribe-pending") {
      return c.unsubscribedAt === undefined || now < c.unsubscribedAt + this.profile.finalWindowMs;
    }
    return false;
  }

  /** Whether the account holds any active license or subscription on the product (MeterUsage/RegisterUsage). */
  accountEntitled(productCode: string, account: string): boolean {
    for (const l of this.licenses.values()) {
      if (l.productCode === productCode && l.customerAWSAccountId === account && this.licenseActive(l))
        return true;
    }
    for (const c of this.customers.values()) {
      if (c.productCode === productCode && c.customerAWSAccountId === account && this.customerActive(c))
        return true;
    }
    return false;
  }

  private resolveBuyer(ref: BuyerRef, action: string): BuyerState {
    if (typeof ref !== "object" || ref === null) throw invalidArgument(`${action} needs an object`);
    if (ref.licenseArn) {
      const license = this.licenses.get(ref.licenseArn);
      if (!license) throw new EmulatorError("EMU_NOT_FOUND", `${action}: no license ${ref.licenseArn}`);
      return { kind: "license", license };
    }
    if (ref.customerIdentifier) {
      const customer = this.findCustomer(ref.customerIdentifier, ref.productCode);
      if (!customer)
        throw new EmulatorError("EMU_NOT_FOUND", `${action}: no legacy customer ${ref.customerIdentifier}`);
      return { kind: "customer", customer };
    }
    throw invalidArgument(`${action} needs licenseArn or customerIdentifier`);
  }

  private async emit(n: Omit<LifecycleNotification, "time"> & { time?: Date }): Promise<void> {
    if (!this.emitFn) return;
    try {
      await this.emitFn({ ...n, time: n.time ?? this.clock.now() });
    } catch (err) {
      this.logFn?.(`notification ${n.action} not delivered: ${(err as Error).message}`);
    }
  }

  private licenseNote(l: License, action: LifecycleAction, extra: Partial<LifecycleNotification> = {}) {
    return {
      action,
      productCode: l.productCode,
      productId: this.products.get(l.productCode)?.productId,
      customerAWSAccountId: l.customerAWSAccountId,
      licenseArn: l.licenseArn,
      agreementId: l.agreementId,
      offerId: l.offerId,
      ...extra,
    };
  }

  private customerNote(c: Customer, action: LifecycleAction, extra: Partial<LifecycleNotification> = {}) {
    return {
      action,
      productCode: c.productCode,
      productId: this.products.get(c.productCode)?.productId,
      customerIdentifier: c.customerIdentifier,
      customerAWSAccountId: c.customerAWSAccountId,
      ...extra,
    };
  }

  /**
   * Buyer subscribes (or an existing license is activated). Concurrent-Agreements products get
   * `agreement-created` (new license) and `license-updated`; legacy customers `subscribe-success`
   * (or `subscribe-fail` with `fail: true`).
   */
  async subscribe(input: SubscribeInput): Promise<BuyerState> {
    if (typeof input !== "object" || input === null) throw invalidArgument("subscribe needs an object");
    const now = this.now();
    let product = input.productCode ? this.products.get(input.productCode) : undefined;
    if (input.productCode && !product)
      throw new EmulatorError("EMU_NOT_FOUND", `subscribe: unknown product ${input.productCode}`);
    const existingLicense = input.licenseArn ? this.licenses.get(input.licenseArn) : undefined;
    const wantsLicense =
      Boolean(input.licenseArn) || (!input.customerIdentifier && product?.kind === "concurrent-agreements");
    if (wantsLicense) {
      let license = existingLicense;
      let created = false;
      if (!license) {
        if (!product || !input.customerAWSAccountId) {
          throw invalidArgument("subscribe: a new license needs productCode and customerAWSAccountId");
        }
        license = parseLicense(
          {
            licenseArn:
              input.licenseArn ??
              `arn:aws:license-manager::294406891311:license:l-${randomBytes(16).toString("hex")}`,
            customerAWSAccountId: input.customerAWSAccountId,
            productCode: product.productCode,
            status: "pending",
            agreementId: input.agreementId,
            offerId: input.offerId,
          },
          "subscribe",
        );
        this.putLicense(license);
        created = true;
      } else if (license.deprovisionedAt !== undefined || license.agreementEndedAt !== undefined) {
        throw new EmulatorError(
          "EMU_CONFLICT",
          `subscribe: license ${license.licenseArn} has ended; subscribe without licenseArn for a new one`,
        );
      }
      if (created || license.activatedAt === undefined) {
        await this.emit(
          this.licenseNote(license, "agreement-created", {
            agreementStatus: "ACTIVE",
            agreementIntent: "NEW",
          }),
        );
      }
      if (license.activatedAt === undefined || license.activatedAt > now) license.activatedAt = now;
      await this.emit(this.licenseNote(license, "license-updated"));
      return { kind: "license", license };
    }
    let customer = input.customerIdentifier
      ? this.findCustomer(input.customerIdentifier, input.productCode)
      : undefined;
    if (!customer) {
      if (!product || !input.customerAWSAccountId) {
        throw invalidArgument("subscribe: a new legacy customer needs productCode and customerAWSAccountId");
      }
      customer = this.putCustomer(
        parseCustomer(
          {
            customerIdentifier: input.customerIdentifier ?? `cust-${randomBytes(6).toString("hex")}`,
            customerAWSAccountId: input.customerAWSAccountId,
            productCode: product.productCode,
            status: "pending",
          },
          "subscribe",
          now,
        ),
      );
    }
    product = this.products.get(customer.productCode);
    if (input.fail) {
      customer.status = "subscribe-failed";
      await this.emit(
        this.customerNote(customer, "subscribe-fail", { isFreeTrialTermPresent: Boolean(input.freeTrial) }),
      );
    } else {
      customer.status = "subscribed";
      customer.unsubscribedAt = undefined;
      await this.emit(
        this.customerNote(customer, "subscribe-success", {
          isFreeTrialTermPresent: Boolean(input.freeTrial),
        }),
      );
    }
    return { kind: "customer", customer };
  }

  /**
   * Buyer cancels. Legacy: `unsubscribe-pending` now, `unsubscribe-success` when the final window
   * closes. Concurrent Agreements: the agreement ends (same as {@link deprovision}).
   */
  async unsubscribe(ref: BuyerRef): Promise<BuyerState> {
    const b = this.resolveBuyer(ref, "unsubscribe");
    if (b.kind === "license") return this.deprovision(ref);
    const c = b.customer;
    const now = this.now();
    c.status = "unsubscribe-pending";
    c.unsubscribedAt = now;
    await this.emit(this.customerNote(c, "unsubscribe-pending"));
    this.schedule(now + this.profile.finalWindowMs, async () => {
      if (c.status !== "unsubscribe-pending" || c.unsubscribedAt !== now) return;
      c.status = "unsubscribed";
      await this.emit(
        this.customerNote(c, "unsubscribe-success", { time: new Date(now + this.profile.finalWindowMs) }),
      );
    });
    return b;
  }

  /**
   * Ends a license or a legacy subscription. Licenses follow `profile.deprovisionOrder`:
   * "windowAfterDeprovision" sends `agreement-ended` + `license-deprovisioned` now and keeps metering
   * open for `finalWindowMs`; "afterWindow" sends `agreement-ended` now and `license-deprovisioned` when
   * the window closes. Legacy customers get `unsubscribe-success` at once.
   */
  async deprovision(ref: BuyerRef): Promise<BuyerState> {
    const b = this.resolveBuyer(ref, "deprovision");
    const now = this.now();
    if (b.kind === "customer") {
      b.customer.status = "unsubscribed";
      b.customer.unsubscribedAt ??= now;
      await this.emit(this.customerNote(b.customer, "unsubscribe-success"));
      return b;
    }
    const l = b.license;
    if (l.deprovisionedAt !== undefined)
      throw new EmulatorError("EMU_CONFLICT", `license ${l.licenseArn} is already deprovisioned`);
    const ended = l.agreementEndedAt === undefined;
    l.agreementEndedAt ??= now;
    if (ended) await this.emit(this.licenseNote(l, "agreement-ended", { agreementStatus: "CANCELLED" }));
    if (this.profile.deprovisionOrder === "windowAfterDeprovision") {
      l.deprovisionedAt = now;
      this.expireEntitlements(l, now + this.profile.finalWindowMs);
      await this.emit(this.licenseNote(l, "license-deprovisioned"));
    } else {
      const at = l.agreementEndedAt + this.profile.finalWindowMs;
      if (!ended && at <= now) {
        l.deprovisionedAt = now;
        await this.emit(this.licenseNote(l, "license-deprovisioned"));
      } else {
        this.schedule(at, async () => {
          if (l.deprovisionedAt !== undefined) return;
          l.deprovisionedAt = at;
          this.expireEntitlements(l, at);
          await this.emit(this.licenseNote(l, "license-deprovisioned", { time: new Date(at) }));
        });
      }
    }
    return b;
  }

  private expireEntitlements(l: License, at: number): void {
    for (const e of this.entitlements) {
      if (e.licenseArn === l.licenseArn && (e.expirationDate === undefined || e.expirationDate > at))
        e.expirationDate = at;
    }
  }

  /**
   * Marks a license, a legacy customer or a whole buyer account suspended (`suspended: false` lifts
   * it). Suspended buyers get `CustomerNotSubscribed`. Notifies `license-updated` / `entitlement-updated`.
   */
  async suspend(
    ref: BuyerRef & { suspended?: boolean },
  ): Promise<BuyerState | { kind: "account"; customerAWSAccountId: string }> {
    if (typeof ref !== "object" || ref === null) throw invalidArgument("suspend needs an object");
    const on = ref.suspended ?? true;
    if (typeof on !== "boolean") throw invalidArgument("suspended must be true or false");
    if (!ref.licenseArn && !ref.customerIdentifier && ref.customerAWSAccountId) {
      if (!/^[0-9]+$/.test(ref.customerAWSAccountId))
        throw invalidArgument("customerAWSAccountId must be digits");
      if (on) this.suspendedAccounts.add(ref.customerAWSAccountId);
      else this.suspendedAccounts.delete(ref.customerAWSAccountId);
      for (const l of this.licenses.values()) {
        if (l.customerAWSAccountId === ref.customerAWSAccountId)
          await this.emit(this.licenseNote(l, "license-updated"));
      }
      for (const c of this.customers.values()) {
        if (c.customerAWSAccountId === ref.customerAWSAccountId)
          await this.emit(this.customerNote(c, "entitlement-updated"));
      }
      return { kind: "account", customerAWSAccountId: ref.customerAWSAccountId };
    }
    const b = this.resolveBuyer(ref, "suspend");
    if (b.kind === "license") {
      b.license.suspended = on;
      await this.emit(this.licenseNote(b.license, "license-updated"));
    } else {
      b.customer.suspended = on;
      await this.emit(this.customerNote(b.customer, "entitlement-updated"));
    }
    return b;
  }

  /**
   * Replaces the entitlements of every (product, buyer) named in `entitlements` (or all of them with
   * `replaceAll`), then notifies `license-updated` (licenses) or `entitlement-updated` (legacy).
   */
  async setEntitlements(
    entitlements: EntitlementConfig[],
    options: { replaceAll?: boolean } = {},
  ): Promise<Entitlement[]> {
    if (!Array.isArray(entitlements)) throw invalidArgument("setEntitlements needs an array");
    const parsed = entitlements.map((e, i) => parseEntitlement(e, `entitlements[${i}]`));
    for (const e of parsed) {
      if (!this.products.has(e.productCode))
        throw new EmulatorError("EMU_NOT_FOUND", `unknown product ${e.productCode}`);
    }
    const idOf = (e: Entitlement) =>
      `${e.productCode}|${e.licenseArn ?? ""}|${e.customerIdentifier ?? ""}|${e.customerAWSAccountId ?? ""}`;
    const touched = new Set(parsed.map(idOf));
    this.entitlements = options.replaceAll
      ? parsed
      : [...this.entitlements.filter((e) => !touched.has(idOf(e))), ...parsed];
    const notified = new Set<string>();
    for (const e of parsed) {
      const license =
        (e.licenseArn && this.licenses.get(e.licenseArn)) ||
        (!e.customerIdentifier &&
          [...this.licenses.values()].find(
            (l) => l.productCode === e.productCode && l.customerAWSAccountId === e.customerAWSAccountId,
          ));
      if (license) {
        if (notified.has(license.licenseArn)) continue;
        notified.add(license.licenseArn);
        await this.emit(this.licenseNote(license, "license-updated"));
        continue;
      }
      const customer =
        (e.customerIdentifier && this.findCustomer(e.customerIdentifier, e.productCode)) ||
        [...this.customers.values()].find(
          (c) => c.productCode === e.productCode && c.customerAWSAccountId === e.customerAWSAccountId,
        );
      if (customer && !notified.has(customer.customerIdentifier)) {
        notified.add(customer.customerIdentifier);
        await this.emit(this.customerNote(customer, "entitlement-updated"));
      }
    }
    return this.entitlements;
  }

  // ---------------------------------------------------------------- timed events

  private schedule(at: number, run: () => Promise<void>): void {
    this.scheduled.push({ at, run });
    this.scheduled.sort((a, b) => a.at - b.at);
  }

  /** Runs lifecycle events whose time has come (the final-window closes). Safe to call often. */
  processDue(): Promise<void> {
    this.processing = this.processing.then(async () => {
      for (;;) {
        const next = this.scheduled[0];
        if (!next || next.at > this.now()) return;
        this.scheduled.shift();
        try {
          await next.run();
        } catch (err) {
          this.logFn?.(`scheduled event failed: ${(err as Error).message}`);
        }
      }
    });
    return this.processing;
  }

  /** True when timed events are waiting. */
  get hasScheduled(): boolean {
    return this.scheduled.length > 0;
  }

  // ---------------------------------------------------------------- profile, faults, throttling

  setProfile(patch: ProfilePatch): Profile {
    this.profile = applyProfilePatch(this.profile, patch);
    return this.profile;
  }

  setFaults(config: FaultConfig, options: { merge?: boolean } = {}): FaultConfig {
    if (options.merge) this.faults.merge(config);
    else this.faults.set(config);
    return this.faults.get();
  }

  /** Takes one request from the (seller, Region, operation) token bucket; false when throttled. */
  takeRateToken(region: string, op: OperationName): boolean {
    const rate = this.profile.rateLimits[op];
    if (!rate) return true;
    const key = `${this.sellerAccountId}|${region}|${op}`;
    // Real monotonic time: throttling is about the caller's request rate, not the emulated clock.
    const t = this.rateClock();
    const b = this.buckets.get(key) ?? { tokens: rate, last: t };
    b.tokens = Math.min(rate, b.tokens + ((t - b.last) / 1000) * rate);
    b.last = t;
    this.buckets.set(key, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  // ---------------------------------------------------------------- ledger and logs

  addBilled(r: BilledRecord): void {
    push(this.ledgerList, r);
  }

  addDuplicate(d: DuplicateAttempt): void {
    push(this.duplicateList, d);
  }

  addRejected(r: RejectedRequest): void {
    push(this.rejectedList, r);
  }

  addCall(c: ApiCall): void {
    push(this.callList, c);
  }

  /** Billed records (first writes), oldest first, optionally filtered. */
  ledger(filter: LedgerFilter = {}): BilledRecord[] {
    if (typeof filter !== "object" || filter === null)
      throw invalidArgument("ledger filter must be an object");
    const hour =
      filter.hour === undefined
        ? undefined
        : new Date(hourStart(toEpochMs(filter.hour, "hour"))).toISOString();
    return this.ledgerList.filter(
      (r) =>
        (filter.region === undefined || r.region === filter.region) &&
        (filter.productCode === undefined || r.productCode === filter.productCode) &&
        (filter.dimension === undefined || r.dimension === filter.dimension) &&
        (filter.operation === undefined || r.operation === filter.operation) &&
        (hour === undefined || r.hour === hour) &&
        (filter.customer === undefined ||
          r.customerIdentifier === filter.customer ||
          r.customerAWSAccountId === filter.customer ||
          r.licenseArn === filter.customer),
    );
  }

  duplicates(): DuplicateAttempt[] {
    return [...this.duplicateList];
  }

  rejected(): RejectedRequest[] {
    return [...this.rejectedList];
  }

  calls(): ApiCall[] {
    return [...this.callList];
  }

  newId(): string {
    return randomUUID();
  }
}
