import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defined } from "../../test/defined.js";
import { isMarketplaceError } from "../errors/index.js";
import { readNodeBody, readWebBody } from "./body.js";

let server: Server;
let url: string;
beforeAll(async () => {
  // Echoes the body length, or the status of the error the reader threw.
  server = createServer((req, res) => {
    readNodeBody(req, 1024).then(
      (body) => res.writeHead(200).end(String((body as Buffer).byteLength)),
      (err) => res.writeHead(isMarketplaceError(err) ? Number(err.details?.httpStatus) : 500).end("refused"),
    );
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe("readNodeBody", () => {
  it("reads bodies up to the limit", async () => {
    const res = await fetch(url, { method: "POST", body: "a".repeat(1024) });
    expect([res.status, await res.text()]).toEqual([200, "1024"]);
  });

  it("answers 413 for a declared or streamed body over the limit, and the answer still arrives", async () => {
    const declared = await fetch(url, { method: "POST", body: "a".repeat(5000) });
    expect(declared.status).toBe(413);
    const chunks = new ReadableStream({
      start(c) {
        for (let i = 0; i < 10; i++) c.enqueue(new TextEncoder().encode("b".repeat(500)));
        c.close();
      },
    });
    const streamed = await fetch(url, { method: "POST", body: chunks, duplex: "half" } as RequestInit);
    expect(streamed.status).toBe(413);
    expect(await streamed.text()).toBe("refused");
  });

  it("returns what a body parser left once the stream was consumed", async () => {
    const fake = { readableEnded: true, headers: {} } as never;
    expect(await readNodeBody(fake, 10, { a: "1" })).toEqual({ a: "1" });
    expect(await readNodeBody(fake, 10, "text")).toBe("text");
    expect(await readNodeBody(fake, 10, [1, 2])).toBeUndefined();
    await expect(readNodeBody(fake, 0)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });

  it("refuses a declared oversize body with 413 even when a body parser already consumed it", async () => {
    const fake = { readableEnded: true, headers: { "content-length": "11" } } as never;
    await expect(readNodeBody(fake, 10, { a: "1" })).rejects.toMatchObject({
      details: { httpStatus: 413 },
    });
    const fits = { readableEnded: true, headers: { "content-length": "10" } } as never;
    expect(await readNodeBody(fits, 10, { a: "1" })).toEqual({ a: "1" });
  });
});

describe("readWebBody", () => {
  it("reads, limits and handles missing bodies", async () => {
    const ok = await readWebBody(new Request("http://x/", { method: "POST", body: "hello" }), 5);
    expect(Buffer.from(defined(ok)).toString()).toBe("hello");
    await expect(
      readWebBody(new Request("http://x/", { method: "POST", body: "hello!" }), 5),
    ).rejects.toMatchObject({
      code: "INVALID_REQUEST",
      details: { httpStatus: 413 },
    });
    const declared = new Request("http://x/", {
      method: "POST",
      body: "x",
      headers: { "content-length": "99" },
    });
    await expect(readWebBody(declared, 5)).rejects.toMatchObject({ details: { httpStatus: 413 } });
    expect(await readWebBody(new Request("http://x/"), 5)).toBeUndefined();
  });
});
