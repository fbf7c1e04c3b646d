// Prints the closing line CI reads: `tests: N passed, N failed, N skipped`, summed over every vitest JSON
// report given (one per Node version or run). A report that is missing or holds no test is a failure.
import { readFileSync } from "node:fs";
import { basename } from "node:path";

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node scripts/test-summary.mjs REPORT.json...");
  process.exit(2);
}
const total = { passed: 0, failed: 0, skipped: 0 };
for (const file of files) {
  let report;
  try {
    report = JSON.parse(readFileSync(file, "utf8"));
  } catch {
    // An install or a runner that died writes no report; that run's tests did not pass.
    console.error(`${basename(file)}: no test report`);
    total.failed += 1;
    continue;
  }
  const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  // A suite that fails to load (syntax error, missing service) counts no test but must fail the run.
  const brokenSuites = (report.testResults ?? []).filter(
    (s) => s.status === "failed" && (s.assertionResults ?? []).length === 0,
  ).length;
  if (brokenSuites > 0) console.error(`${basename(file)}: ${brokenSuites} test file(s) failed to load`);
  let failed = (report.numFailedTests ?? 0) + brokenSuites;
  if ((report.numTotalTests ?? 0) === 0) {
    console.error(`${basename(file)}: no tests ran`);
    failed = Math.max(failed, 1);
  }
  if (files.length > 1)
    console.log(
      `  ${basename(file)}: ${report.numPassedTests ?? 0} passed, ${failed} failed, ${skipped} skipped`,
    );
  total.passed += report.numPassedTests ?? 0;
  total.failed += failed;
  total.skipped += skipped;
}
if (total.failed > 0) process.exitCode = 1;
console.log(`tests: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
