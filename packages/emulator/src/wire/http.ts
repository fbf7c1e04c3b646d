import type { IncomingMessage, ServerResponse } from "node:http";

/** Bytes a request may carry beyond the limit before we stop draining and drop the connection. */
const DRAIN_CAP = 64 * 1024 * 1024;

export type BodyResult =
  | { ok: true; body: Buffer }
  | { ok: false; size: number }
  | { ok: false; aborted: true };

/**
 * Reads a request body, keeping at most `limit - 1` bytes in memory: once the body reaches `limit`
 * bytes the rest is drained and discarded (so the client still gets a proper answer).
 */
export function readBody(req: IncomingMessage, limit: number): Promise<BodyResult> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    let done = false;
    const finish = (r: BodyResult) => {
      if (done) return;
      done = true;
      resolve(r);
    };
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (over) {
        if (size > limit + DRAIN_CAP) {
          finish({ ok: false, size });
          req.destroy();
        }
        return;
      }
      if (size >= limit) {
        over = true;
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => finish(over ? { ok: false, size } : { ok: true, body: Buffer.concat(chunks) }));
    req.on("error", () => finish({ ok: false, aborted: true }));
    req.on("close", () => finish(over ? { ok: false, size } : { ok: false, aborted: true }));
  });
}

/** Writes a response unless the socket is gone. */
export function send(
  res: ServerResponse,
  status: number,
  headers: Record<string, string>,
  body: string | Buffer,
): void {
  if (res.headersSent || res.destroyed) return;
  const buf = typeof body === "string" ? Buffer.from(body, "utf8") : body;
  res.writeHead(status, { ...headers, "content-length": String(buf.length) });
  res.end(buf);
}

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(
    res,
    status,
    { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
    JSON.stringify(value, null, 2),
  );
}

/** Region from a SigV4 Authorization header's credential scope (`Credential=AKID/date/REGION/service/aws4_request`). */
export function regionFromAuthorization(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /Credential=[^/,\s]+\/\d{8}\/([a-z0-9-]+)\/[^/,\s]+\/aws4_request/.exec(header);
  return m?.[1];
}

/** `amz-sdk-request: attempt=2; max=3` → { attempt: 2, max: 3 }. */
export function parseAttemptHeader(header: string | undefined): { attempt?: number; max?: number } {
  if (!header) return {};
  const attempt = /attempt=(\d+)/.exec(header)?.[1];
  const max = /max=(\d+)/.exec(header)?.[1];
  return { attempt: attempt ? Number(attempt) : undefined, max: max ? Number(max) : undefined };
}

export function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export const isLoopback = (addr: string | undefined): boolean =>
  addr === undefined || addr === "::1" || addr.startsWith("127.") || addr.startsWith("::ffff:127.");
