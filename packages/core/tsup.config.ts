import { defineConfig } from "tsup";

export default defineConfig({
  // Three entries: `.` for app authors, `./http` for adapter authors, `./store` for store authors.
  entry: ["src/index.ts", "src/http.ts", "src/store.ts"],
  format: ["esm", "cjs"],
  // Shared chunks in both formats, so `.` and `./http` share one copy of every module (one symbol, one class).
  splitting: true,
  dts: true,
  clean: true,
  sourcemap: true,
  target: "node20",
});
