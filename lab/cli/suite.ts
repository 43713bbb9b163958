import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseEngine } from '../browsers/engines.ts';
import { LabError } from '../topology/errors.ts';
import { parseShard } from '../../suites/connectivity/matrix.ts';

export const SUITES = ['api', 'connectivity', 'turn', 'resilience'] as const;
export type SuiteName = (typeof SUITES)[number];

/** The checkout: suites, mocha and the reports directory are found from here, whatever the cwd. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const REPORTS = join(ROOT, 'reports');

export interface SuiteOptions {
  suites: string[];
  engines?: string | undefined;
  matrix?: string | undefined;
  shard?: string | undefined;
  turn?: string | undefined;
  grep?: string | undefined;
  headed?: boolean;
  report: boolean;
  json: boolean;
}

/** The run's counts, written by scripts/summary-reporter.cjs. */
export interface RunSummary {
  passed: number;
  failed: number;
  unavailable: number;
  skipped: number;
  known: number;
  durationMs: number;
}

const usage = (message: string, hint: string) => Object.assign(new LabError('ERR_USAGE', message, { hint }), { exitCode: 2 });

const testFiles = (dir: string): string[] =>
  existsSync(dir) ? readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.test.ts')).map((f) => join(dir, f)).sort() : [];

/** Checks every option before anything starts; returns the mocha files and environment. */
export function planSuiteRun(o: SuiteOptions, baseEnv: NodeJS.ProcessEnv = process.env): { suites: SuiteName[]; files: string[]; env: NodeJS.ProcessEnv } {
  const asked = o.suites.length ? o.suites : ['all'];
  const unknown = asked.filter((s) => s !== 'all' && !(SUITES as readonly string[]).includes(s));
  if (unknown.length) throw usage(`suite: unknown suite ${unknown.map((s) => `"${s}"`).join(', ')}`, `use one or more of: ${SUITES.join(', ')}, all`);
  const suites = asked.includes('all') ? [...SUITES] : (asked as SuiteName[]);
  const files = suites.flatMap((s) => {
    const found = testFiles(join(ROOT, 'suites', s));
    if (!found.length) throw new LabError('ERR_SUITE_EMPTY', `suite "${s}": no *.test.ts under suites/${s}`, { hint: 'is the checkout complete? (git status)' });
    return found;
  });
  const env: NodeJS.ProcessEnv = { ...baseEnv, ICELAB_SUMMARY_FILE: join(REPORTS, 'summary.json'), ICELAB_REPORTS_DIR: REPORTS };
  if (o.engines) env.ICELAB_ENGINES = o.engines.split(',').map((e) => parseEngine(e.trim(), '--engines')).join(',');
  if (o.matrix) {
    if (o.matrix !== 'pr' && o.matrix !== 'full') throw usage(`--matrix: "${o.matrix}" is not a selection`, 'use --matrix pr (the default, PR-sized) or --matrix full');
    env.ICELAB_MATRIX = o.matrix;
  }
  if (o.shard) {
    parseShard(o.shard);
    env.ICELAB_SHARD = o.shard;
  }
  if (o.turn) {
    if (o.turn !== 'process' && o.turn !== 'container') throw usage(`--turn: "${o.turn}" is not a TURN provider`, 'use --turn process (the machine\'s coturn, default) or --turn container (scripts/build-images first)');
    env.ICELAB_TURN_PROVIDER = o.turn;
  }
  if (o.headed) env.ICELAB_HEADED = '1';
  return { suites, files, env };
}

/**
 * `icelab suite`: runs the suites with mocha (one lab and one browser fleet for the whole run),
 * writes reports/allure-results, then the Allure report. Exit 0 when every result was expected
 * (passes and known deviations), 1 when any was not.
 */
export async function suiteCommand(o: SuiteOptions): Promise<number> {
  const { suites, files, env } = planSuiteRun(o);
  const results = join(REPORTS, 'allure-results');
  for (const d of [results, join(REPORTS, 'evidence')]) rmSync(d, { recursive: true, force: true });
  for (const f of ['summary.json', 'claims.json']) rmSync(join(REPORTS, f), { force: true });
  mkdirSync(results, { recursive: true });
  const log = (s: string) => process.stderr.write(`${s}\n`);
  log(`icelab suite ${suites.join(' ')}: ${files.length} files${env.ICELAB_ENGINES ? `, engines ${env.ICELAB_ENGINES}` : ''}${env.ICELAB_MATRIX ? `, matrix ${env.ICELAB_MATRIX}` : ''}${env.ICELAB_SHARD ? `, shard ${env.ICELAB_SHARD}` : ''}`);

  const t0 = performance.now();
  const args = [join(ROOT, 'node_modules/mocha/bin/mocha.js'), '--config', join(ROOT, 'suites/.mocharc.json'), ...(o.grep ? ['--grep', o.grep] : []), ...files.map((f) => relative(ROOT, f))];
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', o.json ? process.stderr : 'inherit', 'inherit'] });
  // Ctrl-C reaches mocha too (same process group): let it remove its lab, then report what ran.
  const ignore = () => undefined;
  process.on('SIGINT', ignore);
  const code = await new Promise<number>((resolve) => child.on('close', (c, sig) => resolve(c ?? (sig ? 130 : 1))));
  process.off('SIGINT', ignore);
  const summary = readSummary();
  const durationMs = Math.round(performance.now() - t0);

  let report: { reportDir: string; junit: string; overview: string } | null = null;
  if (o.report) {
    try {
      const { buildReport } = await import('../report/report.ts');
      report = await buildReport({ resultsDir: results, reportDir: join(REPORTS, 'allure-report') });
      log(`Allure report: ${report.reportDir}/index.html (JUnit: ${report.junit})`);
    } catch (e) {
      // The run's verdict does not depend on the HTML report; say clearly why there is none.
      log(`no Allure report: ${(e as Error).message}${(e as LabError).hint ? `\nTo fix: ${(e as LabError).hint}` : ''}`);
    }
  }
  const claimsFile = join(REPORTS, 'claims.json');
  if (existsSync(claimsFile) && !o.json) {
    const { readClaims, formatClaimsTable } = await import('../report/claims-table.ts');
    log(`\nClaims of the seed guide, per engine:\n${formatClaimsTable(readClaims(claimsFile))}`);
  }
  const exitCode = code === 0 ? 0 : code === 130 ? 130 : 1;
  if (o.json) {
    console.log(JSON.stringify({ suites, engines: env.ICELAB_ENGINES ?? 'all', matrix: env.ICELAB_MATRIX ?? 'pr', shard: env.ICELAB_SHARD ?? null, summary, durationMs, results, report, claims: existsSync(claimsFile) ? claimsFile : null, exitCode }, null, 2));
  } else if (summary) {
    // The closing line CI reads.
    console.log(`\n${summary.passed} passed, ${summary.failed} failed${summary.unavailable ? `, ${summary.unavailable} unavailable` : ''}${summary.known ? ` (${summary.known} known deviations)` : ''} in ${(durationMs / 1000).toFixed(0)} s`);
  }
  return exitCode;
}

export function readSummary(file = join(REPORTS, 'summary.json')): RunSummary | null {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as RunSummary) : null;
}
