/**
 * Bench section `browsers` (issue 3): browser launch time per engine inside a lab host, and, with
 * the browsers already running, time to connected of a relay call and of a direct (srflx) call and
 * the harness overhead per call (negotiate's wall time minus the browser-measured connect time).
 */
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { startLab } from '../../lab/lab.ts';
import { BrowserFleet } from '../../lab/browsers/fleet.ts';
import type { EngineName } from '../../lab/browsers/engines.ts';
import { runCall, type CallSpec } from '../../lab/scenario/call.ts';
import { twinHost } from '../../lab/topology/topology.ts';
import { stats, type BenchOptions } from '../bench.ts';

const ENGINES: EngineName[] = ['chromium', 'firefox'];
const PRC = 'port-restricted-cone';
const PAIRS: [EngineName, EngineName][] = [
  ['chromium', 'chromium'],
  ['firefox', 'firefox'],
  ['chromium', 'firefox'],
];
/** Relay: symmetric ↔ port-restricted cone over TURN/UDP, relay policy. Direct: two port-restricted cones with STUN → srflx. */
const KINDS = {
  relay: (a: EngineName, b: EngineName): CallSpec => ({ a: { engine: a, host: 'symmetric' }, b: { engine: b, host: PRC }, ice: ['turn-udp'], policy: 'relay' }),
  direct: (a: EngineName, b: EngineName): CallSpec => ({ a: { engine: a, host: PRC }, b: { engine: b, host: twinHost(PRC) }, ice: ['stun'] }),
};
const load = () => loadavg().map((x) => Math.round(x * 100) / 100);

export async function browsers({ runs, log }: BenchOptions): Promise<unknown> {
  const loadBefore = load();
  await using lab = await startLab({ hosts: [{ name: PRC, nat: PRC }, { name: twinHost(PRC), nat: PRC }, { name: 'symmetric', nat: 'symmetric' }] }, { id: `benchbr${process.pid % 1000}` });

  // Launch: a fresh fleet per run, one engine at a time, so each launch is measured alone.
  const launchMs: Record<string, number[]> = {};
  const versions: Record<string, string> = {};
  const unavailable: Record<string, string> = {};
  for (let i = 0; i < runs; i++) {
    for (const engine of ENGINES) {
      if (unavailable[engine]) continue;
      await using fleet = new BrowserFleet(lab);
      try {
        const b = await fleet.browser(engine, PRC);
        (launchMs[engine] ??= []).push(b.launchMs);
        versions[engine] = b.version;
        log(`launch ${engine} run ${i + 1}/${runs}: ${b.launchMs} ms`);
      } catch (e) {
        unavailable[engine] = (e as Error).message.split('\n')[0]!;
        log(`launch ${engine}: ${unavailable[engine]}`);
      }
    }
  }

  // Calls, with every browser launched beforehand and one unmeasured warm-up call per pair and kind.
  await using fleet = new BrowserFleet(lab);
  const hosts = [PRC, twinHost(PRC), 'symmetric'];
  const usable = ENGINES.filter((e) => !unavailable[e]);
  await Promise.all(usable.flatMap((e) => hosts.map((h) => fleet.browser(e, h))));
  const calls: Record<string, unknown> = {};
  let n = 0;
  for (const [a, b] of PAIRS.filter(([x, y]) => usable.includes(x) && usable.includes(y))) {
    for (const [kind, spec] of Object.entries(KINDS)) {
      const connected: number[] = [];
      const overhead: number[] = [];
      const wall: number[] = [];
      const callWall: number[] = [];
      const failures: string[] = [];
      let expected = '';
      for (let i = -1; i < runs; i++) {
        const t0 = performance.now();
        const r = await runCall(lab, fleet, spec(a, b), join(lab.dir, 'bench', String(n++)));
        const total = performance.now() - t0;
        expected = r.expected.outcome;
        if (i < 0) continue; // warm-up
        if (r.outcome !== 'connected' || !r.matches || r.timings.connectedMs === null || r.timings.overheadMs === null) {
          failures.push(`${r.outcome}, observed ${r.observed}, expected ${r.expected.outcome}${r.reason ? `: ${r.reason}` : ''}`);
          log(`${kind} ${a}↔${b} run ${i + 1}/${runs}: ${failures.at(-1)}`);
          continue;
        }
        connected.push(r.timings.connectedMs);
        overhead.push(r.timings.overheadMs);
        wall.push(r.timings.wallMs);
        callWall.push(total);
        log(`${kind} ${a}↔${b} run ${i + 1}/${runs}: connected ${r.timings.connectedMs} ms, overhead ${r.timings.overheadMs} ms (${r.observed})`);
      }
      calls[`${kind} ${a}↔${b}`] = {
        expected,
        connectedMs: stats(connected),
        overheadMs: stats(overhead),
        negotiateWallMs: stats(wall),
        wholeCallMs: stats(callWall),
        failures,
      };
    }
  }
  return {
    runs,
    note: 'connectedMs: browser clocks, offer created → both peers connected. overheadMs: negotiate wall time (harness) − connectedMs. wholeCallMs: runCall start to end (open pages, negotiate, settle, evidence, close). One warm-up call per row not counted.',
    callKinds: {
      relay: 'symmetric ↔ port-restricted-cone, TURN/UDP, iceTransportPolicy relay',
      direct: 'port-restricted-cone ↔ port-restricted-cone (two routers), STUN only (srflx)',
    },
    targets: { relayConnectedMs: 400, overheadMs: 50 },
    versions,
    unavailable,
    launchMs: Object.fromEntries(Object.entries(launchMs).map(([e, s]) => [e, stats(s)])),
    results: calls,
    loadavg: { before: loadBefore, after: load() },
  };
}
