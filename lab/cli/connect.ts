import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BrowserFleet, EngineUnavailableError } from '../browsers/fleet.ts';
import { parseEngine } from '../browsers/engines.ts';
import { startLab } from '../lab.ts';
import { runCall, type CallResult, type CallSpec, type MediaKind, type PeerSpec } from '../scenario/call.ts';
import { LabError } from '../topology/errors.ts';
import { PRESET_NAMES, type PresetName } from '../topology/nat.ts';
import { planTopology, twinHost, type Topology, type TopologyInput } from '../topology/topology.ts';
import { ICE_TRANSPORTS, type IceTransport } from '../turn/coturn.ts';
import { REPORTS } from './suite.ts';

export interface ConnectOptions {
  a?: string | undefined;
  b?: string | undefined;
  ice?: string | undefined;
  policy?: string | undefined;
  media?: string | undefined;
  /** A topology file whose host names `--a`/`--b` use; default: a host per preset named. */
  topology?: TopologyInput | Topology | undefined;
  trickle: boolean;
  pcap: boolean;
  headed: boolean;
  keep: boolean;
  json: boolean;
  timeoutMs?: number;
}

const usage = (message: string, hint: string) => Object.assign(new LabError('ERR_USAGE', message, { hint }), { exitCode: 2 });
const MEDIA: readonly MediaKind[] = ['data', 'audio', 'video'];
/** `<preset>` or its twin `<preset>-2` (the suites' second host behind its own router of that preset). */
const presetOf = (host: string): PresetName | null => (PRESET_NAMES as string[]).find((p) => host === p || host === twinHost(p)) as PresetName | null;

function parsePeer(flag: '--a' | '--b', v: string | undefined, topology: unknown): PeerSpec {
  const m = v ? /^([a-z]+)@([a-z0-9-]+)$/.exec(v) : null;
  if (!m) throw usage(`${flag}: expected <engine>@<host>, got ${v === undefined ? 'nothing' : `"${v}"`}`, `e.g. ${flag} firefox@symmetric (engines: chromium, firefox, webkit; hosts: a NAT preset, or a host of --topology)`);
  const engine = parseEngine(m[1]!, flag);
  const host = m[2]!;
  if (!topology && !presetOf(host)) throw usage(`${flag}: unknown host "${host}"`, `use a NAT preset (${PRESET_NAMES.join(', ')}), or give --topology <file> with a host of that name`);
  return { engine, host };
}

/** Validates every option and builds the call and its lab's topology, before anything starts. */
export function planConnect(o: ConnectOptions): { spec: CallSpec; topology: TopologyInput | Topology } {
  const a = parsePeer('--a', o.a, o.topology);
  const b = parsePeer('--b', o.b, o.topology);
  if (o.ice === undefined) throw usage('--ice is required', `a comma-separated list of ${ICE_TRANSPORTS.join(', ')}, or none`);
  const ice = o.ice === 'none' ? [] : o.ice.split(',').map((t) => t.trim());
  const badIce = ice.filter((t) => !(ICE_TRANSPORTS as readonly string[]).includes(t));
  if (badIce.length) throw usage(`--ice: unknown ICE server ${badIce.map((t) => `"${t}"`).join(', ')}`, `use ${ICE_TRANSPORTS.join(', ')} (comma-separated), or none`);
  if (o.policy !== undefined && o.policy !== 'all' && o.policy !== 'relay') throw usage(`--policy: "${o.policy}" is not an iceTransportPolicy`, 'use --policy all (default) or --policy relay');
  const media = (o.media ?? 'data').split(',').map((k) => k.trim());
  const badMedia = media.filter((k) => !(MEDIA as readonly string[]).includes(k));
  if (badMedia.length) throw usage(`--media: unknown kind ${badMedia.map((k) => `"${k}"`).join(', ')}`, `use a comma-separated list of ${MEDIA.join(', ')}`);
  // Two peers on one host would share a LAN: a same-preset call gets the twin host behind its own router.
  if (!o.topology && a.host === b.host) b.host = b.host === twinHost(presetOf(b.host)!) ? presetOf(b.host)! : twinHost(presetOf(b.host)!);
  const topology: TopologyInput | Topology = o.topology ?? { hosts: [...new Set([a.host, b.host])].map((name) => ({ name, nat: presetOf(name)! })) };
  // A topology file: its errors, and unknown hosts, are reported before the lab starts.
  const planned = planTopology(topology);
  for (const [flag, p] of [['--a', a], ['--b', b]] as const) {
    if (!planned.hosts.some((h) => h.name === p.host)) throw usage(`${flag}: the topology has no host "${p.host}"`, `hosts: ${planned.hosts.map((h) => h.name).join(', ')}`);
  }
  const spec: CallSpec = { a, b, ice: ice as IceTransport[], policy: (o.policy as 'all' | 'relay' | undefined) ?? 'all', media: media as MediaKind[], trickle: o.trickle, pcap: o.pcap, connectTimeoutMs: o.timeoutMs ?? 8000 };
  return { spec, topology };
}

