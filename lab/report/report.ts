import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { ENGINES } from '../browsers/engines.ts';
import { LabError } from '../topology/errors.ts';
import { claimsTableHtml, readClaims } from './claims-table.ts';
import { escapeHtml } from './html.ts';
import { junitXml } from './junit.ts';
import { overviewGrid, overviewHtml, overviewSvg } from './overview.ts';
import { CATEGORIES, countOutcomes, label, liftReason, readResults, REPORT_LABEL, renderDescription, type AllureResult } from './results.ts';

export interface ReportOptions {
  resultsDir?: string;
  reportDir?: string;
  claimsFile?: string;
}
export interface BuiltReport {
  reportDir: string;
  junit: string;
  overview: string;
  counts: Record<string, number>;
}

const ROOT = new URL('../../', import.meta.url).pathname;
const ALLURE = join(ROOT, 'node_modules/allure-commandline/dist/bin/allure');
const OVERVIEW_ID = 'icelab-overview';

/** Engine versions seen in the results ("chromium 156.0.7…" in parameters and labels), else from the claims file. */
export function engineVersions(results: readonly AllureResult[], claimed: Partial<Record<string, string | null>> = {}): Record<string, string> {
  const seen = new Map<string, Set<string>>();
  const missing = new Set<string>();
  for (const r of results) {
    for (const v of [...(r.parameters ?? []), ...(r.labels ?? [])].map((p) => p.value)) {
      for (const m of v.matchAll(/\b(chromium|firefox|webkit)[ @](\d+(?:\.\d+)*)/g)) {
        if (!seen.has(m[1]!)) seen.set(m[1]!, new Set());
        seen.get(m[1]!)!.add(m[2]!);
      }
    }
    const u = label(r, 'engineUnavailable');
    if (u) missing.add(u);
  }
  const out: Record<string, string> = {};
  for (const e of ENGINES) {
    const versions = [...(seen.get(e) ?? [])];
    out[e] = versions.length ? versions.sort().join(', ') : (claimed[e] ?? (missing.has(e) ? 'unavailable' : 'not run'));
  }
  return out;
}

function coturnVersion(): string {
  const r = spawnSync('turnserver', ['--version'], { encoding: 'utf8', timeout: 5000 });
  if (r.error) return 'not installed';
  return `${r.stdout}${r.stderr}`.split('\n').find((l) => /\d+\.\d+/.test(l))?.trim() ?? 'unknown';
}

/** What the report's Environment widget shows: engines, coturn, kernel, icelab, node. */
export function environment(results: readonly AllureResult[], claimed: Partial<Record<string, string | null>> = {}): Record<string, string> {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  return {
    ...engineVersions(results, claimed),
    coturn: coturnVersion(),
    kernel: release(),
    icelab: pkg.version,
    node: process.version,
  };
}

// Java .properties: backslash, line breaks and separators in keys must be escaped.
const properties = (env: Record<string, string>): string =>
  Object.entries(env)
    .map(([k, v]) => `${k.replace(/[\\=: ]/g, '\\$&')}=${v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`)
    .join('\n') + '\n';

