import { defineProject } from "vitest/config";

export default defineProject({
  test: {
    name: "nestjs-saas",
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // The workspace links @marketmeter/nestjs outside node_modules, so Vite would transform its CommonJS
    // build itself; load it with Node as an installed package is.
    server: { deps: { external: [/packages\/nestjs\/dist\//] } },
  },
});
