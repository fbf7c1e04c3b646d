/** `MarketplaceService`: the marketplace, injectable anywhere the module is visible. */
import { Inject, Injectable } from "@nestjs/common";
import type {
  AccessDecision,
  AccessSubject,
  CustomerRecord,
  Entitlement,
  GrainReport,
  IdentityInput,
  IncomingRequest,
  LifecycleOutcome,
  MarketplaceEventName,
  MarketplaceEvents,
  MarketplaceStats,
  Registration,
  ReportQuery,
  UsageInput,
} from "@marketmeter/core";
import { MARKETPLACE_OPTIONS } from "./constants.js";
import type { MarketplaceInstance, ResolvedModuleOptions } from "./options.js";

/**
 * The configured marketplace as a Nest provider. Every method delegates to the core instance; nothing
 * here logs request bodies, so registration tokens never reach a log.
 *
 * @example
 * @Injectable()
 * export class ExportsService {
 *   constructor(private readonly marketplace: MarketplaceService) {}
 *   exported(identity: IdentityInput, rows: number) {
 *     this.marketplace.record({ identity, dimension: "rows_exported", quantity: rows });
 *   }
 * }
 */
@Injectable()
export class MarketplaceService {
  constructor(@Inject(MARKETPLACE_OPTIONS) private readonly options: ResolvedModuleOptions) {}

  /** The core marketplace instance. */
  get marketplace(): MarketplaceInstance {
    return this.options.marketplace;
  }

  /** Records usage (sync, O(1)); throws `MarketplaceError` only for bad input. */
  record(usage: UsageInput & { identity: IdentityInput }): void {
    this.options.marketplace.record(usage);
  }

  /** Closes final hours and sends what is due; with `identity`, that buyer's open hour too. */
  flush(options?: { identity?: IdentityInput }): Promise<void> {
    return this.options.marketplace.flush(options);
  }

  /** Grains and their fate, for audits. */
  report(query?: ReportQuery): Promise<GrainReport[]> {
    return this.options.marketplace.report(query);
  }

  /** Counters since start. */
  stats(): MarketplaceStats {
    return this.options.marketplace.stats();
  }

  /** Subscribes to a marketplace event; returns the unsubscribe function. */
  on<E extends MarketplaceEventName>(event: E, handler: (payload: MarketplaceEvents[E]) => void): () => void {
    return this.options.marketplace.on(event, handler);
  }

  /** Resolves a fulfillment-URL request into a pending registration. */
  register(request: IncomingRequest): Promise<Registration> {
    return this.options.marketplace.register(request);
  }

  /** Binds a registration to your tenant, after the buyer signed up or signed in. */
  link(registrationId: string, tenantId: string): Promise<CustomerRecord> {
    return this.options.marketplace.link(registrationId, tenantId);
  }

  /** Synchronous access decision for an identity or `{ tenantId }`. */
  access(subject: AccessSubject): AccessDecision {
    return this.options.marketplace.access(subject);
  }

  /** A buyer's entitlements (contract products). */
  entitlements(identity: IdentityInput, options?: { refresh?: boolean }): Promise<readonly Entitlement[]> {
    return this.options.marketplace.entitlements(identity, options);
  }

  /** Handles an EventBridge event or webhook request. */
  handleEventBridge(eventOrRequest: unknown): Promise<LifecycleOutcome> {
    return this.options.marketplace.handleEventBridge(eventOrRequest);
  }

  /** Handles an SNS request or envelope. */
  handleSns(requestOrMessage: unknown): Promise<LifecycleOutcome> {
    return this.options.marketplace.handleSns(requestOrMessage);
  }
}
