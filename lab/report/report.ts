import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { ENGINES } from '../browsers/engines.ts';
import { PACKAGE_ROOT } from '../package-root.ts';
import { LabError } from '../topology/errors.ts';
import { claimsFile as claimsFileIn, claimsTableHtml, readClaims, type ClaimsFile } from './claims-table.ts';
import { escapeHtml } from './html.ts';
import { junitXml } from './junit.ts';
import { overviewGrid, overviewHtml, overviewSvg, type OverviewGrid } from './overview.ts';
import { CATEGORIES, countOutcomes, label, liftReason, readResults, renderDescription, reportsDir, type AllureResult } from './results.ts';

/** Defaults: allure-results, allure-report and claims.json in the reports directory (reportsDir()). */
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

// allure-commandline wherever npm put it (hoisted into an app's node_modules, say).
const ALLURE = join(dirname(createRequire(import.meta.url).resolve('allure-commandline/package.json')), 'dist/bin/allure');

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
  const pkg = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
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

/** Where the report's front page links the overview: the Executors widget, which takes a relative link. */
export const OVERVIEW_LINK = 'Matrix overview and claims';

/**
 * Allure's executor.json. Its Executors widget is on the report's front page and links
 * `buildName` to `buildUrl`: that link opens the overview copied into the report. On GitHub
 * Actions the run is named beside it, and the history trend links back to the run (`reportUrl`).
 */
export function executorInfo(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const link = { buildName: OVERVIEW_LINK, buildUrl: 'overview.html' };
  if (!env.GITHUB_RUN_ID) return { name: 'icelab', type: 'icelab', ...link };
  const run = `${env.GITHUB_SERVER_URL}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}`;
  return { name: `GitHub Actions: ${env.GITHUB_WORKFLOW} #${env.GITHUB_RUN_NUMBER}`, type: 'github', ...link, reportName: `${env.GITHUB_WORKFLOW} #${env.GITHUB_RUN_NUMBER}`, reportUrl: run };
}

function overviewPage(grid: OverviewGrid, counts: Record<string, number>, env: Record<string, string>, claims: ClaimsFile | null, claimsFile: string): string {
  return overviewHtml({
    grid,
    counts,
    environment: env,
    claimsHtml: claims
      ? // claimsTableHtml makes a whole page; the overview embeds its body.
        (/<body[^>]*>([\s\S]*)<\/body>/.exec(claimsTableHtml(claims))?.[1] ?? '')
      : `<h2>Claims</h2><p>No claims table at ${escapeHtml(claimsFile)}: the API suite writes it (npx icelab suite api).</p>`,
    generated: new Date().toISOString(),
  });
}

/**
 * Turns Allure results into the report teams read: reasons in the status message and descriptions
 * as HTML, environment, categories, executor and history in the results, JUnit XML for CI
 * annotations, then the static HTML report via allure-commandline. The matrix overview (HTML and
 * SVG) is written beside the report and into it, linked from its front page: it is not a test
 * result, so the report's counts and trends are the real tests' only.
 */
export async function buildReport(opts: ReportOptions = {}): Promise<BuiltReport> {
  const resultsDir = resolve(opts.resultsDir ?? join(reportsDir(), 'allure-results'));
  const reportDir = resolve(opts.reportDir ?? join(reportsDir(), 'allure-report'));
  const claimsFile = resolve(opts.claimsFile ?? claimsFileIn());
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
  writeFileSync(join(resultsDir, 'executor.json'), JSON.stringify(executorInfo()));
  // allure generate --clean removes the previous report: carry its history over first (trend widgets).
  const history = join(reportDir, 'history');
  if (existsSync(history)) {
    rmSync(join(resultsDir, 'history'), { recursive: true, force: true });
    cpSync(history, join(resultsDir, 'history'), { recursive: true });
  }

  const grid = overviewGrid(results);
  const pages = { 'overview.html': overviewPage(grid, counts, env, claims, claimsFile), 'overview.svg': overviewSvg(grid) };
  for (const [name, text] of Object.entries(pages)) writeFileSync(join(outDir, name), text);

  requireJava();
  await allureGenerate(resultsDir, reportDir);
  for (const [name, text] of Object.entries(pages)) writeFileSync(join(reportDir, name), text);
  return { reportDir, junit, overview: join(outDir, 'overview.html'), counts };
}
