import type { EngineName } from '../browsers/engines.ts';
import { turnHostname, TURN_PORTS } from '../turn/coturn.ts';
import type { Topology } from '../topology/topology.ts';
import { allocations, classifyCall, hasStun, outcomeMatches, predictDirect, reachesRelay, sameLan, toInternet, udpOk, type IceConfig, type IceServerSpec, type OutcomeClass, type PairView, type PeerSide, type Prediction, type RelayProtocol } from '../scenario/oracle.ts';
import { judgeCall, type CandidateLine, type PairSnapshot, type PeerChecks, type Verdict } from '../scenario/verdict.ts';
import type { RecordedPeerConnection } from './recording.ts';

/**
 * Pure parts of judging an app's peer connection: which lab servers the app's iceServers name,
 * which lab host is at the other end, and the verdict when only this end was recorded.
 */

/** The app's iceServers as the oracle reads them: lab servers, and URLs that name no lab server (unreachable in the lab). */
export interface MappedIce {
  ice: IceConfig;
  ignored: string[];
}

/** `stun:198.18.0.10:3478`, `turn:turn.lab.test?transport=tcp`, `turns:…:443` → the lab server they name, or null. */
export function iceServerOf(url: string, turnAddresses: readonly string[]): IceServerSpec | null {
  const m = /^(stuns?|turns?):(\[[^\]]+\]|[^:?]+)(?::(\d+))?(?:\?transport=(udp|tcp))?$/i.exec(url.trim());
  if (!m) return null;
  const scheme = m[1]!.toLowerCase();
  if (!turnAddresses.includes(m[2]!.toLowerCase())) return null;
  const tls = scheme.endsWith('s');
  const port = m[3] ? Number(m[3]) : tls ? TURN_PORTS.tls : TURN_PORTS.udp;
  if (scheme.startsWith('stun')) return tls ? null : { kind: 'stun', transport: 'udp', port };
  const transport: RelayProtocol = tls ? 'tls' : (m[4]?.toLowerCase() as 'udp' | 'tcp' | undefined) ?? 'udp';
  return { kind: 'turn', transport, port };
}

/** The IceConfig the oracle predicts from: the app's own servers, mapped to the lab's TURN/STUN. */
export function mapIceServers(config: RecordedPeerConnection['config'], topology: Pick<Topology, 'turn'>): MappedIce {
  const names = topology.turn.flatMap((t) => [...t.ips, turnHostname(t.name)]);
  const servers: IceServerSpec[] = [];
  const ignored: string[] = [];
  for (const url of config.iceServers.flatMap((s) => s.urls)) {
    const spec = iceServerOf(url, names);
    if (spec) servers.push(spec);
    else ignored.push(url);
  }
  return { ice: { servers, policy: config.iceTransportPolicy === 'relay' ? 'relay' : 'all' }, ignored };
}

/** Who is at the other end of a peer connection. */
export type RemoteEnd = { host: string } | { service: string };

/**
 * The lab host whose addresses the other side's candidates carry: a host address first (LAN
 * addresses are unique in a lab), then a router's public address when one host is behind it.
 * TURN relay addresses say nothing about who relays. `services` maps a service's host to its name.
 */
export function remoteEndOf(topology: Topology, addresses: readonly string[], services: ReadonlyMap<string, string> = new Map()): RemoteEnd | null {
  const end = (host: string): RemoteEnd => (services.has(host) ? { service: services.get(host)! } : { host });
  const byIp = topology.hosts.find((h) => addresses.includes(h.ip));
  if (byIp) return end(byIp.name);
  for (const r of topology.routers.filter((x) => addresses.includes(x.wanIp))) {
    const behind = topology.hosts.filter((h) => h.routers.at(-1) === r.name || h.routers[0] === r.name);
    if (behind.length === 1) return end(behind[0]!.name);
  }
  return null;
}

/** `a=ice-ufrag:` of a description: pairs a recorded connection with the one at the other end. */
export const ufragOf = (sdp: string | undefined): string | null => (sdp ? (/^a=ice-ufrag:(\S+)/m.exec(sdp)?.[1] ?? null) : null);

