/**
 * Request bodies read by our own routes. The fulfillment URL and the webhooks must work in apps that
 * have no body parser (or a JSON-only one), so they read the raw bytes themselves, with a size limit.
 */
import type { IncomingMessage } from "node:http";
import { MarketplaceError } from "../errors/index.js";
import type { IncomingRequest } from "../registration/index.js";

function tooLarge(maxBytes: number): MarketplaceError {
  return new MarketplaceError("INVALID_REQUEST", `request body is larger than ${maxBytes} bytes`, {
    details: { httpStatus: 413 },
  });
}

function checkMax(maxBytes: number): void {
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1)
    throw new MarketplaceError("INVALID_ARGUMENT", "maxBytes must be a positive integer");
}

/** Rejects at once when `content-length` already says the body is too large. */
function declaredTooLarge(value: string | null | undefined, maxBytes: number): boolean {
  if (value === undefined || value === null || value === "") return false;
  const n = Number(value);
  return Number.isFinite(n) && n > maxBytes;
}

/** Body types a framework's parser may have left on the request. */
export type ParsedBody = IncomingRequest["body"] | undefined;

function usableParsed(parsed: unknown): ParsedBody {
  if (parsed === undefined || parsed === null) return undefined;
  if (typeof parsed === "string" || parsed instanceof Uint8Array) return parsed;
  if (typeof parsed === "object" && !Array.isArray(parsed))
    return parsed as Readonly<Record<string, unknown>>;
  return undefined;
}

/**
 * Reads a Node request body (Express, Koa) up to `maxBytes`; larger bodies are discarded and answered 413.
 * When a body parser already consumed the stream, its result (`parsed`) is used instead.
 *
 * @example
 * const body = await readNodeBody(req, 16_384, req.body)
 */
export function readNodeBody(req: IncomingMessage, maxBytes: number, parsed?: unknown): Promise<ParsedBody> {
  try {
    checkMax(maxBytes);
  } catch (err) {
    return Promise.reject(err);
  }
  const drained = req.readableEnded || (req as { _body?: unknown })._body === true;
  // The declared size is refused the same way whether or not the app's own body parser ran first.
  if (declaredTooLarge(req.headers["content-length"], maxBytes)) {
    if (!drained) req.resume();
    return Promise.reject(tooLarge(maxBytes));
  }
  // A parser that ran before us has drained the stream; what it produced is all there is.
  if (drained) return Promise.resolve(usableParsed(parsed));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("close", onClose);
    };
    const onData = (chunk: Buffer | string) => {
      const buf = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
      size += buf.byteLength;
      if (size > maxBytes) {
        cleanup();
        // Keep draining without storing, so the 413 answer can still be written on this connection.
        req.resume();
        reject(tooLarge(maxBytes));
        return;
      }
      chunks.push(buf);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (cause: unknown) => {
      cleanup();
      reject(
        new MarketplaceError("INVALID_REQUEST", "request body could not be read", {
          cause,
          details: { httpStatus: 400 },
        }),
      );
    };
    const onClose = () => {
      if (req.readableEnded) return;
      onError(new Error("connection closed before the body was complete"));
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("close", onClose);
  });
}

/**
 * Reads a fetch `Request` body (Hono and other web-standard runtimes) up to `maxBytes`.
 *
 * @example
 * const body = await readWebBody(c.req.raw, 16_384)
 */
export async function readWebBody(request: Request, maxBytes: number): Promise<Uint8Array | undefined> {
  checkMax(maxBytes);
  if (declaredTooLarge(request.headers.get("content-length"), maxBytes)) throw tooLarge(maxBytes);
  const stream = request.body;
  if (!stream) return undefined;
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    let step: Awaited<ReturnType<typeof reader.read>>;
    try {
      step = await reader.read();
    } catch (cause) {
      throw new MarketplaceError("INVALID_REQUEST", "request body could not be read", {
        cause,
        details: { httpStatus: 400 },
      });
    }
    if (step.done) break;
    size += step.value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => {});
      throw tooLarge(maxBytes);
    }
    chunks.push(step.value);
  }
  return Buffer.concat(chunks, size);
}
