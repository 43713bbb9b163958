import { availableParallelism } from 'node:os';
import { usage } from './usage.ts';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { PACKAGE_ROOT } from '../package-root.ts';
import { parseEngine } from '../browsers/engines.ts';
import { LAB_ID } from '../network/names.ts';
import { LabError } from '../topology/errors.ts';
import { parseShard } from './shard.ts';
import { parseTurnProvider } from './topology-file.ts';

export const SUITES = ['api', 'connectivity', 'turn', 'resilience'] as const;
export type SuiteName = (typeof SUITES)[number];

/** The package: suites are found from here, whatever the cwd. */
export const ROOT = PACKAGE_ROOT;
/** mocha's CLI wherever npm put it (hoisted into an app's node_modules, say). */
const MOCHA = join(dirname(createRequire(import.meta.url).resolve('mocha/package.json')), 'bin/mocha.js');
/** Reports and evidence go where the user runs icelab (an app's repo, say), not into the package. */
export const REPORTS = resolve(process.cwd(), 'reports');

export interface SuiteOptions {
  suites: string[];
  engines?: string | undefined;
  matrix?: string | undefined;
  shard?: string | undefined;
  turn?: string | undefined;
  grep?: string | undefined;
  /** Connectivity calls spread over this many processes, each with its own lab and browsers. */
  parallel?: string | undefined;
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
  browserLaunches: { engine: string; host: string; launchMs: number }[];
}


const testFiles = (dir: string): string[] =>
  existsSync(dir) ? readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.test.ts')).map((f) => join(dir, f)).sort() : [];

/** Checks every option before anything starts; returns the mocha files and environment. */
export interface Worker {
  files: string[];
  env: NodeJS.ProcessEnv;
}

export function planSuiteRun(o: SuiteOptions, baseEnv: NodeJS.ProcessEnv = process.env): { suites: SuiteName[]; files: string[]; env: NodeJS.ProcessEnv; workers: Worker[] } {
  const asked = o.suites.length ? o.suites : ['all'];
  const unknown = asked.filter((s) => s !== 'all' && !(SUITES as readonly string[]).includes(s));
  if (unknown.length) throw usage(`suite: unknown suite ${unknown.map((s) => `"${s}"`).join(', ')}`, `use one or more of: ${SUITES.join(', ')}, all`);
  const suites = asked.includes('all') ? [...SUITES] : (asked as SuiteName[]);
  const files = suites.flatMap((s) => {
    const found = testFiles(join(ROOT, 'suites', s));
    if (!found.length) throw new LabError('ERR_SUITE_EMPTY', `suite "${s}": no *.test.ts under suites/${s}`, { hint: 'is the checkout complete? (git status)' });
    return found;
  });
  const env: NodeJS.ProcessEnv = { ...baseEnv, ICELAB_REPORTS_DIR: REPORTS };
  if (o.engines) env.ICELAB_ENGINES = o.engines.split(',').map((e) => parseEngine(e.trim(), '--engines')).join(',');
  if (o.matrix) {
    if (o.matrix !== 'pr' && o.matrix !== 'full') throw usage(`--matrix: "${o.matrix}" is not a selection`, 'use --matrix pr (the default, PR-sized) or --matrix full');
    env.ICELAB_MATRIX = o.matrix;
  }
  if (o.shard) {
    parseShard(o.shard);
    env.ICELAB_SHARD = o.shard;
  }
  const turn = parseTurnProvider(o.turn);
  if (turn) env.ICELAB_TURN_PROVIDER = turn;
  if (o.headed) {
    if (!baseEnv.DISPLAY && !baseEnv.WAYLAND_DISPLAY) throw usage('--headed: no display to show the browsers on (DISPLAY is not set)', 'run it under a display, e.g. xvfb-run -a npx icelab suite … --headed, or leave out --headed');
    env.ICELAB_HEADED = '1';
  }
  if (baseEnv.ICELAB_LAB_ID !== undefined) checkLabId(baseEnv.ICELAB_LAB_ID);
  const parallel = o.parallel === undefined ? defaultParallel(o) : Number(o.parallel);
  if (!Number.isInteger(parallel) || parallel < 1 || parallel > 16) throw usage(`--parallel: "${o.parallel}" is not a number of processes from 1 to 16`, 'e.g. --parallel 3 (each process runs its own lab and browsers)');
  return { suites, files, env, workers: splitWorkers(files, env, parallel) };
}

/**
 * Processes when --parallel is not given: three on a machine with two cores or more for the PR
 * selection (all suites on 2 cores, 2026-12-01: 123-136 s in three processes, 146-158 s in two,
 * 204-228 s in one; the runs wait on browsers and timers more than they compute: two processes
 * used 0.84 cores of 2), one for the full matrix and a shard of it (one process measured 348-383 s).
 */