/** What a verdict is given: both ends' sides and evidence, or this end's only (a server-side peer, an unrecorded page). */
export interface JudgeInput {
  expected: Prediction;
  connected: boolean;
  settled: boolean;
  ice: IceConfig;
  here: { side: PeerSide; checks: PeerChecks };
  there: { side: PeerSide; checks: PeerChecks | null };
  /** Router public addresses: a remote "host" candidate with one is the NAT's mapping announced by the other end. */
  publicNatAddresses: readonly string[];
}

/** The verdict: judgeCall when both ends were recorded, else this end's settled pair against the prediction. */
export function judgePeerConnection(j: JudgeInput): Verdict {
  if (j.there.checks) {
    return judgeCall({ expected: j.expected, connected: j.connected, settled: j.settled, checks: { a: j.here.checks, b: j.there.checks }, sides: { a: j.here.side, b: j.there.side }, ice: j.ice });
  }
  return judgeOneEnd(j);
}

const none = { directPath: { state: 'none' as const, pair: null, class: null }, nominated: { a: null, b: null }, switched: false };

/**
 * One end's view: the selected pair read as the path it is (a remote prflx that was signalled is
 * that candidate; a host candidate sent through a NAT, or a remote one carrying a NAT's public
 * address, is server-reflexive in effect), compared with the prediction.
 */
export function judgeOneEnd(j: JudgeInput): Verdict {
  const c = j.here.checks;
  const sel = c.final.pairs.find((p) => p.id === c.final.selectedId);
  const nominated = c.nominations[0]?.pairs.find((p) => p.id === c.nominations[0]!.selectedId);
  const common = { ...none, nominated: { a: nominated ? classOf(nominated, j) : null, b: null }, switched: c.nominations.length > 1 };
  const why = 'only this end was recorded';
  if (!j.connected) {
    const pass = j.expected.outcome === 'fail';
    return { ...common, status: pass ? 'pass' : 'unexpected', result: 'fail', settledClass: null, reason: `not connected (${why}); the oracle predicted ${j.expected.outcome}: ${j.expected.reason}` };
  }
  if (!sel) return { ...common, status: 'unknown', result: 'unknown', settledClass: null, reason: `connected, but the selected candidate pair could not be read from getStats (${why})` };
  const cls = classOf(sel, j);
  const ok = outcomeMatches(j.expected, cls);
  const status = ok && j.settled ? 'pass' : ok ? 'unknown' : 'unexpected';
  const state = ok ? (j.settled ? 'as predicted' : 'not settled') : `the oracle predicted ${j.expected.outcome}: ${j.expected.reason}`;
  return { ...common, status, result: status === 'pass' ? j.expected.outcome : status === 'unknown' ? 'unknown' : cls, settledClass: cls, reason: `settled on ${cls} (${why}), ${state}` };
}

function classOf(p: PairSnapshot['pairs'][number], j: JudgeInput): OutcomeClass {
  const { local, remote } = p;
  if (!local || !remote) return 'fail';
  const signalled = remote.type === 'prflx' ? j.here.checks.received.find((l) => l.port === remote.port && (!remote.address || l.address === remote.address)) : undefined;
  const remoteType = signalled?.type ?? (remote.type === 'host' && remote.address && j.publicNatAddresses.includes(remote.address) ? 'srflx' : remote.type);
  // A host candidate's checks leave through its NAT: outside its LAN the path is server-reflexive.
  const throughNat = j.here.side.routers.length > 0 && !sameLan(j.here.side, j.there.side);
  const localType = local.type === 'host' && throughNat ? 'srflx' : local.type;
  const view: PairView = { local: { type: localType, protocol: local.protocol, ...(local.relayProtocol ? { relayProtocol: local.relayProtocol } : {}) }, remote: { type: remoteType } };
  return classifyCall(view);
}

/** What a far end that is no recorded browser (a lab service) announced, as the recorded end received it. */
export interface FarAnnouncements {
  /** A host candidate with a public address: its own, or a 1:1 NAT's that it was told (reached as srflx would be). */
  publicHost: boolean;
  /** It sent a server-reflexive candidate: it learned its NAT's mapping itself. */
  srflx: boolean;
  /** Its relay candidates: its own TURN allocations. */
  relays: number;
}

/** Addresses that are public in the lab: public hosts', services' public ones, and outer routers' WAN addresses. */
export const publicAddressesOf = (t: Pick<Topology, 'hosts' | 'routers' | 'services'>): string[] => [
  ...t.hosts.filter((h) => h.routers.length === 0).map((h) => h.ip),
  ...t.services.map((s) => s.publicIp),
  ...t.routers.filter((r) => r.upstream === null).map((r) => r.wanIp),
];

