import { usage } from './usage.ts';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BrowserFleet, EngineUnavailableError, type LaunchedBrowser } from '../browsers/fleet.ts';
import { browserType, findEngine, parseEngine } from '../browsers/engines.ts';
import { openLab, startingLab, type StartedLab } from '../lab.ts';
import { callServer } from '../scenario/call-server.ts';
import { runCall, type CallResult, type CallSpec, type MediaKind, type PeerSpec } from '../scenario/call.ts';
import { PRESET_NAMES, type PresetName } from '../topology/nat.ts';
import { planTopology, twinHost, type Topology, type TurnProviderName } from '../topology/topology.ts';
import { ICE_TRANSPORTS, type IceTransport } from '../turn/coturn.ts';
import { nameFlag, type LabArg } from './labs.ts';
import { REPORTS } from './suite.ts';
import type { TopologyArg } from './topology-file.ts';

export interface ConnectOptions {
  a?: string | undefined;
  b?: string | undefined;
  ice?: string | undefined;
  policy?: string | undefined;
  bundlePolicy?: string | undefined;
  media?: string | undefined;
  /** `--topology`, read and planned: its host names are what `--a`/`--b` use; default: a host per preset named. */
  topology?: TopologyArg | undefined;
  turn?: TurnProviderName | undefined;
  /** `--lab`: a lab that is up, whose hosts the call uses and whose browsers stay warm between calls. */
  lab?: LabArg | undefined;
  trickle: boolean;
  pcap: boolean;
  headed: boolean;
  keep: boolean;
  json: boolean;
  timeoutMs?: number;
}


const MEDIA: readonly MediaKind[] = ['data', 'audio', 'video'];
const BUNDLE_POLICIES = ['balanced', 'max-bundle', 'max-compat'] as const;
/** `<preset>` or one of the suites' further hosts behind their own routers of that preset (`<preset>-2` … `<preset>-9`). */
const presetOf = (host: string): PresetName | null => (PRESET_NAMES as string[]).find((p) => host === p || new RegExp(`^${p}-[2-9]$`).test(host)) as PresetName | null;

function parsePeer(flag: '--a' | '--b', v: string | undefined, topology: unknown): PeerSpec {
  const m = v ? /^([a-z]+)@([a-z0-9-]+)$/.exec(v) : null;
  if (!m) throw usage(`${flag}: expected <engine>@<host>, got ${v === undefined ? 'nothing' : `"${v}"`}`, `e.g. ${flag} firefox@symmetric (engines: chromium, firefox, webkit; hosts: a NAT preset, or a host of --topology)`);
  const engine = parseEngine(m[1]!, flag);
  const host = m[2]!;
  if (!topology && !presetOf(host)) throw usage(`${flag}: unknown host "${host}"`, `use a NAT preset (${PRESET_NAMES.join(', ')}), or give --topology <file> with a host of that name`);
  return { engine, host };
}

export interface ConnectPlan {
  spec: CallSpec;
  topology: Topology;
}

