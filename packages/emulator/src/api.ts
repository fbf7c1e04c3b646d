import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { ApiError } from "./errors.js";
import { batchMeterUsage, validateBatchMeterUsage } from "./operations/batch-meter-usage.js";
import type { OpContext, OpResult } from "./operations/context.js";
import { getEntitlements, validateGetEntitlements } from "./operations/get-entitlements.js";
import { meterUsage, validateMeterUsage } from "./operations/meter-usage.js";
import { RegisterUsageSigner, registerUsage, validateRegisterUsage } from "./operations/register-usage.js";
import { resolveCustomer, validateResolveCustomer } from "./operations/resolve-customer.js";
import type { OperationName } from "./profile.js";
import type { EmulatorState } from "./state.js";
import type { ApiCall } from "./types.js";
import { decodeCbor, encodeCbor } from "./wire/cbor.js";
import { header, parseAttemptHeader, readBody, regionFromAuthorization, send } from "./wire/http.js";
import { bind, INPUT_SCHEMAS } from "./wire/shapes.js";

const SERVICES: Record<string, readonly OperationName[]> = {
  AWSMPMeteringService: ["BatchMeterUsage", "MeterUsage", "RegisterUsage", "ResolveCustomer"],
  AWSMPEntitlementService: ["GetEntitlements"],
};

/** Operations that answer DisabledApiException outside the supported Region list. */
const REGIONAL: readonly OperationName[] = ["BatchMeterUsage", "ResolveCustomer", "RegisterUsage"];

type Run = (ctx: OpContext) => OpResult | Promise<OpResult>;
/** Checks an input's shape and returns the operation, bound to the checked input. */
type Handler = (input: never) => Run;

/** Pairs a shape check with its operation, so the operation only ever sees what the check returned. */
function checkedOperation<I, V>(
  validate: (input: I) => V,
  run: (ctx: OpContext, input: V) => OpResult | Promise<OpResult>,
): Handler {
  return (input: I) => {
    const checked = validate(input);
    return (ctx) => run(ctx, checked);
  };
}

function handlers(signer: RegisterUsageSigner): Record<OperationName, Handler> {
  return {
    BatchMeterUsage: checkedOperation(validateBatchMeterUsage, batchMeterUsage),
    MeterUsage: checkedOperation(validateMeterUsage, meterUsage),
    RegisterUsage: checkedOperation(validateRegisterUsage, (ctx, input) => registerUsage(ctx, input, signer)),
    ResolveCustomer: checkedOperation(validateResolveCustomer, resolveCustomer),
    GetEntitlements: checkedOperation(validateGetEntitlements, getEntitlements),
  };
}

