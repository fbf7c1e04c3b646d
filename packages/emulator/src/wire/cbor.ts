import { ApiError } from "../errors.js";

/** A timestamp in an output, written as epoch seconds (JSON number, or CBOR tag 1). */
export class EpochSeconds {
  constructor(readonly seconds: number) {}
  toJSON(): number {
    return this.seconds;
  }
}

const MAX_DEPTH = 64;

/**
 * Decodes one CBOR data item (RFC 8949 subset used by Smithy RPC v2: integers, strings, arrays, maps,
 * tags, floats, simple values). Tag 1 (epoch time) becomes a number. Any malformed input throws a
 * `SerializationException`, never anything else.
 */
export function decodeCbor(buf: Uint8Array): unknown {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = 0;
  const fail = (why: string): never => {
    throw new ApiError("SerializationException", `Malformed CBOR request body: ${why}`);
  };
  const need = (n: number) => {
    if (pos + n > buf.length) fail("unexpected end of input");
  };
  const readArg = (info: number): number | bigint | undefined => {
    if (info < 24) return info;
    if (info === 24) {
      need(1);
      return view.getUint8(pos++);
    }
    if (info === 25) {
      need(2);
      const v = view.getUint16(pos);
      pos += 2;
      return v;
    }
    if (info === 26) {
      need(4);
      const v = view.getUint32(pos);
      pos += 4;
      return v;
    }
    if (info === 27) {
      need(8);
      const v = view.getBigUint64(pos);
      pos += 8;
      return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
    }
    if (info === 31) return undefined; // indefinite length
    return fail(`reserved additional information ${info}`);
  };
  const BREAK = Symbol("break");
  const item = (depth: number): unknown => {
    if (depth > MAX_DEPTH) fail("nesting too deep");
    need(1);
    const initial = view.getUint8(pos++);
    const major = initial >> 5;
    const info = initial & 0x1f;
    switch (major) {
      case 0: {
        const v = readArg(info);
        if (v === undefined) fail("indefinite integer");
        return v;
      }
      case 1: {
        const v = readArg(info);
        if (v === undefined) fail("indefinite integer");
        return typeof v === "bigint" ? -1n - v : -1 - (v as number);
      }
      case 2:
      case 3: {
        const len = readArg(info);
        if (len === undefined) {
          const parts: unknown[] = [];
          for (;;) {
            const p = item(depth + 1);
            if (p === BREAK) break;
            if (major === 3 ? typeof p !== "string" : !(p instanceof Uint8Array))
              fail("bad chunk in indefinite string");
            parts.push(p);
          }
          if (major === 3) return parts.join("");
          return Buffer.concat(parts as Uint8Array[]);
        }
        if (typeof len === "bigint") return fail("string too long");
        need(len);
        const slice = buf.subarray(pos, pos + len);
        pos += len;
        if (major === 3) {
          try {
            return new TextDecoder("utf-8", { fatal: true }).decode(slice);
          } catch {
            return fail("invalid UTF-8 in text string");
          }
        }
        return Buffer.from(slice);
      }
      case 4: {
        const len = readArg(info);
        const out: unknown[] = [];
        if (len === undefined) {
          for (;;) {
            const v = item(depth + 1);
            if (v === BREAK) break;
            out.push(v);
          }
          return out;
        }
        if (typeof len === "bigint" || len > buf.length - pos) return fail("array too long");
        for (let i = 0; i < len; i++) out.push(item(depth + 1));
        return out;
      }
      case 5: {
        const len = readArg(info);
        const out: Record<string, unknown> = {};
        const readPair = (): boolean => {
          const k = item(depth + 1);
          if (k === BREAK) return false;
          if (typeof k !== "string") fail("map key is not a text string");
          const v = item(depth + 1);
          if (v === BREAK) fail("unexpected break");
          if (k !== "__proto__") out[k as string] = v;
          return true;
        };
        if (len === undefined) {
          while (readPair()) {}
          return out;
        }
        if (typeof len === "bigint" || len > buf.length - pos) return fail("map too long");
        for (let i = 0; i < len; i++) readPair();
        return out;
      }
      case 6: {
        const tag = readArg(info);
        const v = item(depth + 1);
        if (tag === 1) {
          if (typeof v !== "number") fail("tag 1 must wrap a number");
          return v;
        }
        return v;
      }
      default: {
        if (info === 20) return false;
        if (info === 21) return true;
        if (info === 22 || info === 23) return null;
        if (info === 25) {
          need(2);
          const v = halfToFloat(view.getUint16(pos));
          pos += 2;
          return v;
        }
        if (info === 26) {
          need(4);
          const v = view.getFloat32(pos);
          pos += 4;
          return v;
        }
        if (info === 27) {
          need(8);
          const v = view.getFloat64(pos);
          pos += 8;
          return v;
        }
        if (info === 31) return BREAK;
        if (info === 24) {
          need(1);
          pos++;
          return null;
        }
        return null;
      }
    }
  };
  const value = item(0);
  if (value === BREAK) fail("unexpected break");
  if (pos !== buf.length) fail("trailing bytes");
  return value;
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/** Encodes a JSON-like value (plus {@link EpochSeconds}) as CBOR; undefined members are skipped. */
export function encodeCbor(value: unknown): Buffer {
  const chunks: Buffer[] = [];
  const head = (major: number, n: number) => {
    if (n < 24) chunks.push(Buffer.from([(major << 5) | n]));
    else if (n < 0x100) chunks.push(Buffer.from([(major << 5) | 24, n]));
    else if (n < 0x10000) {
      const b = Buffer.alloc(3);
      b[0] = (major << 5) | 25;
      b.writeUInt16BE(n, 1);
      chunks.push(b);
    } else if (n < 0x100000000) {
      const b = Buffer.alloc(5);
      b[0] = (major << 5) | 26;
      b.writeUInt32BE(n, 1);
      chunks.push(b);
    } else {
      const b = Buffer.alloc(9);
      b[0] = (major << 5) | 27;
      b.writeBigUInt64BE(BigInt(n), 1);
      chunks.push(b);
    }
  };
  const num = (n: number) => {
    if (Number.isSafeInteger(n)) {
      if (n >= 0) head(0, n);
      else head(1, -1 - n);
    } else {
      const b = Buffer.alloc(9);
      b[0] = 0xfb;
      b.writeDoubleBE(n, 1);
      chunks.push(b);
    }
  };
  const enc = (v: unknown) => {
    if (v === null || v === undefined) chunks.push(Buffer.from([0xf6]));
    else if (v instanceof EpochSeconds) {
      chunks.push(Buffer.from([0xc1]));
      num(v.seconds);
    } else if (typeof v === "boolean") chunks.push(Buffer.from([v ? 0xf5 : 0xf4]));
    else if (typeof v === "number") num(v);
    else if (typeof v === "string") {
      const b = Buffer.from(v, "utf8");
      head(3, b.length);
      chunks.push(b);
    } else if (Array.isArray(v)) {
      head(4, v.length);
      for (const x of v) enc(x);
    } else if (typeof v === "object") {
      const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
      head(5, entries.length);
      for (const [k, x] of entries) {
        enc(k);
        enc(x);
      }
    } else chunks.push(Buffer.from([0xf6]));
  };
  enc(value);
  return Buffer.concat(chunks);
}
