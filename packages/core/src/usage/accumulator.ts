/**
 * The hot path. `record()` validates its input and adds the quantity to an in-memory cell of the grain
 * (identity × dimension × UTC hour [× tag set]); nothing else happens until the next checkpoint drains the
 * cells into the store. Identity and tag objects are validated once and cached by object identity, so a
 * caller that reuses its identity objects pays one WeakMap lookup and a few Map lookups per record.
 */
import { MarketplaceError } from "../errors/index.js";
import { type Identity, identityKey, parseIdentity } from "../identity/index.js";
import { type Clock, HOUR_MS, systemClock } from "../runtime/index.js";
import type { UsageDelta } from "../stores/index.js";
import { grainKey } from "../stores/index.js";
import { type Allocation, parseAllocations, type Tags, tagSetKey } from "./tags.js";

/** One usage event. */
export interface UsageInput<D extends string = string> {
  /** Who is billed: `{ customerAWSAccountId, licenseArn }`, `{ customerIdentifier }`, … (+ `productCode`). */
  identity: object;
  /** One of the configured dimensions. */
  dimension: D;
  /** A non-negative safe integer. */
  quantity: number;
  /** When the usage happened (Date or epoch ms). @default now */
  timestamp?: Date | number;
  /** Tags for vendor-metered tagging (the whole quantity goes to this tag set). */
  tags?: Tags;
  /** An explicit split of `quantity` over tag sets (sums must match). Exclusive with `tags`. */
  allocations?: readonly Allocation[];
}

interface Cell {
  identityKey: string;
  dimension: string;
  hour: number;
  /** `hour / HOUR_MS`: a small integer, so the fast path compares it without reading a boxed number. */
  hourNo: number;
  quantity: number;
  allocations: Map<string, number> | undefined;
}

interface Slot {
  key: string;
  identity: Identity;
  hour: number;
  cells: Map<string, Cell>;
  epoch: number;
  /** The cell this identity last added to in its current hour (the fast path). */
  last: Cell | undefined;
}

export interface AccumulatorOptions {
  dimensions: readonly string[];
  productCodes: readonly string[];
  clock: Clock;
  /** How far in the future a timestamp may be (clock skew between hosts). */
  maxFutureMs: number;
}

function bad(
  code: "INVALID_DIMENSION" | "INVALID_QUANTITY" | "INVALID_TIMESTAMP" | "INVALID_ARGUMENT",
  msg: string,
): never {
  throw new MarketplaceError(code, msg);
}

export class Accumulator {
  // The fields the fast path reads come first, so they share a cache line.
  private readonly byObject = new WeakMap<object, Slot>();
  private epoch = 0;
  /** With the system clock: the current hour number (`hour / HOUR_MS`), or -1 when it may be stale. */
  private nowHourNo = -1;
  /** Number of `record` calls accepted since start. */
  records = 0;
  /** Sum of accepted quantities since start. */
  quantity = 0;
  private readonly dims: ReadonlySet<string>;
  private readonly products: ReadonlySet<string>;
  private readonly defaultProduct: string | undefined;
  private readonly clock: Clock;
  private readonly maxFutureMs: number;
  private readonly tagKeys = new WeakMap<object, string>();
  private byRaw = new Map<string, Slot>();
  private slots = new Map<string, Slot>();
  private other = new Map<string, Cell>();
  private dirty: Cell[] = [];
  /** With the system clock: the current UTC hour, cached until `hourTimer` or `tick()` says it may be stale. */
  private readonly cacheHour: boolean;
  private nowHour = -1;
  private timerHour = -1;
  private hourTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly expire = (): void => {
    this.nowHour = -1;
    this.nowHourNo = -1;
  };

  constructor(o: AccumulatorOptions) {
    this.dims = new Set(o.dimensions);
    this.products = new Set(o.productCodes);
    this.defaultProduct = o.productCodes.length === 1 ? o.productCodes[0] : undefined;
    this.clock = o.clock;
    this.maxFutureMs = o.maxFutureMs;
    this.cacheHour = o.clock === systemClock;
  }

