// Loaded with `node --import` by `pnpm test:props`: every fast-check property that does not set its own
// numRuns runs FC_RUNS times (default 1000, ten times the usual 100), to find rare counterexamples before
// CI does. Tests that set numRuns (the store interleavings, which talk to real servers) keep theirs.
import fc from "fast-check";

const runs = Number(process.env.FC_RUNS ?? 1000);
if (!Number.isSafeInteger(runs) || runs < 1)
  throw new Error(`FC_RUNS must be a positive integer, got "${process.env.FC_RUNS}"`);
fc.configureGlobal({ numRuns: runs });
