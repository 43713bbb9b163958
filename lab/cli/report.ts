import { relative } from 'node:path';
import { parseArgs } from 'node:util';
import { buildReport } from '../report/report.ts';

export const REPORT_HELP = `icelab report [--results <dir>] [--out <dir>] [--claims <file>] [--json]
  Allure results (default <reports>/allure-results) → HTML report (default <reports>/allure-report),
  with junit.xml and overview.html + overview.svg beside it; <reports> is ICELAB_REPORTS_DIR, else
  ./reports. The overview is also inside the report, linked from its front page.`;

/** `icelab report`: builds the report and says where it is and what it counted. Exit 0 once the report is built. */
export async function reportCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      results: { type: 'string' },
      out: { type: 'string' },
      claims: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(REPORT_HELP);
    return 0;
  }
  const r = await buildReport({
    ...(values.results ? { resultsDir: values.results } : {}),
    ...(values.out ? { reportDir: values.out } : {}),
    ...(values.claims ? { claimsFile: values.claims } : {}),
  });
  if (values.json) console.log(JSON.stringify(r, null, 2));
  else {
    const c = r.counts;
    const rel = (p: string) => {
      const r = relative(process.cwd(), p);
      return r.startsWith('..') ? p : r || '.';
    };
    console.log(`report: ${rel(r.reportDir)}/index.html (serve it over http, e.g. npx allure open ${rel(r.reportDir)})`);
    console.log(`overview: ${rel(r.overview)}; JUnit: ${rel(r.junit)}`);
    console.log(`${c.total} tests: ${c.passed} passed, ${c.known} known deviations, ${c.failed} failed, ${c.broken} broken, ${c.unavailable} unavailable${c.skipped ? `, ${c.skipped} skipped` : ''}`);
  }
  // The suites' own exit code is the gate; building the report is what this command answers for.
  return 0;
}
