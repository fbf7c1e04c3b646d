// Shared by the deployment tests: a store that survives a restart, and a proxy that loses answers.
import { once } from "node:events";
import { createServer, request as httpRequest } from "node:http";
import type { Socket } from "node:net";
import { memoryStore, type UsageStore } from "../src/index.js";

/** A store that outlives the instance that closes it, like a file on a task's volume. */
export function durable(store = memoryStore()): UsageStore {
  return { ...store, durable: true, close: async () => {} };
}

/**
 * A loopback proxy to the emulator that forwards the first `drop` MeterUsage calls (DryRun excluded),
 * lets the emulator bill them, and then cuts the connection instead of passing the answer on.
 */
export async function droppingProxy(target: string, drop: number) {
  const sockets = new Set<Socket>();
  let left = drop;
  let dropped = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const metering =
        String(req.headers["x-amz-target"]).endsWith(".MeterUsage") && !body.toString().includes('"DryRun"');
      const up = httpRequest(
        `${target}${req.url}`,
        { method: req.method, headers: req.headers },
        (answer) => {
          const parts: Buffer[] = [];
          answer.on("data", (c: Buffer) => parts.push(c));
          answer.on("end", () => {
            if (metering && left > 0) {
              left--;
              dropped++;
              req.socket.destroy();
              return;
            }
            res.writeHead(answer.statusCode ?? 500, answer.headers);
            res.end(Buffer.concat(parts));
          });
        },
      );
      up.end(body);
    });
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    dropped: () => dropped,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
