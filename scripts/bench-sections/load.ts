/**
 * Bench section `load` (issue 13): on one lab (hosts behind four NATs, the lab's coturn),
 * - hold: ICELAB_BENCH_LOAD_CALLS (200) relay-only data calls held ICELAB_BENCH_LOAD_HOLD_S (60) s;
 * - allocations: ICELAB_BENCH_LOAD_ALLOCATIONS (2000) protocol allocations (5 pkt/s × 160 B each way
 *   per pair) with 4 canary calls beside them;
 * - knee, per traffic kind: the first step of calls at which loss passes 1 % or a call fails
 *   (steps below; 15 s holds). ICELAB_BENCH_LOAD_KNEE=0 leaves it out.
 * ICELAB_BENCH_LOAD_PARTS (hold,allocations,knee) picks parts, ICELAB_BENCH_LOAD_TRAFFIC (data,audio,video) the knees.
 * Each run's chart and JSON go to reports/load/bench-<time>/<name>.{svg,json}.
 */
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { BrowserFleet } from '../../lab/browsers/fleet.ts';
import { LOAD_HOSTS, labTurn } from '../../lab/cli/load.ts';
import { REPORTS } from '../../lab/cli/suite.ts';
import { startLab } from '../../lab/lab.ts';
import { startBackground } from '../../lab/load/background.ts';
import { summaryLine, writeLoadReport } from '../../lab/load/report.ts';
import { runLoad, type LoadResult, type LoadSpec, type Traffic } from '../../lab/load/run.ts';
import type { BenchOptions } from '../bench.ts';

const env = (name: string, dflt: number) => (process.env[name] === undefined ? dflt : Number(process.env[name]));
const KNEE_STEPS: Record<Traffic, number[]> = { data: [10, 25, 50, 60, 75, 100, 200], audio: [5, 10, 25, 50, 100], video: [2, 5, 10, 20, 40] };
/** A comma-separated choice of `known` from the environment; a name not known is an error naming the variable. */
function list<T extends string>(name: string, known: readonly T[]): T[] {
  const picked = (process.env[name] ?? known.join(',')).split(',').map((x) => x.trim());
  const bad = picked.filter((x) => !(known as readonly string[]).includes(x));
  if (bad.length) throw new Error(`${name}: unknown ${bad.join(', ')}; use a comma-separated list of ${known.join(', ')}`);
  return picked as T[];
}
const load1 = () => Math.round(loadavg()[0]! * 100) / 100;

const spec = (o: Partial<LoadSpec>): LoadSpec => ({
  calls: 10,
  ice: 'turn-udp',
  traffic: 'data',
  durationS: 15,
  ramp: 20,
  engines: ['chromium'],
  hosts: LOAD_HOSTS,
  connectTimeoutMs: 10_000,
  signalingAtOnce: 16,
  thresholds: { maxLossPct: 1, maxConnectP95Ms: 2000 },
  ...o,
});

/** The figures the notes quote, without the samples and the calls. */
const brief = (r: LoadResult, file: string) => ({ summary: summaryLine(r), pass: r.verdict.pass, calls: r.calls, connectMs: r.connectMs, rttMs: r.rttMs, lossPct: r.lossPct, jitterMs: r.jitterMs, server: r.server, background: r.background, loadAverage: r.loadAverage, chart: file.replace(/json$/, 'svg') });

export async function load({ log }: BenchOptions): Promise<unknown> {
  const dir = join(REPORTS, 'load', `bench-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  await using lab = await startLab({ hosts: LOAD_HOSTS.map((name) => ({ name, nat: name })) }, { id: `benchld${process.pid % 1000}` });
  await using fleet = new BrowserFleet(lab);
  const turn = labTurn(lab);
  const one = async (name: string, s: LoadSpec, background?: Awaited<ReturnType<typeof startBackground>>) => {
    log(`load ${name}: ${s.calls} ${s.traffic} calls, held ${s.durationS} s (load average ${load1()})`);
    const r = await runLoad(fleet, turn, s, { log, ...(background ? { background } : {}) });
    const files = writeLoadReport(r, join(dir, name));
    log(`load ${name}: ${summaryLine(r)}`);
    return { r, out: brief(r, files.json) };
  };

  const parts = list('ICELAB_BENCH_LOAD_PARTS', ['hold', 'allocations', 'knee'] as const);
  const hold = parts.includes('hold') ? (await one('hold', spec({ calls: env('ICELAB_BENCH_LOAD_CALLS', 200), durationS: env('ICELAB_BENCH_LOAD_HOLD_S', 60) }))).out : null;

  const m = env('ICELAB_BENCH_LOAD_ALLOCATIONS', 2000);
  let allocations = null;
  if (parts.includes('allocations')) {
    const background = await startBackground(lab, turn, { host: LOAD_HOSTS[0]!, allocations: m, log });
    allocations = (await one('allocations', spec({ calls: 4, durationS: 20 }), background)).out;
  }

  const knee: Record<string, unknown> = {};
  if (parts.includes('knee') && env('ICELAB_BENCH_LOAD_KNEE', 1)) {
    for (const traffic of list('ICELAB_BENCH_LOAD_TRAFFIC', ['data', 'audio', 'video'] as const)) {
      const steps: { calls: number; pass: boolean; summary: string }[] = [];
      for (const calls of KNEE_STEPS[traffic]) {
        const { r } = await one(`knee-${traffic}-${calls}`, spec({ calls, traffic }));
        // The knee: loss past 1 % or a call failing. Connect p95 is reported, not judged: a step starts
        // all its calls within a second or two (ramp 20/s), and on 2 cores that, not the load held, sets it.
        const pass = r.calls.failed === 0 && (r.lossPct ?? 0) <= 1;
        steps.push({ calls, pass, summary: summaryLine(r) });
        if (!pass) break;
      }
      const first = steps.find((x) => !x.pass);
      knee[traffic] = { kneeAtCalls: first?.calls ?? null, lastPassingCalls: steps.filter((x) => x.pass).at(-1)?.calls ?? null, steps };
    }
  }
  return {
    note: 'relay-only calls (two peer connections each) between Chromium pages in four lab hosts behind different NATs, through the lab coturn over TURN/UDP; data = 50 probes/s × 160 B each way, echoed; audio/video = fake devices (video 320×240 at 15 fps) plus 5 probes/s. Knee = first step with loss > 1 % or a call that did not connect (connect p95 is reported, not judged: each step starts its calls at 20/s).',
    dir,
    hold,
    allocations: allocations && { requested: m, ...allocations },
    knee,
  };
}
