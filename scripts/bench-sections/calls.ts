/**
 * Bench section `calls` (issue 11): the connectivity matrix's calls as the suite runs them (the
 * same cases, the same CallPool), with every browser launched first. Per-call phases come from each
 * result's CallTimings (open, negotiate, connect, settle, media, evidence) as median and p95, with
 * the wall time of each call; calls per minute for the PR selection, and for the full selection
 * with `--full` (560 calls, minutes); peak RSS of the whole process tree (this process and every
 * browser it started) sampled every 250 ms; load average before and after; and how many results
 * the suite's gate would not accept (verdict and expectations, and media flow).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { startLab, type StartedLab } from '../../lab/lab.ts';
import { BrowserFleet } from '../../lab/browsers/fleet.ts';
import { findEngine, type EngineName } from '../../lab/browsers/engines.ts';
import { runCall, type CallPhases, type CallResult } from '../../lab/scenario/call.ts';
import { CallPool } from '../../lab/scenario/call-pool.ts';
import { suiteTopology } from '../../lab/topology/topology.ts';
import { matrixCases, type MatrixCase } from '../../suites/connectivity/matrix.ts';
import { judge, loadExpectations } from '../../suites/support/expectations.ts';
import type { BenchOptions } from '../bench.ts';

const load = () => loadavg().map((x) => Math.round(x * 100) / 100);

/** Median and 95th percentile (nearest rank) of what was measured; null when nothing was. */
export function percentiles(samples: readonly number[]): { median: number; p95: number; n: number } | null {
  if (!samples.length) return null;
  const s = [...samples].sort((x, y) => x - y);
  const rank = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
  const mid = Math.floor(s.length / 2);
  return { median: s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2, p95: rank(0.95), n: s.length };
}

/** `root` and every process below it, with each one's resident memory in bytes (from /proc). */
export function processTree(root: number): { pid: number; rss: number }[] {
  const children = new Map<number, number[]>();
  const rss = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces) in parentheses: state, ppid, …; rss is field 24.
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const pid = Number(d);
      (children.get(Number(f[1])) ?? children.set(Number(f[1]), []).get(Number(f[1]))!).push(pid);
      rss.set(pid, Number(f[21]) * 4096);
    } catch {
      // exited while being read
    }
  }
  const out: { pid: number; rss: number }[] = [];
  const todo = [root];
  while (todo.length) {
    const p = todo.pop()!;
    out.push({ pid: p, rss: rss.get(p) ?? 0 });
    todo.push(...(children.get(p) ?? []));
  }
  return out;
}
/** The tree's RSS summed (pages shared between browser processes counted in each). */
export const treeRss = (root: number): number => processTree(root).reduce((n, p) => n + p.rss, 0);
/** The tree's proportional set size summed: shared pages split between their processes, so it adds up to real memory. */
export function treePss(root: number): number {
  return processTree(root).reduce((n, { pid }) => {
    try {
      return n + Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0) * 1024;
    } catch {
      return n; // exited while being read
    }
  }, 0);
}

/** Whether the connectivity suite's gate accepts a call: its verdict with the expectations, and every kind flowing. */
function accepted(c: MatrixCase, r: CallResult, list: ReturnType<typeof loadExpectations>): string | null {
  if (r.signalingErrors.length) return `${r.signalingErrors.length} signaling errors`;
  if (r.verdict.status === 'unknown') return `unknown: ${r.verdict.reason}`;
  const who = [
    { engine: c.a.engine, version: r.peers.a.version },
    { engine: c.b.engine, version: r.peers.b.version },
  ];
  const j = judge(list, c.id, who, r.verdict.result, r.expected.outcome);
  if (j.status !== 'pass' && j.status !== 'known') return `${j.status}: ${r.verdict.result} (${r.verdict.reason})`;
  if (r.outcome !== 'connected') return null;
  const media = c.spec.media ?? [];
  const flows = (k: 'audio' | 'video') => r.peers.a.media[k]?.flowing && r.peers.b.media[k]?.flowing;
  const notFlowing = media.filter((k) => (k === 'data' ? r.timings.dataRttMs === null : !flows(k)));
  return notFlowing.length ? `not flowing: ${notFlowing.join(', ')}` : null;
}

