// mocha's spec reporter plus the closing line CI reads: "N passed, N failed".
// Tests an engine could not run (marked by suites/support/fixture.ts) are counted as unavailable,
// apart from other skips: neither passed nor hidden. Passes that matched a listed known deviation
// (flagged by gate() in suites/support/fixture.ts) are counted as known. With ICELAB_SUMMARY_FILE
// the counts are also written there as JSON (icelab suite, .ci/run).
const { writeFileSync } = require('node:fs');
const { reporters } = require('mocha');

class SummaryReporter extends reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    const unavailable = new Map();
    let known = 0;
    const t0 = Date.now();
    runner.on('test', () => {
      globalThis.icelabKnownDeviation = undefined;
    });
    runner.on('pass', () => {
      if (globalThis.icelabKnownDeviation) known++;
    });
    runner.on('pending', (test) => {
      if (test.icelabUnavailable) unavailable.set(test.icelabUnavailable, (unavailable.get(test.icelabUnavailable) ?? 0) + 1);
    });
    runner.once('end', () => {
      const s = runner.stats;
      const na = [...unavailable.values()].reduce((a, b) => a + b, 0);
      for (const [why, n] of unavailable) process.stdout.write(`  ${n} × ${why}\n`);
      const extra = [na ? `${na} unavailable` : '', s.pending - na ? `${s.pending - na} skipped` : ''].filter(Boolean);
      process.stdout.write(`\n${s.passes} passed, ${s.failures} failed${extra.length ? `, ${extra.join(', ')}` : ''}${known ? ` (${known} known deviations)` : ''}\n`);
      const file = process.env.ICELAB_SUMMARY_FILE;
      if (file) {
        const summary = { passed: s.passes, failed: s.failures, unavailable: na, skipped: s.pending - na, known, durationMs: Date.now() - t0, browserLaunches: globalThis.icelabLaunches ?? [] };
        writeFileSync(file, JSON.stringify(summary, null, 2));
      }
    });
  }
}
module.exports = SummaryReporter;