  /**
   * The start of the current UTC hour. Reading the system clock costs about a microsecond per call on
   * some virtual machines, more than the rest of `record()`, so with the system clock the hour is cached:
   * a timer marks it stale when the hour ends, and `tick()` (every checkpoint interval) marks it stale
   * too, so a jump of the wall clock is noticed within one interval. Usage recorded between an hour's end
   * and the timer firing (one turn of the event loop) still counts in the hour that just ended, which
   * is open for the grace period. An injected clock is read on every call.
   */
  private currentHour(): number {
    if (this.nowHour >= 0) return this.nowHour;
    const t = this.clock();
    const hour = t - (t % HOUR_MS);
    if (this.cacheHour) {
      this.nowHour = hour;
      this.nowHourNo = hour / HOUR_MS;
      if (hour !== this.timerHour) {
        clearTimeout(this.hourTimer);
        this.timerHour = hour;
        this.hourTimer = setTimeout(this.expire, hour + HOUR_MS - t);
        this.hourTimer.unref?.();
      }
    }
    return hour;
  }

  /** Marks the cached hour stale, so the next `record()` reads the clock. */
  tick(): void {
    this.nowHour = -1;
    this.nowHourNo = -1;
  }

  /** Stops the hour timer. */
  dispose(): void {
    clearTimeout(this.hourTimer);
    this.hourTimer = undefined;
    this.timerHour = -1;
    this.nowHour = -1;
    this.nowHourNo = -1;
  }

  /** Validates an identity against the configured products. */
  resolveIdentity(input: unknown): { identity: Identity; key: string } {
    const identity = parseIdentity(input, this.defaultProduct);
    if (!this.products.has(identity.productCode))
      throw new MarketplaceError(
        "UNKNOWN_PRODUCT",
        `product ${JSON.stringify(identity.productCode)} is not configured (configured: ${[...this.products].join(", ")})`,
      );
    return { identity, key: identityKey(identity) };
  }

  private slotOf(identity: unknown): Slot {
    if (typeof identity === "object" && identity !== null) {
      const cached = this.byObject.get(identity);
      if (cached !== undefined) return cached.epoch === this.epoch ? cached : this.touch(cached);
    }
    // A new object for an identity seen before: find it by its raw fields, skipping validation.
    const raw = rawKey(identity);
    if (raw !== undefined) {
      const known = this.byRaw.get(raw);
      if (known !== undefined) return known.epoch === this.epoch ? known : this.touch(known);
    }
    const { identity: parsed, key } = this.resolveIdentity(identity);
    let slot = this.slots.get(key);
    if (slot === undefined) {
      slot = { key, identity: parsed, hour: -1, cells: new Map(), epoch: this.epoch, last: undefined };
      this.slots.set(key, slot);
    }
    this.byObject.set(identity as object, slot);
    if (raw !== undefined) {
      if (this.byRaw.size >= 100_000) this.byRaw.clear();
      this.byRaw.set(raw, slot);
    }
    return slot.epoch === this.epoch ? slot : this.touch(slot);
  }

  private touch(slot: Slot): Slot {
    // First use in this checkpoint interval: forget cells that were drained.
    slot.epoch = this.epoch;
    slot.hour = -1;
    slot.cells = new Map();
    slot.last = undefined;
    this.slots.set(slot.key, slot);
    return slot;
  }

