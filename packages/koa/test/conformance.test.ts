import { describeAdapterConformance } from "@marketmeter/adapter-conformance";
import Koa from "koa";
import Koa2 from "koa2";
import { startKoaApp } from "./app.js";

describeAdapterConformance({ name: "koa 3", start: (hooks) => startKoaApp(Koa, hooks), errorChannel: true });
describeAdapterConformance({
  name: "koa 2",
  start: (hooks) => startKoaApp(Koa2, hooks),
  errorChannel: true,
});