/**
 * `icelab connect`: one call in a lab of its own, for reproducing a report. Exit codes: 0 the call
 * ended as the oracle predicts, 1 it did not, 2 bad input, 3 not root, 4 an engine is unavailable.
 */
export async function connectCommand(o: ConnectOptions): Promise<number> {
  const { spec, topology } = planConnect(o);
  const log = (s: string) => o.json || process.stderr.write(`${s}\n`);
  const dir = join(REPORTS, 'evidence', `connect-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  mkdirSync(dir, { recursive: true });
  log(`starting a lab: ${spec.a.host} and ${spec.b.host}, TURN server…`);
  const lab = await startLab(topology);
  const fleet = new BrowserFleet(lab, { headed: o.headed });
  let result: CallResult | null = null;
  let unavailable: EngineUnavailableError | null = null;
  try {
    log(`lab ${lab.id} up; ${spec.a.engine}@${spec.a.host} calls ${spec.b.engine}@${spec.b.host} with ${spec.ice.join(', ') || 'no ICE servers'}${spec.policy === 'relay' ? ', relay only' : ''}…`);
    result = await runCall(lab, fleet, spec, dir, o.topology ? { topology: 'file' } : {});
  } catch (e) {
    if (!(e instanceof EngineUnavailableError)) throw e;
    unavailable = e;
  } finally {
    await fleet.close();
    if (o.keep) {
      lab.network.markComplete({ detach: true });
      log(`lab "${lab.id}" kept: npx icelab exec --name ${lab.id} ${spec.a.host} -- <command>; remove it with npx icelab down --name ${lab.id}`);
    } else await lab.stop();
  }
  if (unavailable) {
    if (o.json) console.log(JSON.stringify({ outcome: 'unavailable', reason: unavailable.message, fix: unavailable.hint, evidence: dir }, null, 2));
    else console.log(`${unavailable.message}\nTo fix: ${unavailable.hint}`);
    return 4;
  }
  const r = result!;
  if (o.json) {
    console.log(
      JSON.stringify(
        { outcome: r.outcome, expected: r.expected.outcome, expectedReason: r.expected.reason, observed: r.observed, matches: r.matches, settled: r.settled, selectedPair: r.selectedPair, timings: r.timings, peers: r.peers, evidence: existsSync(dir) ? dir : null, command: r.command },
        null,
        2,
      ),
    );
  } else console.log(connectStory(r));
  return r.matches ? 0 : 1;
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
    p ? `pair:     ${side(p.local)}  ↔  ${side(p.remote)}${r.settled ? '' : ' (not settled)'}` : 'pair:     none',
    `timings:  connected ${r.timings.connectedMs ?? '—'} ms, settled ${r.timings.settledMs ?? '—'} ms, data round trip ${r.timings.dataRttMs ?? '—'} ms, harness overhead ${r.timings.overheadMs ?? '—'} ms`,
    `states:   A ${r.peers.a.state}, B ${r.peers.b.state}; candidates A ${JSON.stringify(r.peers.a.candidatesByType)}, B ${JSON.stringify(r.peers.b.candidatesByType)}`,
    ...(r.peers.a.candidateErrors.length + r.peers.b.candidateErrors.length ? [`errors:   ${[...r.peers.a.candidateErrors, ...r.peers.b.candidateErrors].map((e) => `${e.errorCode} ${e.url} ${e.errorText}`).join('; ')}`] : []),
    ...(r.outcome === 'connected' ? [`media:    A ${flow('a') || 'none'}; B ${flow('b') || 'none'}`] : []),
    `evidence: ${r.evidence} (SDP, candidates, timeline, getStats, console, turnserver.log${r.evidence && existsSync(join(r.evidence, 'wan.pcap')) ? ', wan.pcap' : ''})`,
  ].join('\n');
}