  /** Adds one usage event. Throws a `MarketplaceError` for invalid input; never touches the store. */
  record(usage: UsageInput): void {
    if (typeof usage !== "object" || usage === null) bad("INVALID_ARGUMENT", "record() needs a usage object");
    const { dimension, quantity, timestamp } = usage;
    // The fast path: untagged usage "now" on the dimension this identity last used, in the same hour.
    // Under a real server every object touched here is likely out of cache, so it touches as few as it
    // can: this object's first fields, the identity's slot and its last cell (whose dimension was
    // validated when it was made), and compares small integers rather than boxed numbers.
    if (
      timestamp === undefined &&
      usage.tags === undefined &&
      usage.allocations === undefined &&
      Number.isSafeInteger(quantity) &&
      quantity >= 0
    ) {
      const cell = this.slotOf(usage.identity).last;
      if (
        cell !== undefined &&
        cell.dimension === dimension &&
        cell.allocations === undefined &&
        cell.hourNo === (this.nowHourNo >= 0 ? this.nowHourNo : this.currentHour() / HOUR_MS)
      ) {
        cell.quantity += quantity;
        this.records++;
        this.quantity += quantity;
        return;
      }
    }
    this.recordSlow(usage);
  }

  /** Everything but the fast path, kept apart so the fast path's machine code stays small. */
  private recordSlow(usage: UsageInput): void {
    const { dimension, quantity, timestamp } = usage;
    if (!this.dims.has(dimension))
      bad(
        "INVALID_DIMENSION",
        `unknown dimension ${JSON.stringify(dimension)} (configured: ${[...this.dims].join(", ")})`,
      );
    if (!Number.isSafeInteger(quantity) || quantity < 0)
      bad("INVALID_QUANTITY", `quantity must be a non-negative safe integer (got ${String(quantity)})`);
    let hour: number;
    if (timestamp === undefined) hour = this.currentHour();
    else {
      const t = timestamp instanceof Date ? timestamp.getTime() : timestamp;
      if (typeof t !== "number" || !Number.isFinite(t) || t < 0)
        bad("INVALID_TIMESTAMP", "timestamp must be a valid Date or epoch milliseconds");
      if (t > this.clock() + this.maxFutureMs) bad("INVALID_TIMESTAMP", "timestamp is in the future");
      hour = t - (t % HOUR_MS);
    }
    let alloc: string | Record<string, number> | undefined;
    if (usage.tags !== undefined) {
      if (usage.allocations !== undefined)
        bad("INVALID_ARGUMENT", "give either tags or allocations, not both");
      const tags = usage.tags as object;
      alloc = typeof tags === "object" && tags !== null ? this.tagKeys.get(tags) : undefined;
      if (alloc === undefined) {
        alloc = tagSetKey(tags);
        this.tagKeys.set(tags, alloc);
      }
    } else if (usage.allocations !== undefined) alloc = parseAllocations(usage.allocations, quantity);
    const slot = this.slotOf(usage.identity);
    let cell: Cell | undefined;
    if (hour === slot.hour) cell = slot.cells.get(dimension);
    else if (hour < slot.hour) cell = this.other.get(grainKey(slot.key, dimension, hour));
    // Memory is bounded: a new grain beyond the limit is refused (counted, reported), never thrown.
    if (cell === undefined && this.dirty.length >= this.cellLimit) {
      this.overflowRecords++;
      this.overflowQuantity += quantity;
      if (!this.overflowing) {
        this.overflowing = true;
        this.onOverflow?.(this.dirty.length);
      }
      return;
    }
    if (hour > slot.hour) {
      slot.hour = hour;
      slot.cells = new Map();
      slot.last = undefined;
    } else if (hour < slot.hour && cell === undefined) {
      cell = newCell(slot.key, dimension, hour);
      this.other.set(grainKey(slot.key, dimension, hour), cell);
      this.dirty.push(cell);
    }
    if (cell === undefined) {
      cell = newCell(slot.key, dimension, hour);
      slot.cells.set(dimension, cell);
      this.dirty.push(cell);
    }
    if (hour === slot.hour) slot.last = cell;
    if (alloc !== undefined || cell.allocations !== undefined) addAllocation(cell, alloc, quantity);
    cell.quantity += quantity;
    this.records++;
    this.quantity += quantity;
  }