/** The cases' calls as the suite runs them: at once where the pool allows, or one at a time (`max` 1). */
async function selection(lab: StartedLab, fleet: BrowserFleet, cases: MatrixCase[], dir: string, log: BenchOptions['log'], max?: number) {
  const list = loadExpectations();
  const pool = new CallPool(max ? { max } : {});
  const callMs: number[] = [];
  const phases: Record<keyof CallPhases, number[]> = { openMs: [], negotiateMs: [], connectMs: [], settleMs: [], mediaMs: [], evidenceMs: [] };
  const unexpected: string[] = [];
  let done = 0;
  const t0 = performance.now();
  await Promise.all(
    cases.map((c, i) =>
      pool.submit([c.spec.a.host, c.spec.b.host], async () => {
        const c0 = performance.now();
        const r = await runCall(lab, fleet, c.spec, join(dir, String(i)));
        callMs.push(performance.now() - c0);
        for (const [k, v] of Object.entries(r.timings.phases) as [keyof CallPhases, number | null][]) if (v !== null) phases[k].push(v);
        const bad = accepted(c, r, list);
        if (bad) unexpected.push(`${c.id}: ${bad}`);
        log(`calls: ${++done}/${cases.length} ${c.id} ${Math.round(performance.now() - c0)} ms${bad ? ` UNEXPECTED ${bad}` : ''}`);
      }),
    ),
  );
  const wallMs = performance.now() - t0;
  return {
    calls: cases.length,
    wallMs: Math.round(wallMs),
    callsPerMinute: Math.round((cases.length / wallMs) * 60_000 * 10) / 10,
    mostAtOnce: pool.peak,
    callMs: percentiles(callMs.map(Math.round)),
    phases: Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, percentiles(v)])),
    unexpected,
  };
}

export async function calls({ log, full }: BenchOptions): Promise<unknown> {
  const loadBefore = load();
  let peakRss = treeRss(process.pid);
  let peakPss = treePss(process.pid);
  // Samples the process tree's memory while the calls run: there is no peak counter across
  // processes. PSS (smaps_rollup walks page tables) less often than RSS.
  let ticks = 0;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, treeRss(process.pid));
    if (++ticks % 8 === 0) peakPss = Math.max(peakPss, treePss(process.pid));
  }, 250);
  try {
    const engines = (['chromium', 'firefox'] as EngineName[]).filter((e) => findEngine(e).available);
    await using lab = await startLab(suiteTopology(), { id: `benchcl${process.pid % 1000}` });
    await using fleet = new BrowserFleet(lab);
    const selections = { pr: matrixCases({ engines, selection: 'pr' }), ...(full ? { full: matrixCases({ engines, selection: 'full' }) } : {}) };
    const hosts = [...new Set(Object.values(selections).flat().flatMap((c) => [`${c.a.engine} ${c.spec.a.host}`, `${c.b.engine} ${c.spec.b.host}`]))];
    const l0 = performance.now();
    await Promise.all(hosts.map((h) => fleet.browser(h.split(' ')[0] as EngineName, h.split(' ')[1]!)));
    const launchAllMs = Math.round(performance.now() - l0);
    log(`calls: ${hosts.length} browsers launched in ${launchAllMs} ms`);
    const out: Record<string, unknown> = {};
    for (const [name, cases] of Object.entries(selections)) out[name] = await selection(lab, fleet, cases, join(lab.dir, 'bench-calls', name), log);
    // What one call costs, the issue's per-call figure: the PR calls again, one at a time, on the
    // pages the run above left open (the pool's calls share 2 cores, so each one takes longer).
    out.prOneAtATime = await selection(lab, fleet, selections.pr, join(lab.dir, 'bench-calls', 'pr-one'), log, 1);
    return {
      engines,
      note: 'callMs: one call start to end (open → evidence written) as the pool ran it (pr, full: as many at once as the idle CPU allows; prOneAtATime: the PR calls again, one at a time, on warm pages); phases from CallTimings.phases; browsers launched before the calls (launchAllMs, not in any call). Targets (issue 11): ≤ 1000 ms per call (prOneAtATime.callMs.median), full matrix ≤ 8 min.',
      targets: { callMedianMs: 1000, fullMatrixMs: 480_000 },
      launchAllMs,
      browsers: hosts.length,
      ...out,
      peakRssMB: Math.round(peakRss / 2 ** 20),
      peakPssMB: Math.round(peakPss / 2 ** 20),
      loadavg: { before: loadBefore, after: load() },
    };
  } finally {
    clearInterval(sampler);
  }
}