function defaultParallel(o: SuiteOptions): number {
  return availableParallelism() >= 2 && o.matrix !== 'full' && !o.shard ? 3 : 1;
}

/** The one suite file that runs a share of its cases under ICELAB_SHARD (the connectivity matrix). */
const MATRIX_FILE = join('suites', 'connectivity', 'connectivity.test.ts');

/**
 * Seconds a unit takes in one process (the PR main job of 2026-12-01, chromium+firefox, lab and
 * launches included): what splitWorkers balances the processes by. A unit is a suite's files,
 * except a file named here by its path under suites/, a unit of its own: the PR matrix (split,
 * each half took as long as the whole, as each process launched its own browsers for it). The
 * matrix is what computes (calls with video); the others mostly wait on timers and browsers, and
 * their processes start no more labs and browsers than they must: the resilience suite's mapping
 * lifetime file (a lab of its own) run apart from the suite made the matrix slower (135 s, not 115).
 */
const UNIT_SECONDS: Readonly<Record<string, number>> = { [relative('suites', MATRIX_FILE)]: 80, resilience: 110, api: 50, turn: 45, connectivity: 5 };
const isMatrix = (f: string) => f.endsWith(MATRIX_FILE);
/** What balance() keeps together: the file when UNIT_SECONDS names it, else its suite. */
function unitOf(file: string): string {
  const path = /^.*\/suites\/(.+)$/.exec(file)?.[1] ?? file;
  return path in UNIT_SECONDS ? path : path.split('/')[0]!;
}
const unitSeconds = (unit: string): number => UNIT_SECONDS[unit] ?? 10;

/** Files over `n` shares, a unit's files together: the longest unit first, to the least loaded share. */
function balance(files: readonly string[], n: number): string[][] {
  const load = Array.from({ length: n }, () => 0);
  const owner = new Map<string, number>();
  const units = [...new Set(files.map(unitOf))].sort((x, y) => unitSeconds(y) - unitSeconds(x));
  for (const unit of units) {
    const i = load.indexOf(Math.min(...load));
    owner.set(unit, i);
    load[i]! += unitSeconds(unit);
  }
  return load.map((_, i) => files.filter((f) => owner.get(unitOf(f)) === i));
}

/**
 * Spreads a run over `n` processes, each with its own lab. The full matrix is split: worker k runs
 * shard k of n of it (within the --shard the run was given; shard i of m, split k of n, is shard
 * (i-1)+m(k-1)+1 of m·n: same cases, no overlap, still deterministic). Every other file, and the PR
 * matrix, runs once, in the worker balance() gives it (in shard 1 only: other shards would repeat
 * its results). A worker with nothing to run is left out.
 */
export function splitWorkers(files: string[], env: NodeJS.ProcessEnv, n: number): Worker[] {
  const base = parseShard(env.ICELAB_SHARD) ?? { index: 1, total: 1 };
  const split = env.ICELAB_MATRIX === 'full' || base.total > 1 ? files.filter(isMatrix) : [];
  const rest = files.filter((f) => !split.includes(f));
  const others = base.index === 1 || !split.length ? rest : [];
  const shares = balance(others, split.length ? n : Math.min(n, Math.max(1, new Set(others.map(unitOf)).size)));
  const count = shares.length;
  return shares.map((own, i) => ({
    files: files.filter((f) => split.includes(f) || own.includes(f)),
    env: {
      ...env,
      ...(split.length ? { ICELAB_SHARD: `${base.index + base.total * i}/${base.total * count}` } : {}),
      ICELAB_SUMMARY_FILE: join(REPORTS, `summary-${i + 1}.json`),
      // Each worker brings up its own lab: a fixed lab name gets the worker's number (ci → ci1, ci2).
      ...(env.ICELAB_LAB_ID && count > 1 ? { ICELAB_LAB_ID: `${env.ICELAB_LAB_ID}${i + 1}` } : {}),
    },
  }));
}

/** ICELAB_LAB_ID names the suite's lab; with --parallel each worker appends its number (up to two digits). */
function checkLabId(id: string): void {
  if (!LAB_ID.test(id) || id.length > 14) {
    throw new LabError('ERR_LAB_ID', `ICELAB_LAB_ID: "${id}" is not a lab name`, { hint: 'use 1-14 lower-case letters or digits (--parallel appends the worker number)' });
  }
}

