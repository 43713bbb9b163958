/**
 * Bench section `suites` (once each, not `runs` times: a run is minutes): wall time of the PR
 * selection of every suite and of the full connectivity matrix, as `icelab suite` runs them, with
 * browser launches counted and where the time goes — the time of each suite's tests (from the
 * Allure results' start/stop) and what is left: lab start, browser launches, report. The full
 * matrix is spread over `ICELAB_BENCH_PARALLEL` processes (default 3). `--json` output is read;
 * no HTML report is built.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { BenchOptions } from '../bench.ts';
import { REPORTS, ROOT, type RunSummary } from '../../lab/cli/suite.ts';
import { label, readResults } from '../../lab/report/results.ts';

interface SuiteRun {
  command: string;
  wallMs: number;
  exitCode: number;
  summary: RunSummary | null;
  browserLaunches: number;
  /** Sum of test durations per Allure parent suite (api, connectivity, …), in seconds. */
  testSecondsBySuite: Record<string, number>;
  /** The slowest tests, to show where the time goes. */
  slowest: { name: string; ms: number }[];
}

function timeBySuite(): Pick<SuiteRun, 'testSecondsBySuite' | 'slowest'> {
  const bySuite: Record<string, number> = {};
  const tests: { name: string; ms: number }[] = [];
  for (const { result: r } of readResults(join(REPORTS, 'allure-results'))) {
    const ms = (r.stop ?? 0) - (r.start ?? 0);
    const suite = label(r, 'parentSuite') ?? label(r, 'suite') ?? 'other';
    bySuite[suite] = (bySuite[suite] ?? 0) + ms / 1000;
    tests.push({ name: r.name, ms });
  }
  for (const k of Object.keys(bySuite)) bySuite[k] = Math.round(bySuite[k]!);
  return { testSecondsBySuite: bySuite, slowest: tests.sort((a, b) => b.ms - a.ms).slice(0, 5) };
}

async function suiteRun(args: string[], log: BenchOptions['log']): Promise<SuiteRun> {
  const argv = [join(ROOT, 'bin/icelab.js'), 'suite', ...args, '--no-report', '--json'];
  log(`suites: icelab ${argv.slice(1).join(' ')}`);
  const t0 = performance.now();
  const child = spawn(process.execPath, argv, { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  const exitCode = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  const wallMs = Math.round(performance.now() - t0);
  const summary = (JSON.parse(out || 'null') as { summary: RunSummary } | null)?.summary ?? null;
  log(`suites: ${wallMs} ms, ${summary?.passed ?? '?'} passed, ${summary?.failed ?? '?'} failed`);
  return { command: `icelab ${argv.slice(1).join(' ')}`, wallMs, exitCode, summary, browserLaunches: summary?.browserLaunches.length ?? 0, ...timeBySuite() };
}

export async function suites({ log }: BenchOptions): Promise<unknown> {
  const parallel = process.env.ICELAB_BENCH_PARALLEL ?? '3';
  const pr = await suiteRun(['all'], log);
  const full = await suiteRun(['connectivity', '--matrix', 'full', '--parallel', parallel], log);
  return { targets: { prAllSuitesMs: 300_000, fullMatrixMs: 1_200_000 }, pr, full };
}