/** The far end's candidates (trickled and in SDP) read as what they let the near end reach. */
export function announcementsOf(received: readonly CandidateLine[], publicAddresses: readonly string[]): FarAnnouncements {
  return {
    publicHost: received.some((c) => c.type === 'host' && publicAddresses.includes(c.address)),
    srflx: received.some((c) => c.type === 'srflx'),
    relays: received.filter((c) => c.type === 'relay').length,
  };
}

const failed = (reason: string): Prediction => ({ outcome: 'fail', reason });

/**
 * The class a call with a service settles on, from what the service announced rather than from
 * how a browser would gather: a service uses its own ICE servers (or none) and may announce only
 * the private address it sees. `here` is A (the recorded browser), `there` is B (the service).
 */
export function predictFromAnnouncements(here: PeerSide, there: PeerSide, ice: IceConfig, said: FarAnnouncements): Prediction {
  if (sameLan(here, there)) return predictDirect(here, there, ice);
  // A public host address is reached as a public host is, whatever 1:1 NAT forwards it.
  const reached = said.publicHost ? { ...there, routers: [] } : said.srflx ? there : null;
  const d = reached ? predictDirect(here, reached, ice) : checksFromFar(here, there, ice);
  return d.outcome === 'fail' ? farRelay(here, ice, said, reached !== null, d.reason) : d;
}

/**
 * B announced only private addresses, which A's checks cannot reach. B's checks to A's public
 * address get through only if A's NAT filters nothing A has not sent to: A sent nothing to B's
 * public address. A then learns B as peer-reflexive (RFC 8445 section 7.3.1.3).
 */
function checksFromFar(here: PeerSide, there: PeerSide, ice: IceConfig): Prediction {
  const [a, b] = [toInternet(here, 'A'), toInternet(there, 'B')];
  const only = 'B announced only private addresses, which A\'s checks cannot reach';
  if (ice.policy === 'relay') return failed(`${only}, and A's relay policy offers B only relay candidates`);
  if (!udpOk(a) || !udpOk(b)) return failed(`${only}, and ${udpOk(a) ? 'B' : 'A'}'s firewall blocks UDP`);
  if (a.nat && !hasStun(ice)) return failed(`${only}, and A, NATed without a STUN server, announces no public address for B's checks`);
  if (a.nat && a.nat.filtering !== 'endpoint-independent') {
    return failed(`${only}, and A's ${a.nat.filtering} filtering drops B's checks, since A sent nothing to B's public address`);
  }
  const admits = a.nat ? 'A\'s endpoint-independent filtering admits' : 'A is public and receives';
  return { outcome: 'prflx', reason: `${only}; ${admits} B's checks from its public address, so A learns B as peer-reflexive` };
}

/**
 * No direct pair: A's relay to B's public address ranks first (a service's relay priority is
 * the lowest, type preference 0), then A's own address to B's relay, then relay to relay. B's
 * relay transport to its TURN server is not announced: the leg to A is UDP (RFC 5766 section 2.1).
 */
function farRelay(here: PeerSide, ice: IceConfig, said: FarAnnouncements, reached: boolean, noDirect: string): Prediction {
  const a = toInternet(here, 'A');
  const mine = allocations(a, ice)[0];
  if (mine && reached) return { outcome: `relay-${mine}`, reason: `${noDirect}; A relays over TURN/${mine.toUpperCase()} to B's public address` };
  if (said.relays === 0) return failed(`${noDirect}; B announced no relay candidate${mine ? ' and no public address for A\'s relay' : ''}`);
  if (ice.policy === 'all' && reachesRelay(a, ice)) return { outcome: 'relay-udp', reason: `${noDirect}; B's own relay candidate connects A's public address` };
  if (mine) return { outcome: `relay-${mine}`, reason: `${noDirect}; A relays over TURN/${mine.toUpperCase()} to B's relay candidate` };
  return failed(`${noDirect}; A can neither reach B's relay (no public address for B's TURN permission) nor allocate one of its own`);
}

/** The engine the oracle ranks a server-side peer's relays with: it is no browser, libwebrtc's ranking is assumed. */
export const SERVICE_ENGINE: EngineName = 'chromium';