/** One mocha process; with several, each output line is prefixed with the worker's number. */
function runMocha(w: Worker, k: number, n: number, o: SuiteOptions): Promise<number> {
  // Mocha runs in the package; its results go to the reports of the directory icelab runs in.
  const args = [MOCHA, '--config', join(ROOT, 'suites/.mocharc.json'), '--reporter-option', `resultsDir=${join(REPORTS, 'allure-results')}`, ...(o.grep ? ['--grep', o.grep] : []), ...w.files.map((f) => relative(ROOT, f))];
  const out = o.json ? process.stderr : process.stdout;
  const child = spawn(process.execPath, args, { cwd: ROOT, env: w.env, stdio: ['ignore', n > 1 || o.json ? 'pipe' : 'inherit', n > 1 ? 'pipe' : 'inherit'] });
  for (const [stream, to] of [[child.stdout, out], [child.stderr, process.stderr]] as const) {
    if (!stream) continue;
    let rest = '';
    stream.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop() ?? '';
      for (const l of lines) to.write(n > 1 ? `[${k}/${n}] ${l}\n` : `${l}\n`);
    });
  }
  const t0 = performance.now();
  return new Promise<number>((resolve) =>
    child.on('close', (c, sig) => {
      const code = c ?? (sig ? 130 : 1);
      // Which process held the run up: each one's end, with what it ran.
      if (n > 1) process.stderr.write(`[${k}/${n}] ${[...new Set(w.files.map(unitOf))].join(', ')}: exit ${code} after ${Math.round((performance.now() - t0) / 1000)} s\n`);
      resolve(code);
    }),
  );
}

/** Adds the workers' summaries up; a worker without one (crashed) counts as a failure. */
export function mergeSummaries(parts: (RunSummary | null)[], durationMs: number): RunSummary {
  const sum: RunSummary = { passed: 0, failed: 0, unavailable: 0, skipped: 0, known: 0, durationMs, browserLaunches: [] };
  for (const p of parts) {
    if (!p) sum.failed += 1;
    else {
      for (const k of ['passed', 'failed', 'unavailable', 'skipped', 'known'] as const) sum[k] += p[k];
      sum.browserLaunches.push(...(p.browserLaunches ?? []));
    }
  }
  return sum;
}

/**
 * `icelab suite`: runs the suites with mocha (one lab and one browser fleet for the whole run),
 * writes reports/allure-results, then the Allure report. Exit 0 when every result was expected
 * (passes and known deviations), 1 when any was not.
 */
export async function suiteCommand(o: SuiteOptions): Promise<number> {
  const { suites, files, env, workers } = planSuiteRun(o);
  const results = join(REPORTS, 'allure-results');
  mkdirSync(REPORTS, { recursive: true });
  for (const d of [results, join(REPORTS, 'evidence')]) rmSync(d, { recursive: true, force: true });
  for (const f of readdirSync(REPORTS)) if (/^(summary(-\d+)?|claims)\.json$/.test(f)) rmSync(join(REPORTS, f), { force: true });
  mkdirSync(results, { recursive: true });
  const log = (s: string) => process.stderr.write(`${s}\n`);
  log(`icelab suite ${suites.join(' ')}: ${files.length} files${env.ICELAB_ENGINES ? `, engines ${env.ICELAB_ENGINES}` : ''}${env.ICELAB_MATRIX ? `, matrix ${env.ICELAB_MATRIX}` : ''}${env.ICELAB_SHARD ? `, shard ${env.ICELAB_SHARD}` : ''}${workers.length > 1 ? `, ${workers.length} processes` : ''}`);

  const t0 = performance.now();
  // Ctrl-C reaches mocha too (same process group): let it remove its lab, then report what ran.
  const ignore = () => undefined;
  process.on('SIGINT', ignore);
  const codes = await Promise.all(workers.map((w, i) => runMocha(w, i + 1, workers.length, o)));
  process.off('SIGINT', ignore);
  const code = codes.find((c) => c !== 0) ?? 0;
  const durationMs = Math.round(performance.now() - t0);
  const summary = mergeSummaries(workers.map((w) => readSummary(w.env.ICELAB_SUMMARY_FILE)), durationMs);
  writeFileSync(join(REPORTS, 'summary.json'), JSON.stringify(summary, null, 2));

  let report: { reportDir: string; junit: string; overview: string } | null = null;
  if (o.report) {
    try {
      const { buildReport } = await import('../report/report.ts');
      report = await buildReport({ resultsDir: results, reportDir: join(REPORTS, 'allure-report'), claimsFile: join(REPORTS, 'claims.json') });
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
  } else {
    // The closing line CI reads.
    console.log(`\n${summary.passed} passed, ${summary.failed} failed${summary.unavailable ? `, ${summary.unavailable} unavailable` : ''}${summary.skipped ? `, ${summary.skipped} skipped` : ''}${summary.known ? ` (${summary.known} known deviations)` : ''} in ${(durationMs / 1000).toFixed(0)} s, ${summary.browserLaunches.length} browser launches`);
  }
  return exitCode;
}

export function readSummary(file: string | undefined = join(REPORTS, 'summary.json')): RunSummary | null {
  return file && existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as RunSummary) : null;
}
