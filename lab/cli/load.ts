import { usage } from './usage.ts';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BrowserFleet, EngineUnavailableError } from '../browsers/fleet.ts';
import { findEngine, parseEngine, type EngineName } from '../browsers/engines.ts';
import { startPlannedLab, type StartedLab } from '../lab.ts';
import { LOAD_ICE, TRAFFIC, runLoad, type LoadIce, type LoadResult, type LoadSpec, type Traffic, type TurnUnderTest } from '../load/run.ts';
import { startBackground } from '../load/background.ts';
import { writeAllureResult, writeLoadReport, summaryLine } from '../load/report.ts';
import type { PresetName } from '../topology/nat.ts';
import { planTopology, type Topology } from '../topology/topology.ts';
import { serviceTurn } from '../load/service-turn.ts';
import { REPORTS } from './suite.ts';
import { loadTopology } from './topology-file.ts';

/** `icelab load` options as parseArgs gives them (strings until planLoad checks them). */
export interface LoadOptions {
  calls?: string | undefined;
  ice?: string | undefined;
  traffic?: string | undefined;
  duration?: string | undefined;
  ramp?: string | undefined;
  engines?: string | undefined;
  turn?: string | undefined;
  /** A JSON/YAML topology file: its hosts carry the calls, its services may hold the TURN server under test. */
  topology?: string | undefined;
  turnConfig?: string | undefined;
  allocations?: string | undefined;
  maxLoss?: string | undefined;
  maxConnectP95?: string | undefined;
  json: boolean;
}

/** Calls are spread over hosts behind four different NATs (relay-only, so every call goes through the TURN server). */
export const LOAD_HOSTS: readonly PresetName[] = ['port-restricted-cone', 'symmetric', 'restricted-cone', 'full-cone'];

/** The server the load goes through: the lab's coturn, or a service of the topology. */
export type LoadTurn = { kind: 'lab' } | { kind: 'service'; name: string };

export interface LoadPlan {
  spec: LoadSpec;
  topology: Topology;
  turn: LoadTurn;
  /** Extra turnserver.conf lines for the lab's server (a deliberately limited server: total-quota=50). */
  turnConfig: string[];
  allocations: number;
}

function number(flag: string, v: string | undefined, dflt: number, o: { integer?: boolean; min?: number } = {}): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  const min = o.min ?? 0;
  if (!Number.isFinite(n) || n < min || (o.integer && !Number.isInteger(n))) throw usage(`${flag}: "${v}" is not ${o.integer ? 'a whole number' : 'a number'} ≥ ${min}`, `e.g. ${flag} ${dflt}`);
  return n;
}

function oneOf<T extends string>(flag: string, v: string | undefined, values: readonly T[], dflt: T): T {
  if (v === undefined) return dflt;
  if ((values as readonly string[]).includes(v)) return v as T;
  throw usage(`${flag}: unknown value "${v}"`, `use one of: ${values.join(', ')}`);
}

/** Validates every option before anything starts. */
export function planLoad(o: LoadOptions): LoadPlan {
  const calls = number('--calls', o.calls, 10, { integer: true });
  const engines = (o.engines ?? 'chromium').split(',').map((e) => parseEngine(e.trim(), '--engines'));
  const turn = parseTurn(o.turn);
  const allocations = number('--allocations', o.allocations, 0, { integer: true });
  if (calls === 0 && allocations === 0) throw usage('--calls 0 and no --allocations: nothing to load', 'give --calls N, --allocations M, or both');
  const spec: LoadSpec = {
    calls,
    ice: oneOf<LoadIce>('--ice', o.ice, LOAD_ICE, 'turn-udp'),
    traffic: oneOf<Traffic>('--traffic', o.traffic, TRAFFIC, 'data'),
    durationS: number('--duration', o.duration, 30, { min: 1 }),
    ramp: number('--ramp', o.ramp, 10, { min: 0.1 }),
    engines,
    hosts: [],
    connectTimeoutMs: 10_000,
    signalingAtOnce: 16,
    thresholds: { maxLossPct: number('--max-loss', o.maxLoss, 1), maxConnectP95Ms: number('--max-connect-p95', o.maxConnectP95, 2000) },
  };
  const topology = o.topology ? loadTopology(o.topology).topology : planTopology({ hosts: LOAD_HOSTS.map((name) => ({ name, nat: name })), turn: [{ provider: 'process' }] });
  const services = new Set(topology.services.map((x) => x.name));
  spec.hosts = topology.hosts.map((h) => h.name).filter((h) => !services.has(h));
  if (calls && spec.hosts.length < 2) throw usage(`--topology: calls need two lab hosts (not services), ${o.topology} has ${spec.hosts.length}`, 'add hosts: the calls go from one host to the next');
  if (turn.kind === 'service' && !services.has(turn.name)) throw usage(`--turn service:${turn.name}: ${o.topology ? `${o.topology} has no service "${turn.name}"` : 'no --topology file with services:'}`, `give --topology <file> whose services: run the TURN server${services.size ? ` (services: ${[...services].join(', ')})` : ''}`);
  const turnConfig = (o.turnConfig ?? '').split(',').map((x) => x.trim()).filter(Boolean);
  if (turnConfig.length && turn.kind === 'service') throw usage('--turn-config applies to the lab\'s coturn only', "put the server's options in the service's command instead");
  return { spec, topology, turn, turnConfig, allocations };
}