/** Validates every option and builds the call and its lab's topology, before anything starts. */
export function planConnect(o: ConnectOptions): ConnectPlan {
  if (o.lab) {
    const clash = [o.topology && '--topology', o.turn && '--turn', o.keep && '--keep'].filter(Boolean);
    if (clash.length) throw usage(`--lab: ${clash.join(', ')} cannot be used with it (the lab is up already, with its own topology and TURN server)`, `leave out ${clash.join(', ')}, or leave out --lab for a lab of the call's own`);
  }
  const given = o.lab ?? o.topology;
  const a = parsePeer('--a', o.a, given);
  const b = parsePeer('--b', o.b, given);
  if (o.ice === undefined) throw usage('--ice is required', `a comma-separated list of ${ICE_TRANSPORTS.join(', ')}, or none`);
  const ice = o.ice === 'none' ? [] : o.ice.split(',').map((t) => t.trim());
  const badIce = ice.filter((t) => !(ICE_TRANSPORTS as readonly string[]).includes(t));
  if (badIce.length) throw usage(`--ice: unknown ICE server ${badIce.map((t) => `"${t}"`).join(', ')}`, `use ${ICE_TRANSPORTS.join(', ')} (comma-separated), or none`);
  if (o.policy !== undefined && o.policy !== 'all' && o.policy !== 'relay') throw usage(`--policy: "${o.policy}" is not an iceTransportPolicy`, 'use --policy all (default) or --policy relay');
  const bundle = o.bundlePolicy;
  if (bundle !== undefined && !(BUNDLE_POLICIES as readonly string[]).includes(bundle)) throw usage(`--bundle-policy: "${bundle}" is not an RTCBundlePolicy`, `use one of: ${BUNDLE_POLICIES.join(', ')}`);
  const media = (o.media ?? 'data').split(',').map((k) => k.trim());
  const badMedia = media.filter((k) => !(MEDIA as readonly string[]).includes(k));
  if (badMedia.length) throw usage(`--media: unknown kind ${badMedia.map((k) => `"${k}"`).join(', ')}`, `use a comma-separated list of ${MEDIA.join(', ')}`);
  if (o.headed && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) {
    throw usage('--headed: no display to show the browsers on (DISPLAY is not set)', 'run it under a display, e.g. xvfb-run -a npx icelab connect … --headed, or leave out --headed');
  }
  // Two peers on one host would share a LAN: a same-preset call gets the twin host behind its own router.
  if (!given && a.host === b.host) b.host = b.host === twinHost(presetOf(b.host)!) ? presetOf(b.host)! : twinHost(presetOf(b.host)!);
  const topology = given?.topology ?? planTopology({ hosts: [...new Set([a.host, b.host])].map((name) => ({ name, nat: presetOf(name)! })), turn: [{ provider: o.turn ?? 'process' }] });
  for (const [flag, p] of [['--a', a], ['--b', b]] as const) {
    if (!topology.hosts.some((h) => h.name === p.host)) throw usage(`${flag}: the topology has no host "${p.host}"`, `hosts: ${topology.hosts.map((h) => h.name).join(', ')}`);
  }
  const spec: CallSpec = {
    a,
    b,
    ice: ice as IceTransport[],
    policy: (o.policy as 'all' | 'relay' | undefined) ?? 'all',
    ...(bundle ? { bundlePolicy: bundle as (typeof BUNDLE_POLICIES)[number] } : {}),
    media: media as MediaKind[],
    trickle: o.trickle,
    pcap: o.pcap,
    connectTimeoutMs: o.timeoutMs ?? 8000,
  };
  return { spec, topology };
}

/**
 * `icelab connect`: one call in a lab of its own (or, with --lab, in a lab that is up), for
 * reproducing a report. Exit codes: 0 the call ended as the oracle predicts, 1 it did not, 2 bad
 * input, 3 not root, 4 an engine is unavailable.
 */
