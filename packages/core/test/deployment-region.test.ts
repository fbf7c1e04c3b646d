// The deployment's Region from the environment, ECS task metadata and IMDSv2, each served by a fake
// metadata server on loopback (never the real metadata address).
import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { isRegionName, regionOfArn, regionOfZone } from "../src/deployment/index.js";
import { resolveDeploymentRegion } from "../src/index.js";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
const servers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of servers.splice(0)) await close();
});

async function fakeServer(handler: Handler) {
  const seen: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    handler(req, res);
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  servers.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { url: `http://127.0.0.1:${port}`, seen };
}

/** IMDSv2: answers only with a session token from PUT /latest/api/token. */
const imds =
  (region: string): Handler =>
  (req, res) => {
    if (req.method === "PUT" && req.url === "/latest/api/token") {
      res.end("session-token");
      return;
    }
    if (
      req.url === "/latest/meta-data/placement/region" &&
      req.headers["x-aws-ec2-metadata-token"] === "session-token"
    ) {
      res.end(region);
      return;
    }
    res.statusCode = 401;
    res.end();
  };

describe("resolveDeploymentRegion", () => {
  it("the environment first, without asking any metadata", async () => {
    const meta = await fakeServer(imds("eu-west-3"));
    const env = { AWS_REGION: "ap-south-1", AWS_EC2_METADATA_SERVICE_ENDPOINT: meta.url };
    await expect(resolveDeploymentRegion({ env })).resolves.toBe("ap-south-1");
    await expect(
      resolveDeploymentRegion({
        env: { AWS_DEFAULT_REGION: "eu-north-1", ECS_CONTAINER_METADATA_URI_V4: meta.url },
      }),
    ).resolves.toBe("eu-north-1");
    expect(meta.seen).toEqual([]);
  });

  it("ECS and Fargate: the task metadata's task ARN, else its Availability Zone", async () => {
    const ecs = await fakeServer((req, res) => {
      res.setHeader("content-type", "application/json");
      if (req.url === "/v4/abc/task")
        res.end(
          JSON.stringify({
            TaskARN: "arn:aws:ecs:eu-central-1:111122223333:task/c/1",
            AvailabilityZone: "eu-central-1b",
          }),
        );
      else res.end(JSON.stringify({ AvailabilityZone: "us-west-2-lax-1a" }));
    });
    const disabled = { AWS_EC2_METADATA_DISABLED: "true" };
    await expect(
      resolveDeploymentRegion({ env: { ...disabled, ECS_CONTAINER_METADATA_URI_V4: `${ecs.url}/v4/abc` } }),
    ).resolves.toBe("eu-central-1");
    await expect(
      resolveDeploymentRegion({
        env: { ...disabled, ECS_CONTAINER_METADATA_URI_V4: `${ecs.url}/v4/zone-only` },
      }),
    ).resolves.toBe("us-west-2");
    expect(ecs.seen).toEqual(["GET /v4/abc/task", "GET /v4/zone-only/task"]);
  });

  it("EC2 and EKS nodes: IMDSv2, with a session token", async () => {
    const meta = await fakeServer(imds("ca-central-1"));
    await expect(
      resolveDeploymentRegion({ env: { AWS_EC2_METADATA_SERVICE_ENDPOINT: meta.url } }),
    ).resolves.toBe("ca-central-1");
    expect(meta.seen).toEqual(["PUT /latest/api/token", "GET /latest/meta-data/placement/region"]);
  });

  it("ECS metadata that does not answer well falls through to IMDS", async () => {
    const ecs = await fakeServer((_req, res) => {
      res.statusCode = 500;
      res.end();
    });
    const meta = await fakeServer(imds("sa-east-1"));
    await expect(
      resolveDeploymentRegion({
        env: { ECS_CONTAINER_METADATA_URI_V4: ecs.url, AWS_EC2_METADATA_SERVICE_ENDPOINT: meta.url },
      }),
    ).resolves.toBe("sa-east-1");
  });

  it("nothing answers within the budget: INVALID_CONFIG naming AWS_REGION", async () => {
    // Accepts the connection and never answers, as the metadata address does off EC2.
    const silent = await fakeServer(() => {});
    await expect(
      resolveDeploymentRegion({
        env: { ECS_CONTAINER_METADATA_URI_V4: silent.url, AWS_EC2_METADATA_SERVICE_ENDPOINT: silent.url },
        timeoutMs: 200,
      }),
    ).rejects.toMatchObject({ code: "INVALID_CONFIG", message: expect.stringContaining("set AWS_REGION") });
    expect(silent.seen.length).toBeGreaterThan(0);
    // Metadata disabled and no environment: the same error, without a request.
    await expect(
      resolveDeploymentRegion({ env: { AWS_EC2_METADATA_DISABLED: "true" } }),
    ).rejects.toMatchObject({
      code: "INVALID_CONFIG",
      message: expect.stringContaining("AWS_REGION"),
    });
  });

  it("refuses bad options with INVALID_CONFIG", async () => {
    for (const bad of [null, { env: null }, { timeoutMs: 0 }, { timeoutMs: 1.5 }])
      await expect(resolveDeploymentRegion(bad as never)).rejects.toMatchObject({ code: "INVALID_CONFIG" });
  });
});

const region = fc
  .tuple(
    fc.constantFrom("us", "eu", "ap", "sa", "ca", "me", "af", "il", "mx", "cn", "us-gov", "eusc-de"),
    fc.constantFrom("east", "west", "north", "south", "central", "northeast", "southeast"),
    fc.integer({ min: 1, max: 14 }),
  )
  .map(([p, d, n]) => `${p}-${d}-${n}`);

describe("Region parsers", () => {
  it("an Availability Zone (standard, Local or Wavelength) names its Region", () => {
    fc.assert(
      fc.property(region, fc.constantFrom("a", "b", "f", "-lax-1a", "-wl1-bos-wlz-1"), (r, zone) => {
        return isRegionName(r) && regionOfZone(`${r}${zone}`) === r;
      }),
    );
  });

  it("an ARN names its Region; anything else gives undefined, never a throw", () => {
    fc.assert(
      fc.property(region, fc.string(), (r, rest) => {
        return regionOfArn(`arn:aws:ecs:${r}:111122223333:task/${rest}`) === r;
      }),
    );
    fc.assert(
      fc.property(fc.anything(), (x) => {
        const z = regionOfZone(x);
        const a = regionOfArn(x);
        return (z === undefined || isRegionName(z)) && (a === undefined || isRegionName(a));
      }),
    );
    expect(regionOfZone("us-east-1")).toBeUndefined();
  });
});
