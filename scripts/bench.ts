/**
 * `npm run bench [-- lab browsers --runs 5]`: prints ONE JSON object on stdout (progress on stderr).
 * Sections are chosen by name (positionally or `--only a,b`); none named = all.
 *
 * Each entry of `sections` is a named async function returning a JSON value; the output is
 * `{ startedAt, host, runs, sections: { <name>: <value> } }`. To add one (browser launch, call times…),
 * add an entry to `sections` — e.g. imported from `scripts/bench-sections/<name>.ts`.
 */
import { cpus, hostname, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { startLab } from '../lab/lab.ts';
import { startNetwork } from '../lab/network/network.ts';
import { defaultTopology, planTopology } from '../lab/topology/topology.ts';
import { browsers } from './bench-sections/browsers.ts';
import { turn } from './bench-sections/turn.ts';
import { suites } from './bench-sections/suites.ts';
import { startup } from './bench-sections/startup.ts';
import { load } from './bench-sections/load.ts';
import { calls } from './bench-sections/calls.ts';
import { setTimeout as sleep } from 'node:timers/promises';

export interface BenchOptions {
  /** Repetitions per measurement. */
  runs: number;
  /** Progress output (stderr). */
  log: (msg: string) => void;
  /** Also the long measurements (`--full`: the calls section's full matrix, 560 calls). */
  full: boolean;
}
export type Section = (opts: BenchOptions) => Promise<unknown>;

export interface Stats {
  median: number;
  min: number;
  max: number;
  samples: number[];
}
export function stats(samples: number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length === 0 ? NaN : s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  const r = (x: number) => Math.round(x * 10) / 10;
  return { median: r(median), min: r(s[0] ?? NaN), max: r(s.at(-1) ?? NaN), samples: samples.map(r) };
}
/** Wall time of one call in milliseconds. */
export async function time<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const v = await fn();
  return [performance.now() - t0, v];
}


/**
 * `startLab(defaultTopology())` until STUN answers, `stop()`, and the network alone.
 * The kernel frees deleted namespaces in the background, and creating namespaces meanwhile stalls
 * (≈100-150 ms here), so `upMs` waits `settleMs` after each stop — like an `icelab up` some time after
 * the last `down` — and `upBackToBackMs` starts each lab right after the previous one stopped, as
 * consecutive test suites do.
 */
async function lab({ runs, log }: BenchOptions): Promise<unknown> {
  const settleMs = 1500;
  const up: number[] = [];
  const down: number[] = [];
  const backToBack: number[] = [];
  const network: number[] = [];
  for (let i = 0; i < runs; i++) {
    await sleep(settleMs);
    const [upMs, started] = await time(() => startLab(defaultTopology(), { id: `bench${i}` }));
    const [downMs] = await time(() => started.stop());
    up.push(upMs);
    down.push(downMs);
    log(`lab run ${i + 1}/${runs}: up ${upMs.toFixed(0)} ms, down ${downMs.toFixed(0)} ms`);
  }
  for (let i = 0; i < runs; i++) {
    const [upMs, started] = await time(() => startLab(defaultTopology(), { id: `benchb${i}` }));
    await started.stop();
    backToBack.push(upMs);
    log(`back-to-back run ${i + 1}/${runs}: up ${upMs.toFixed(0)} ms`);
  }
  const plan = planTopology(defaultTopology());
  for (let i = 0; i < runs; i++) {
    await sleep(settleMs);
    const [ms, net] = await time(() => startNetwork(plan, { id: `benchnet${i}` }));
    await net.stop();
    network.push(ms);
    log(`network run ${i + 1}/${runs}: ${ms.toFixed(0)} ms`);
  }
  return {
    runs,
    topology: 'defaultTopology(): one TURN server, one host per preset (16 namespaces)',
    upTargetMs: 300,
    settleMs,
    upMs: stats(up),
    downMs: stats(down),
    upBackToBackMs: stats(backToBack),
    networkOnlyMs: stats(network).median,
    networkOnly: stats(network),
  };
}

/** Named benchmark sections; others add entries here. */
export const sections: Record<string, Section> = {
  startup,
  lab,
  browsers,
  turn,
  // The matrix's calls as the suite runs them: phases, calls per minute, peak RSS (--full: minutes).
  calls,
  // Minutes, not seconds: the PR selection of every suite and the full matrix, once each.
  suites,
  // Minutes too: 200 calls held 60 s, 2,000 allocations, and the knee per traffic kind.
  load,
};

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      only: { type: 'string' },
      runs: { type: 'string', default: '5' },
      full: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stderr.write(`usage: npm run bench -- [${Object.keys(sections).join(' ')}] [--runs N] [--full]   (sections by name, or --only a,b; default: all; --full adds the calls section's full matrix)\n`);
    return 0;
  }
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) {
    process.stderr.write(`bench: --runs must be a positive integer, not "${values.runs}"\n`);
    return 2;
  }
  const chosen = [...positionals, ...(values.only ?? '').split(',')].map((s) => s.trim()).filter(Boolean);
  const names = chosen.length ? chosen : Object.keys(sections);
  const unknown = names.filter((n) => !(n in sections));
  if (unknown.length) {
    process.stderr.write(`bench: unknown section ${unknown.join(', ')}; known: ${Object.keys(sections).join(', ')}\n`);
    return 2;
  }
  const log = (msg: string) => process.stderr.write(`${msg}\n`);
  const result: Record<string, unknown> = {};
  const loadBefore = loadavg();
  let failed = false;
  for (const name of names) {
    log(`== ${name}`);
    try {
      result[name] = await sections[name]!({ runs, log, full: values.full });
    } catch (e) {
      failed = true;
      result[name] = { error: e instanceof Error ? e.message : String(e) };
      log(`section ${name} failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  const out = {
    startedAt: new Date().toISOString(),
    host: { hostname: hostname(), cpus: cpus().length, node: process.version },
    // 1, 5 and 15 minute load averages: a figure measured on a busy machine says so.
    loadAverage: { before: loadBefore, after: loadavg() },
    runs,
    sections: result,
  };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  return failed ? 1 : 0;
}

// Runs only as the entry point, so sections and helpers can be imported elsewhere.
if (import.meta.url === `file://${process.argv[1]}`) {
  main().then((code) => process.exit(code));
}
