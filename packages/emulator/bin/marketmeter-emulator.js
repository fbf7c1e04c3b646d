#!/usr/bin/env node
// Thin launcher so the bin link exists before the package is built.
import("../dist/cli.js").catch((err) => {
  console.error(err?.code === "ERR_MODULE_NOT_FOUND" ? "marketmeter-emulator: run `pnpm build` first" : err);
  process.exit(1);
});