  /** Most cells held before usage for a new grain is refused (`maxBufferedGrains`). */
  cellLimit = Number.MAX_SAFE_INTEGER;
  /** `record` calls refused because the cell limit was reached, and their quantity. */
  overflowRecords = 0;
  overflowQuantity = 0;
  /** True from the first refusal until `endOverflow()`: one report per episode. */
  private overflowing = false;
  /** Called on the first refusal of an episode, inside `record()`: it must not throw or block. */
  onOverflow: ((buffered: number) => void) | undefined;

  /** Ends an overflow episode (a checkpoint made room): the next refusal is reported again. */
  endOverflow(): void {
    if (this.dirty.length < this.cellLimit) this.overflowing = false;
  }

  /** Number of in-memory cells waiting for the next checkpoint. */
  get size(): number {
    return this.dirty.length;
  }

  /** Takes every in-memory cell out as store deltas (one per grain). */
  drain(): UsageDelta[] {
    const cells = this.dirty;
    this.dirty = [];
    this.other = new Map();
    this.slots = new Map();
    this.epoch++;
    return mergeCells(cells);
  }
}

/** An empty cell of one grain. */
function newCell(identityKey: string, dimension: string, hour: number): Cell {
  return { identityKey, dimension, hour, hourNo: hour / HOUR_MS, quantity: 0, allocations: undefined };
}

/** The identity's fields joined as given (only plain strings; anything else goes through validation). */
function rawKey(identity: unknown): string | undefined {
  if (typeof identity !== "object" || identity === null) return undefined;
  const o = identity as Record<string, unknown>;
  const p = o.productCode;
  const c = o.customerIdentifier;
  const a = o.customerAWSAccountId;
  const l = o.licenseArn;
  if (
    (p !== undefined && typeof p !== "string") ||
    (c !== undefined && typeof c !== "string") ||
    (a !== undefined && typeof a !== "string") ||
    (l !== undefined && typeof l !== "string")
  )
    return undefined;
  // Length-prefixed, so two different field sets can never produce the same key.
  const ps = p ?? "";
  const cs = c ?? "";
  const as = a ?? "";
  return `${ps.length}:${ps}${cs.length}:${cs}${as.length}:${as}${l ?? ""}`;
}

function addAllocation(
  cell: Cell,
  alloc: string | Record<string, number> | undefined,
  quantity: number,
): void {
  let m = cell.allocations;
  if (m === undefined) {
    m = new Map();
    // Usage recorded before the first tagged event belongs to the untagged share.
    if (cell.quantity > 0) m.set("", cell.quantity);
    cell.allocations = m;
  }
  if (alloc === undefined || typeof alloc === "string") {
    const k = alloc ?? "";
    m.set(k, (m.get(k) ?? 0) + quantity);
  } else for (const [k, q] of Object.entries(alloc)) m.set(k, (m.get(k) ?? 0) + q);
}

function mergeCells(cells: readonly Cell[]): UsageDelta[] {
  const out = new Map<string, UsageDelta>();
  for (const c of cells) {
    const k = grainKey(c.identityKey, c.dimension, c.hour);
    const prev = out.get(k);
    const allocations = c.allocations ? Object.fromEntries(c.allocations) : undefined;
    if (!prev) {
      const d: UsageDelta = {
        identityKey: c.identityKey,
        dimension: c.dimension,
        hour: c.hour,
        quantity: c.quantity,
      };
      if (allocations) d.allocations = allocations;
      out.set(k, d);
      continue;
    }
    if (allocations || prev.allocations) {
      const merged: Record<string, number> = prev.allocations
        ? { ...prev.allocations }
        : { "": prev.quantity };
      for (const [tk, q] of Object.entries(allocations ?? { "": c.quantity }))
        merged[tk] = (merged[tk] ?? 0) + q;
      prev.allocations = merged;
    }
    prev.quantity += c.quantity;
  }
  return [...out.values()];
}
