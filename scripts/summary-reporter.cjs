// mocha's spec reporter plus the closing line CI reads: "N passed, N failed".
// Tests an engine could not run (marked by suites/support/fixture.ts) are counted as unavailable,
// apart from other skips: neither passed nor hidden.
const { reporters } = require('mocha');

class SummaryReporter extends reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    const unavailable = new Map();
    runner.on('pending', (test) => {
      if (test.icelabUnavailable) unavailable.set(test.icelabUnavailable, (unavailable.get(test.icelabUnavailable) ?? 0) + 1);
    });
    runner.once('end', () => {
      const s = runner.stats;
      const na = [...unavailable.values()].reduce((a, b) => a + b, 0);
      for (const [why, n] of unavailable) process.stdout.write(`  ${n} × ${why}\n`);
      const extra = [na ? `${na} unavailable` : '', s.pending - na ? `${s.pending - na} skipped` : ''].filter(Boolean);
      process.stdout.write(`\n${s.passes} passed, ${s.failures} failed${extra.length ? `, ${extra.join(', ')}` : ''}\n`);
    });
  }
}
module.exports = SummaryReporter;
