// Adds up the summaries that scripts/summary-reporter.cjs wrote (project tests, suites) into the
// closing line CI reads: "N passed, N failed". A missing summary (a run that crashed before its
// end) counts as one failure, so it cannot look green.
const { existsSync, readFileSync } = require('node:fs');

const total = { passed: 0, failed: 0, unavailable: 0, skipped: 0, known: 0 };
for (const file of process.argv.slice(2)) {
  if (!existsSync(file)) {
    process.stdout.write(`${file}: no summary (the run ended before mocha finished)\n`);
    total.failed += 1;
    continue;
  }
  const s = JSON.parse(readFileSync(file, 'utf8'));
  for (const k of Object.keys(total)) total[k] += s[k] ?? 0;
}
const extra = [total.unavailable ? `${total.unavailable} unavailable` : '', total.skipped ? `${total.skipped} skipped` : '', total.known ? `${total.known} known deviations` : ''].filter(Boolean);
process.stdout.write(`${total.passed} passed, ${total.failed} failed${extra.length ? ` (${extra.join(', ')})` : ''}\n`);
