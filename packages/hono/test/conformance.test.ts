import { describeAdapterConformance } from "@marketmeter/adapter-conformance";
import { Hono } from "hono";
import { Hono as Hono40 } from "hono-4.0";
import { startHonoApp } from "./app.js";

describeAdapterConformance({
  name: "hono 4.13",
  start: (hooks) => startHonoApp(Hono, hooks),
  errorChannel: true,
});
describeAdapterConformance({
  name: "hono 4.0",
  start: (hooks) => startHonoApp(Hono40 as unknown as typeof Hono, hooks, true),
  errorChannel: true,
});