export async function connectCommand(plan: ConnectPlan, o: ConnectOptions): Promise<number> {
  const { spec } = plan;
  // An engine that cannot run here is reported before a lab or another browser starts.
  for (const engine of new Set([spec.a.engine, spec.b.engine])) {
    const f = findEngine(engine);
    if (!f.available) return reportUnavailable(new EngineUnavailableError(engine, f.reason, f.fix), o.json, null);
  }
  const dir = join(REPORTS, 'evidence', `connect-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  mkdirSync(dir, { recursive: true });
  const phases = new Phases();
  let r: CallResult;
  try {
    r = await (o.lab ? callInLab(o.lab, plan, o, dir, phases) : callInNewLab(plan, o, dir, phases));
  } catch (e) {
    if (e instanceof EngineUnavailableError) return reportUnavailable(e, o.json, dir);
    throw e;
  }
  if (o.json) {
    console.log(
      JSON.stringify(
        { outcome: r.outcome, phases: { ...phases.ms, launchMs: phases.launchMs }, expected: r.expected.outcome, expectedReason: r.expected.reason, observed: r.observed, matches: r.matches, verdict: r.verdict, reason: r.reason ?? null, signalingErrors: r.signalingErrors, settled: r.settled, selectedPair: r.selectedPair, timings: r.timings, peers: r.peers, evidence: existsSync(dir) ? dir : null, command: r.command },
        null,
        2,
      ),
    );
  } else console.log(connectStory(r));
  return r.matches ? 0 : 1;
}

const logger = (o: ConnectOptions) => (s: string) => o.json || process.stderr.write(`${s}\n`);
const callLine = (lab: StartedLab, spec: CallSpec) =>
  `lab ${lab.id} up; ${spec.a.engine}@${spec.a.host} calls ${spec.b.engine}@${spec.b.host} with ${spec.ice.join(', ') || 'no ICE servers'}${spec.policy === 'relay' ? ', relay only' : ''}…`;

/** The call in a lab built for it: network, TURN server and browsers start together; the lab goes after (unless --keep). */
async function callInNewLab({ spec, topology }: ConnectPlan, o: ConnectOptions, dir: string, phases: Phases): Promise<CallResult> {
  const log = logger(o);
  log(`starting a lab: ${spec.a.host} and ${spec.b.host}, TURN server…`);
  const building = startingLab(topology);
  // Playwright takes ≈0.4 s to load (seconds under load), on this thread: loaded while the shell builds
  // the network (the build's processes were spawned before this runs, unless stale labs were swept first).
  setImmediate(() => {
    try {
      browserType(spec.a.engine);
    } catch {
      // The launch reports a Playwright that cannot load, with its fix.
    }
  });
  const starting = await building;
  phases.done('networkMs');
  // The browsers launch while the TURN server starts: they need the namespaces and the lab CA, not the server.
  const fleet = new BrowserFleet(starting, { headed: o.headed });
  const launches = [spec.a, spec.b].map((p) => fleet.browser(p.engine, p.host));
  for (const l of launches) l.catch(() => undefined); // the call reports a failed launch
  let lab: StartedLab | null = null;
  try {
    lab = await starting.started();
    phases.done('turnReadyMs');
    await browsersUp(launches, phases);
    log(callLine(lab, spec));
    const result = await runCall(lab, fleet, spec, dir, o.topology?.file ? { topology: o.topology.file } : {});
    phases.done('callMs');
    return result;
  } finally {
    if (o.keep && lab) {
      await fleet.close();
      lab.network.markComplete({ detach: true });
      log(`lab "${lab.id}" kept: npx icelab connect --lab ${lab.id} … calls in it again (its browsers stay warm); npx icelab exec${nameFlag(lab.id)} ${spec.a.host} -- <command>; remove it with npx icelab down${nameFlag(lab.id)}`);
    } else {
      // The evidence is written: the teardown ends the browsers in the lab's hosts while Playwright closes them.
      await Promise.all([fleet.close(), starting.stop()]);
    }
    phases.done('downMs');
  }
}

/**
 * The call in a lab that is up (`--lab`): run by the lab's call server, whose browsers and pages stay
 * open for the next call (started by the first call that needs it). Headed browsers are this command's own.
 */
async function callInLab(given: LabArg, { spec }: ConnectPlan, o: ConnectOptions, dir: string, phases: Phases): Promise<CallResult> {
  const lab = openLab(given.id);
  if (o.headed) return headedCallInLab(lab, spec, o, dir, phases);
  const server = await callServer(lab);
  phases.done('labMs');
  logger(o)(callLine(lab, spec));
  const { result, launchMs } = await server.call(spec, dir, { lab: lab.id });
  Object.assign(phases.launchMs, launchMs);
  phases.done('callMs');
  return result;
}

/** Headed browsers of this command's own, in launch files of its own (the call server's are in use). */
async function headedCallInLab(lab: StartedLab, spec: CallSpec, o: ConnectOptions, dir: string, phases: Phases): Promise<CallResult> {
  const own = join(lab.dir, `headed-${process.pid}`);
  const fleet = new BrowserFleet({ id: lab.id, dir: own, ns: (h) => lab.ns(h), caFile: lab.caFile }, { headed: true });
  phases.done('labMs');
  try {
    await browsersUp([spec.a, spec.b].map((p) => fleet.browser(p.engine, p.host)), phases);
    logger(o)(callLine(lab, spec));
    const result = await runCall(lab, fleet, spec, dir, { lab: lab.id });
    phases.done('callMs');
    return result;
  } finally {
    await fleet.close();
    rmSync(own, { recursive: true, force: true });
    phases.done('downMs');
  }
}

/** Both browsers up (launched, or connected to warm ones): the time each took goes in the phases. */
async function browsersUp(launches: Promise<LaunchedBrowser>[], phases: Phases): Promise<void> {
  for (const l of await Promise.allSettled(launches)) if (l.status === 'fulfilled') phases.launchMs[`${l.value.engine}@${l.value.host}`] = l.value.launchMs;
  phases.done('browsersMs');
}

/**
 * Where a connect's time went, each phase in ms from the end of the one before: the network built, the
 * TURN server answering (browsers launching meanwhile), both browsers up, the call with its evidence,
 * the browsers closed and the lab removed (together).
 */
class Phases {
  readonly ms: Record<string, number> = {};
  readonly launchMs: Record<string, number> = {};
  #last = performance.now();
  done(phase: string): void {
    const now = performance.now();
    this.ms[phase] = Math.round(now - this.#last);
    this.#last = now;
  }
}

/** An engine that cannot run: said once (reason and fix), exit 4. */
function reportUnavailable(e: EngineUnavailableError, json: boolean, evidence: string | null): number {
  if (json) console.log(JSON.stringify({ outcome: 'unavailable', engine: e.engine, reason: e.reason, fix: e.hint, evidence }, null, 2));
  else console.log(e.message);
  return 4;
}

/** The human story of one call: what was expected, states, pair, timings, flow, evidence. */
export function connectStory(r: CallResult): string {
  const side = (c: NonNullable<CallResult['selectedPair']>['local']) => `${c.type}${c.relayProtocol ? ` (TURN over ${c.relayProtocol})` : ''} ${c.protocol} ${c.address}:${c.port}`;
  const p = r.selectedPair;
  const flow = (k: 'a' | 'b') =>
    Object.entries(r.peers[k].media)
      .map(([kind, f]) => `${kind} ${f.flowing ? `flowing (${f.packetsReceived} packets)` : 'NOT flowing'}`)
      .join(', ');
  return [
    `A ${r.peers.a.engine} ${r.peers.a.version} in ${r.peers.a.host} → B ${r.peers.b.engine} ${r.peers.b.version} in ${r.peers.b.host}`,
    `expected: ${r.expected.outcome}${r.expected.alsoAccept?.length ? ` or ${r.expected.alsoAccept.join('/')}` : ''} (${r.expected.reason})`,
    `result:   ${r.outcome}, pair class ${r.observed}${r.reason ? ` — ${r.reason}` : ''}  ${r.matches ? '✓ as predicted' : '✗ NOT as predicted'}`,
    `verdict:  ${r.verdict.status}: ${r.verdict.reason}; direct path ${r.verdict.directPath.state}, nominated first A ${r.verdict.nominated.a ?? 'none'}, B ${r.verdict.nominated.b ?? 'none'}`,
    p ? `pair:     ${side(p.local)}  ↔  ${side(p.remote)}${r.settled ? '' : ' (not settled)'}` : 'pair:     none',
    `timings:  connected ${r.timings.connectedMs ?? '—'} ms, settled ${r.timings.settledMs ?? '—'} ms, data round trip ${r.timings.dataRttMs ?? '—'} ms, harness overhead ${r.timings.overheadMs ?? '—'} ms`,
    `states:   A ${r.peers.a.state}, B ${r.peers.b.state}; candidates A ${JSON.stringify(r.peers.a.candidatesByType)}, B ${JSON.stringify(r.peers.b.candidatesByType)}`,
    ...(r.peers.a.candidateErrors.length + r.peers.b.candidateErrors.length ? [`errors:   ${[...r.peers.a.candidateErrors, ...r.peers.b.candidateErrors].map((e) => `${e.errorCode} ${e.url} ${e.errorText}`).join('; ')}`] : []),
    ...(r.outcome === 'connected' ? [`media:    A ${flow('a') || 'none'}; B ${flow('b') || 'none'}`] : []),
    `evidence: ${r.evidence} (SDP, candidates, timeline, getStats, console, turnserver.log${r.evidence && existsSync(join(r.evidence, 'wan.pcap')) ? ', wan.pcap' : ''})`,
  ].join('\n');
}
