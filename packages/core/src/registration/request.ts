import { MarketplaceError } from "../errors/index.js";

/** Node-style header record (`IncomingHttpHeaders`) or a fetch `Headers` object. */
export type RequestHeaders =
  | Readonly<Record<string, string | readonly string[] | undefined>>
  | { get(name: string): string | null };

/**
 * The small, framework-free request shape every buyer entry point accepts. Adapters fill it from their
 * framework's request; a Lambda or queue consumer can build it by hand.
 *
 * @example
 * buyers.register({ method: req.method, headers: req.headers, body: rawBodyBuffer })
 */
export interface IncomingRequest {
  /** HTTP method. @default "POST" */
  method?: string;
  headers?: RequestHeaders;
  /** Query: a string (`a=b&c=d`, with or without `?`), URLSearchParams, or a framework's parsed object. */
  query?: string | URLSearchParams | Readonly<Record<string, unknown>>;
  /** Request URL (path + query or absolute); its query is used when `query` is left out. */
  url?: string;
  /** Raw body (string or bytes; preferred), or a body a framework already parsed into an object. */
  body?: string | Uint8Array | ArrayBuffer | Readonly<Record<string, unknown>> | null;
}

export function isIncomingRequest(value: unknown): value is IncomingRequest {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const v = value as Record<string, unknown>;
  return (
    ("headers" in v || "method" in v) &&
    (v.headers === undefined || (typeof v.headers === "object" && v.headers !== null)) &&
    (v.method === undefined || typeof v.method === "string")
  );
}

export function invalidRequest(message: string, httpStatus: number): MarketplaceError {
  return new MarketplaceError("INVALID_REQUEST", message, { details: { httpStatus } });
}

/** First value of a header, case-insensitively. */
export function headerOf(request: IncomingRequest, name: string): string | undefined {
  const h = request.headers;
  if (!h) return undefined;
  if (typeof (h as { get?: unknown }).get === "function") {
    const v = (h as { get(name: string): string | null }).get(name);
    return v ?? undefined;
  }
  const lower = name.toLowerCase();
  const rec = h as Readonly<Record<string, string | readonly string[] | undefined>>;
  let v = rec[lower];
  if (v === undefined) {
    for (const key of Object.keys(rec)) {
      if (key.toLowerCase() === lower) {
        v = rec[key];
        break;
      }
    }
  }
  if (Array.isArray(v)) return typeof v[0] === "string" ? v[0] : undefined;
  return typeof v === "string" ? v : undefined;
}

/** The media type of `content-type`, lower-cased, without parameters. */
export function mediaTypeOf(request: IncomingRequest): string | undefined {
  const ct = headerOf(request, "content-type");
  if (ct === undefined) return undefined;
  return ct.split(";")[0]?.trim().toLowerCase();
}

export type BodyContent =
  | { kind: "none" }
  | { kind: "text"; text: string }
  | { kind: "parsed"; value: Record<string, unknown> };

/**
 * The body as UTF-8 text, refusing more than `maxBytes` (HTTP 413), or the object a framework parsed.
 */
export function readBody(request: IncomingRequest, maxBytes: number): BodyContent {
  const body = request.body;
  if (body === undefined || body === null) return { kind: "none" };
  let bytes: Uint8Array;
  if (typeof body === "string") {
    if (body.length > maxBytes || Buffer.byteLength(body, "utf8") > maxBytes)
      throw invalidRequest(`request body is larger than ${maxBytes} bytes`, 413);
    return { kind: "text", text: body };
  }
  if (body instanceof Uint8Array) bytes = body;
  else if (body instanceof ArrayBuffer) bytes = new Uint8Array(body);
  else if (typeof body === "object" && !Array.isArray(body)) return { kind: "parsed", value: { ...body } };
  else throw invalidRequest("request body must be a string, bytes or a parsed object", 400);
  if (bytes.byteLength > maxBytes) throw invalidRequest(`request body is larger than ${maxBytes} bytes`, 413);
  return {
    kind: "text",
    text: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"),
  };
}

/** A query parameter from `query` or, failing that, from `url`. */
export function queryParam(request: IncomingRequest, name: string): string | undefined {
  const q = request.query;
  if (q !== undefined && q !== null) {
    if (typeof q === "string")
      return new URLSearchParams(q.startsWith("?") ? q.slice(1) : q).get(name) ?? undefined;
    if (q instanceof URLSearchParams) return q.get(name) ?? undefined;
    if (typeof q === "object") {
      const v = (q as Record<string, unknown>)[name];
      if (typeof v === "string") return v;
      if (Array.isArray(v) && typeof v[0] === "string") return v[0];
      return undefined;
    }
  }
  if (typeof request.url === "string") {
    const i = request.url.indexOf("?");
    if (i >= 0) return new URLSearchParams(request.url.slice(i + 1).split("#")[0]).get(name) ?? undefined;
  }
  return undefined;
}