/** The Java the allure script will use: $JAVA_HOME/bin/java, else java on PATH. */
function requireJava(): void {
  const java = process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
  const r = spawnSync(java, ['-version'], { encoding: 'utf8', timeout: 20000 });
  if (r.error || r.status !== 0) {
    throw new LabError('ERR_NO_JAVA', `allure-commandline needs Java to generate the HTML report, and ${r.error ? `\`${java}\` was not found${process.env.JAVA_HOME ? ' (from JAVA_HOME)' : ' on PATH'}` : `\`${java} -version\` failed: ${r.stderr.trim()}`}`, {
      hint: 'apt-get install default-jre-headless (scripts/setup installs it); JUnit XML and the overview were still written',
    });
  }
}

function allureGenerate(resultsDir: string, reportDir: string): Promise<void> {
  return new Promise((done, fail) => {
    const child = spawn(ALLURE, ['generate', '--clean', '-o', reportDir, resultsDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d));
    child.stderr.on('data', (d: Buffer) => (output += d));
    child.on('error', (e) => fail(new LabError('ERR_ALLURE', `could not run ${ALLURE}: ${e.message}`, { hint: 'npm ci (allure-commandline is a dependency)', cause: e })));
    child.on('close', (code) =>
      code === 0 ? done() : fail(new LabError('ERR_ALLURE', `allure generate failed (exit ${code}): ${output.trim()}`, { hint: `check the result files in ${resultsDir}` })),
    );
  });
}

/**
 * Turns Allure results into the report teams read: reasons in the status message and descriptions
 * as HTML, environment, categories and history in the results, the matrix overview (HTML and SVG,
 * attached as an extra result and written beside the report), JUnit XML for CI annotations, then
 * the static HTML report via allure-commandline.
 */
export async function buildReport(opts: ReportOptions = {}): Promise<BuiltReport> {
  const resultsDir = resolve(opts.resultsDir ?? 'reports/allure-results');
  const reportDir = resolve(opts.reportDir ?? 'reports/allure-report');
  const claimsFile = resolve(opts.claimsFile ?? 'reports/claims.json');
  const outDir = dirname(reportDir);
  mkdirSync(outDir, { recursive: true });

  const files = readResults(resultsDir);
  const results = files.map(({ file, result }) => {
    const lifted = liftReason(result) ?? result;
    const prepared = renderDescription(lifted) ?? lifted;
    if (prepared !== result) writeFileSync(file, JSON.stringify(prepared));
    return prepared;
  });
  const counts = countOutcomes(results);

  const junit = join(outDir, 'junit.xml');
  writeFileSync(junit, junitXml(results));

  const claims = existsSync(claimsFile) ? readClaims(claimsFile) : null;
  const env = environment(results, claims?.engines ?? {});
  writeFileSync(join(resultsDir, 'environment.properties'), properties(env));
  writeFileSync(join(resultsDir, 'categories.json'), JSON.stringify(CATEGORIES, null, 2));
  if (process.env.GITHUB_RUN_ID) {
    const url = `${process.env.GITHUB_SERVER_URL}/${process.env.GITHUB_REPOSITORY}/actions/runs/${process.env.GITHUB_RUN_ID}`;
    writeFileSync(join(resultsDir, 'executor.json'), JSON.stringify({ name: 'GitHub Actions', type: 'github', buildName: `${process.env.GITHUB_WORKFLOW} #${process.env.GITHUB_RUN_NUMBER}`, buildUrl: url, reportUrl: url }));
  }
  // allure generate --clean removes the previous report: carry its history over first (trend widgets).
  const history = join(reportDir, 'history');
  if (existsSync(history)) {
    rmSync(join(resultsDir, 'history'), { recursive: true, force: true });
    cpSync(history, join(resultsDir, 'history'), { recursive: true });
  }

  const grid = overviewGrid(results);
  const svg = overviewSvg(grid);
  const html = overviewHtml({
    grid,
    counts,
    environment: env,
    claimsHtml: claims
      ? // claimsTableHtml makes a whole page; the overview embeds its body.
        (/<body[^>]*>([\s\S]*)<\/body>/.exec(claimsTableHtml(claims))?.[1] ?? '')
      : `<h2>Claims</h2><p>No claims table at ${escapeHtml(claimsFile)}: the API suite writes it (npx icelab suite api).</p>`,
    generated: new Date().toISOString(),
  });
  const overview = join(outDir, 'overview.html');
  writeFileSync(overview, html);
  writeFileSync(join(outDir, 'overview.svg'), svg);
  writeFileSync(join(resultsDir, `${OVERVIEW_ID}-matrix-attachment.html`), html);
  writeFileSync(join(resultsDir, `${OVERVIEW_ID}-matrix-attachment.svg`), svg);
  const now = Date.now();
  const overviewResult = {
    uuid: OVERVIEW_ID,
    historyId: OVERVIEW_ID,
    name: 'overview: connectivity matrix and claims',
    fullName: 'icelab overview',
    status: 'passed',
    stage: 'finished',
    description: `The run at a glance: ${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ')}. Open the HTML attachment for the grid of NAT pair × engine pair and the claims table.`,
    labels: [
      { name: REPORT_LABEL, value: 'overview' },
      { name: 'parentSuite', value: 'overview' },
      { name: 'severity', value: 'trivial' },
    ],
    parameters: [],
    steps: [],
    attachments: [
      { name: 'overview.html', source: `${OVERVIEW_ID}-matrix-attachment.html`, type: 'text/html' },
      { name: 'matrix.svg', source: `${OVERVIEW_ID}-matrix-attachment.svg`, type: 'image/svg+xml' },
    ],
    start: now,
    stop: now,
  };
  writeFileSync(join(resultsDir, `${OVERVIEW_ID}-result.json`), JSON.stringify(overviewResult));

  requireJava();
  await allureGenerate(resultsDir, reportDir);
  return { reportDir, junit, overview, counts };
}
