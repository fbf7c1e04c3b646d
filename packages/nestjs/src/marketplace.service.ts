/** `MarketplaceService`: the marketplace instance itself, injectable by class. */
import type { Marketplace } from "@marketmeter/core";

/**
 * The configured marketplace, injectable anywhere the module is visible. Its provider is the core's
 * instance itself, so every method of `Marketplace` is here, with nothing in between.
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
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the class is the injection token, the interface its type
export abstract class MarketplaceService {}
export interface MarketplaceService extends Marketplace {}
