import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ApiError } from "../errors.js";
import { decodeCbor, EpochSeconds, encodeCbor } from "./cbor.js";

describe("CBOR codec", () => {
  it("round-trips JSON values", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const clean = JSON.parse(JSON.stringify(v));
        expect(decodeCbor(encodeCbor(clean))).toEqual(clean);
      }),
      { numRuns: 300, seed: 1 },
    );
  });

  it("writes timestamps as tag 1 and reads them back as numbers", () => {
    const bytes = encodeCbor({ t: new EpochSeconds(1784106000) });
    expect(bytes.includes(0xc1)).toBe(true);
    expect(decodeCbor(bytes)).toEqual({ t: 1784106000 });
    expect(decodeCbor(encodeCbor({ t: new EpochSeconds(1.5) }))).toEqual({ t: 1.5 });
  });

  it("decodes indefinite-length maps, arrays and strings, and half floats", () => {
    // {_ "a": [_ 1, 2], "b": (_ "x" "y")} then half float 1.5
    const bytes = Buffer.from([
      0xbf, 0x61, 0x61, 0x9f, 0x01, 0x02, 0xff, 0x61, 0x62, 0x7f, 0x61, 0x78, 0x61, 0x79, 0xff, 0x61, 0x63,
      0xf9, 0x3e, 0x00, 0xff,
    ]);
    expect(decodeCbor(bytes)).toEqual({ a: [1, 2], b: "xy", c: 1.5 });
  });

  it("answers SerializationException for any malformed input, never anything else", () => {
    let refused = 0;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        let err: unknown;
        try {
          decodeCbor(b);
        } catch (e) {
          err = e;
        }
        if (err === undefined) return; // well-formed input decodes
        refused++;
        expect(err).toBeInstanceOf(ApiError);
        expect((err as ApiError).type).toBe("SerializationException");
      }),
      { numRuns: 500, seed: 2 },
    );
    // Random bytes are mostly malformed, so the checks above did run (a decoder that never throws fails).
    expect(refused).toBeGreaterThan(250);
    expect(() => decodeCbor(Buffer.alloc(200, 0x81))).toThrow(ApiError);
  });
});
