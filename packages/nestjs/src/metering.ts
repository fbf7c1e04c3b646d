/**
 * After-response metering: the core's shared metering engine, fed with the spec the route's decorators
 * chose (if any) and the handler's result (only kept on routes that need it).
 */
import * as http from "@marketmeter/core/http";
import { REQ_RESULT } from "./constants.js";
import type { ResolvedModuleOptions } from "./options.js";

type Args = [req: any, res: any, result: unknown];

// Undecorated requests share one read-only state, so the hot path allocates nothing per request.
const METER_ALL = http.DEFAULT_METER_STATE as http.MeterState<Args>;
const METER_NONE: http.MeterState<Args> = Object.freeze({
  owner: true,
  skip: true,
  dimension: undefined,
  quantity: undefined,
  marketplace: undefined,
  subscription: undefined,
});

export class Metering {
  private readonly meter: http.Meter<Args>;
  private readonly fallback: http.MeterState<Args>;
  /** Undecorated routes are metered by default and nothing needs the handler's result. */
  private readonly plain: boolean;

  constructor(o: ResolvedModuleOptions) {
    this.meter = http.createMeter<Args>(o.marketplace, {
      getCustomer: o.getCustomer,
      dimension: o.dimension,
      ...(o.shouldMeter ? { shouldMeter: o.shouldMeter } : {}),
      ...(o.onError ? { onError: (error: unknown, req: unknown) => o.onError?.(error, req) } : {}),
      logger: o.logger,
    });
    this.fallback = o.meterAll ? METER_ALL : METER_NONE;
    this.plain = o.meterAll && !o.shouldMeter;
  }

  /**
   * Called once per finished response with the objects handlers see: the Express request/response,
   * or the Fastify request/reply. Never throws.
   */
  finished(req: any, res: any): void {
    const found = http.findMeterState<Args>(req);
    // An undecorated route with nothing reading the handler's result: the engine's allocation-free path.
    if (found === undefined && this.plain) {
      void this.meter.finishDefault(res.statusCode, req, res);
      return;
    }
    const state: http.MeterState<Args> = found ?? this.fallback;
    if (state.skip) return;
    void this.meter.finish(state, res.statusCode, [req, res, req[REQ_RESULT]]);
  }
}
