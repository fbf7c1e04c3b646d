import { describeAdapterConformance } from "@marketmeter/adapter-conformance";
import express from "express";
import express4 from "express4";
import { startExpressApp } from "./app.js";

describeAdapterConformance({
  name: "express 5",
  start: (hooks) => startExpressApp(express, hooks),
  errorChannel: true,
});
describeAdapterConformance({
  name: "express 4",
  start: (hooks) => startExpressApp(express4, hooks),
  errorChannel: true,
});