function parseTurn(v: string | undefined): LoadTurn {
  if (v === undefined || v === 'lab') return { kind: 'lab' };
  const m = /^service:([a-z0-9-]+)$/.exec(v);
  if (m) return { kind: 'service', name: m[1]! };
  throw usage(`--turn: "${v}" is not a TURN server to load`, "use --turn lab (the lab's coturn, default) or --turn service:<name> (a service of --topology)");
}

/** The lab's own coturn as the server under test. */
export function labTurn(lab: StartedLab): TurnUnderTest {
  return { name: `lab coturn (${lab.turn.info.host}, pid ${lab.turn.info.pid})`, pid: lab.turn.info.pid, relayIp: lab.turn.info.ips[0], iceServers: (t) => lab.iceServers(t) };
}

/**
 * `icelab load`: relayed calls (and background allocations) through one lab's TURN server, sampled
 * every second. Exit 0 when the verdict passes, 1 when it does not, 4 when an engine is unavailable,
 * 130 when stopped with Ctrl-C (the report so far is written all the same).
 */
export async function loadCommand(plan: LoadPlan, o: LoadOptions): Promise<number> {
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const engines = [...new Set(plan.spec.engines)] as EngineName[];
  for (const engine of plan.spec.calls ? engines : []) {
    const f = findEngine(engine);
    if (!f.available) {
      const e = new EngineUnavailableError(engine, f.reason, f.fix);
      console.log(o.json ? JSON.stringify({ outcome: 'unavailable', engine, reason: e.reason, fix: e.hint }, null, 2) : e.message);
      return 4;
    }
  }
  const dir = join(REPORTS, 'load', new Date().toISOString().replace(/[:.]/g, '-'));
  mkdirSync(dir, { recursive: true });
  // Ctrl-C: the report so far is written at once, inside the handler: the lab's own handler removes
  // the namespaces and Playwright's closes the browsers and exits (130) right after this one.
  const stop = new AbortController();
  let snapshot: (() => LoadResult) | null = null;
  const onSignal = () => {
    if (stop.signal.aborted) return;
    stop.abort();
    if (!snapshot) return;
    const r = snapshot();
    const files = writeLoadReport(r, dir);
    writeAllureResult(r, files, join(REPORTS, 'allure-results'));
    process.stderr.write(`interrupted: ${summaryLine(r)}\nreport: ${files.json}\n`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  log(`starting a lab: ${plan.spec.hosts.join(', ')}${plan.topology.services.length ? `, services ${plan.topology.services.map((x) => x.name).join(', ')}` : ''}, TURN server${plan.turnConfig.length ? ` with ${plan.turnConfig.join(', ')}` : ''}…`);
  const lab = await startPlannedLab(plan.topology, { coturn: { extraConfig: plan.turnConfig } });
  const fleet = new BrowserFleet(lab);
  try {
    const turn = plan.turn.kind === 'lab' ? labTurn(lab) : serviceTurn(lab, plan.turn.name);
    const background = plan.allocations ? await startBackground(lab, turn, { host: plan.spec.hosts[0]!, allocations: plan.allocations, log, signal: stop.signal }) : undefined;
    log(`lab ${lab.id} up; ${plan.spec.calls} ${plan.spec.traffic} calls over ${plan.spec.ice} at ${plan.spec.ramp}/s, held ${plan.spec.durationS} s${plan.allocations ? `, ${plan.allocations} background allocations` : ''}…`);
    const result = await runLoad(fleet, turn, plan.spec, { signal: stop.signal, log, onStart: (f) => (snapshot = f), ...(background ? { background } : {}) });
    const files = writeLoadReport(result, dir);
    writeAllureResult(result, files, join(REPORTS, 'allure-results'));
    if (o.json) console.log(JSON.stringify({ ...result, files }, null, 2));
    else console.log(`${summaryLine(result)}\nreport: ${files.json}\nchart:  ${files.svg}`);
    return result.interrupted ? 130 : result.verdict.pass ? 0 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await fleet.close();
    await lab.stop();
  }
}