/** Formats a request-log entry as one readable line (time, Region, operation, outcome). */
export function formatCall(c: ApiCall): string {
  return `${c.time.slice(11, 19)} ${c.region} ${c.operation} ${c.status} ${c.summary}${c.attempt && c.attempt > 1 ? ` (attempt ${c.attempt})` : ""}`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Serves the AWS wire protocols (awsJson1_1 on `POST /`, Smithy RPC v2 CBOR on `/service/…/operation/…`). */
export class ApiServer {
  readonly signer = new RegisterUsageSigner();
  private readonly ops: Record<OperationName, Handler>;
  constructor(
    private readonly state: EmulatorState,
    private readonly log?: (line: string) => void,
  ) {
    this.ops = handlers(this.signer);
  }

  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const { state } = this;
    const requestId = randomUUID();
    const rpc = /^\/service\/([^/]+)\/operation\/([^/]+)$/.exec(url.pathname);
    const protocol: ApiCall["protocol"] = rpc ? "rpcv2Cbor" : "awsJson1_1";
    const region = regionFromAuthorization(header(req, "authorization")) ?? "unknown";
    const { attempt, max } = parseAttemptHeader(header(req, "amz-sdk-request"));
    let operation: string = rpc ? `${rpc[1]}.${rpc[2]}` : (header(req, "x-amz-target") ?? "(no target)");

    const body = await readBody(req, state.profile.maxBodyBytes);
    if (!body.ok && "aborted" in body) return;
    await state.processDue();
    const now = state.now();

    const invocationId = header(req, "amz-sdk-invocation-id");
    const finish = (status: number, summary: string, errorType?: string) => {
      const call: ApiCall = {
        time: new Date(now).toISOString(),
        region,
        operation: operation.slice(0, 200),
        protocol,
        status,
        ...(errorType ? { errorType } : {}),
        ...(attempt !== undefined ? { attempt } : {}),
        ...(max !== undefined ? { maxAttempts: max } : {}),
        ...(invocationId ? { invocationId: invocationId.slice(0, 100) } : {}),
        requestId,
        summary,
      };
      state.addCall(call);
      try {
        this.log?.(formatCall(call));
      } catch {
        // A failing logger must not turn into a failed request.
      }
    };
    const reply = (status: number, payload: Record<string, unknown>, extra: Record<string, string> = {}) => {
      if (protocol === "rpcv2Cbor") {
        send(
          res,
          status,
          {
            "content-type": "application/cbor",
            "smithy-protocol": "rpc-v2-cbor",
            "x-amzn-requestid": requestId,
            ...extra,
          },
          encodeCbor(payload),
        );
      } else {
        send(
          res,
          status,
          { "content-type": "application/x-amz-json-1.1", "x-amzn-requestid": requestId, ...extra },
          JSON.stringify(payload),
        );
      }
    };
    const fail = (e: ApiError) => {
      state.addRejected({
        operation,
        region,
        errorType: e.type,
        message: e.message,
        httpStatus: e.status,
        requestId,
        receivedAt: new Date(now).toISOString(),
      });
      finish(e.status, `${e.type}: ${e.message.slice(0, 160)}`, e.type);
      reply(e.status, { __type: e.type, message: e.message }, { "x-amzn-errortype": e.type });
    };

    try {
      // 1. envelope: operation, authentication, size, parse
      let op: OperationName | undefined;
      if (req.method === "POST") {
        const [service, name] = rpc ? [rpc[1], rpc[2]] : (header(req, "x-amz-target") ?? "").split(".", 2);
        const ops = service ? SERVICES[service] : undefined;
        op = ops?.find((o) => o === name);
      }
      if (!op)
        throw new ApiError(
          "UnknownOperationException",
          `Operation ${operation.slice(0, 200)} is not supported by this service.`,
        );
      operation = op;
      const auth = header(req, "authorization");
      if (!auth)
        throw new ApiError("MissingAuthenticationTokenException", "Missing Authentication Token", 403);
      if (region === "unknown") {
        throw new ApiError(
          "IncompleteSignatureException",
          "Authorization header requires a SigV4 'Credential' with a credential scope.",
          403,
        );
      }
      if (!body.ok) {
        throw new ApiError(
          "ValidationException",
          `Request body of ${body.size} bytes is too large; it must be smaller than ${state.profile.maxBodyBytes} bytes.`,
        );
      }
      let parsed: unknown = {};
      if (body.body.length > 0) {
        if (protocol === "rpcv2Cbor") parsed = decodeCbor(body.body);
        else {
          try {
            parsed = JSON.parse(body.body.toString("utf8"));
          } catch {
            throw new ApiError("SerializationException", "Request body is not valid JSON.");
          }
        }
      }
      // 2. types, then shape constraints
      const input = bind(INPUT_SCHEMAS[op], parsed) as never;
      const run = this.ops[op](input);
      // 3. Region availability
      if (REGIONAL.includes(op) && !state.profile.regions.includes(region)) {
        throw new ApiError(
          "DisabledApiException",
          `${op} is not available in Region ${region.slice(0, 40)}.`,
        );
      }
      // 4. throttling, then injected faults
      const latency = state.faults.latency(op);
      if (latency > 0) await sleep(latency);
      if (!state.takeRateToken(region, op)) throw new ApiError("ThrottlingException", "Rate exceeded");
      const injected = state.faults.requestFault(op);
      if (injected === "throttle")
        throw new ApiError("ThrottlingException", "Rate exceeded (injected fault)");
      if (injected === "internalError") {
        throw new ApiError(
          "InternalServiceErrorException",
          "An internal error occurred (injected fault).",
          500,
        );
      }
      // 5.–7. the operation itself
      const result = await run({ state, region, requestId, now, header: (n) => header(req, n) });
      finish(200, result.summary);
      reply(200, result.output);
    } catch (e) {
      if (e instanceof ApiError) fail(e);
      else {
        this.log?.(`internal error: ${(e as Error)?.stack ?? String(e)}`);
        fail(new ApiError("InternalServiceErrorException", "An internal error occurred.", 500));
      }
    }
  }
}
