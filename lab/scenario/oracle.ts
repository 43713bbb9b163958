import { combinedFirewall, effectiveNat, type Firewall, type Nat } from '../topology/nat.ts';
import type { PlannedRouter } from '../topology/topology.ts';
import type { EngineName } from '../browsers/engines.ts';

/**
 * The outcome oracle: which class of candidate pair a call between two peers should settle on,
 * predicted from their NATs, firewalls and the ICE configuration, and the same class read back
 * from the selected pairs the browsers report. A scenario passes when the two agree.
 *
 * Out of the model, on purpose:
 * - mapping lifetime (RFC 4787 section 4.3): a fresh call's own checks and consent freshness
 *   (RFC 7675, every ~5 s) keep its mappings alive, so the lifetime does not change the class;
 * - `unsolicited: 'reject'`: the lab drops or rejects unsolicited packets before conntrack
 *   confirms them, so they cannot re-map ports (ENVIRONMENT.md pitfall 1); an ICMP error for an
 *   early check is assumed not to stop ICE, which retransmits. Not yet observed with a browser.
 * - a one-to-one NAT's forwarding of every port: for ICE it is an endpoint-independent mapping
 *   that keeps ports and filters nothing, which the rules below already cover; the inbound TCP it
 *   also forwards makes no pair, as browsers offer only active TCP candidates.
 */

export type RelayProtocol = 'udp' | 'tcp' | 'tls';
export type CandidateType = 'host' | 'srflx' | 'prflx' | 'relay';
type DirectClass = 'host' | 'srflx' | 'prflx';
/**
 * A direct pair over TCP (ICE-TCP, RFC 6544) is a class of its own, so it can never pass for the UDP
 * pair a prediction names. It is never predicted: Chromium and Firefox offer only active TCP host
 * candidates (`tcptype active`, measured in the lab), and an active candidate pairs only with a
 * passive or simultaneous-open one (RFC 6544 section 6.2), so two browsers form no direct TCP pair.
 */
export type OutcomeClass = DirectClass | `${DirectClass}-tcp` | `relay-${RelayProtocol}` | 'fail';

/** A router on a host's way out. Routers of the same name are one router. */
export type PathRouter = Pick<PlannedRouter, 'name' | 'nat' | 'firewall'>;

/** One end of the call. */
export interface PeerSide {
  /** The browser: engines rank relay candidates differently. */
  engine: EngineName;
  /** The routers from the host outwards (innermost first); [] = a public address. */
  routers: readonly PathRouter[];
  /** The host's own firewall: it filters what the host sends out of its LAN (everything, when public). */
  firewall: Firewall | null;
}

/** STUN is UDP only; a TURN/UDP server also answers STUN binding requests on its port. */
export type IceServerSpec =
  | { kind: 'stun'; transport: 'udp'; port: number }
  | { kind: 'turn'; transport: RelayProtocol; port: number };

/** The `iceServers` and `iceTransportPolicy` both peers use. */
export interface IceConfig {
  servers: readonly IceServerSpec[];
  policy: 'all' | 'relay';
}

export interface Prediction {
  outcome: OutcomeClass;
  /** One sentence for reports: why this outcome. */
  reason: string;
  /**
   * Classes the same path can also be reported as, besides `outcome` (the verdict accepts them).
   * A trickle race's prflx is not one: the verdict reads it as the signalled candidate it was.
   */
  alsoAccept?: OutcomeClass[];
  /**
   * Relay candidates the engines give one priority, which is why `alsoAccept` holds more relay
   * classes: one of those is accepted only while the evidence shows that (`tieContradiction`).
   */
  ties?: RelayTie[];
}
/** Relay candidates (a side's, over a TURN transport) that must have one priority. */
export type RelayTie = { side: 'A' | 'B'; protocol: RelayProtocol }[];

const direct_ = (outcome: 'host' | 'srflx', reason: string): Prediction => ({ outcome, reason });

// Relay classes from the most direct transport to the least; a call's class is its worst relay's.
const RELAY_ORDER: readonly RelayProtocol[] = ['udp', 'tcp', 'tls'];

/**
 * The type preference each engine gives relay candidates per TURN transport (RFC 8445 section
 * 5.1.2.1), from getStats local-candidate priorities in the lab: Chromium 156 58662911 (UDP),
 * 25108735 (TCP), 8331263 (TLS); Firefox 153 92217087 (UDP) and 8331263 for TCP and TLS alike
 * (nICEr has one preference for relays over TCP, TLS or not). WebKit's libwebrtc is taken to rank
 * as Chromium's does: not measured, no WebKit with WebRTC runs here.
 */
const RELAY_PREFERENCE: Record<EngineName, Record<RelayProtocol, number>> = {
  chromium: { udp: 3, tcp: 1, tls: 0 },
  firefox: { udp: 5, tcp: 0, tls: 0 },
  webkit: { udp: 3, tcp: 1, tls: 0 },
};
/** Host and server-reflexive candidates outrank every relay candidate (type preference 100 and up). */
const DIRECT_PREFERENCE = 100;
const worse = (p: RelayProtocol, q: RelayProtocol): RelayProtocol => (RELAY_ORDER.indexOf(p) >= RELAY_ORDER.indexOf(q) ? p : q);

/** A side as one path of the call sees it: the NAT and the firewalls its packets meet. */
export interface Peer {
  name: 'A' | 'B';
  engine: EngineName;
  nat: Nat | null;
  firewall: Firewall | null;
}

/** A side's packets out of its LAN meet its own firewall and every router's. */
const firewallOut = (s: PeerSide): Firewall | null => combinedFirewall([s.firewall, ...s.routers.map((r) => r.firewall)]);
/** A side on its way to the internet: the NATs of all its routers. */
export const toInternet = (s: PeerSide, name: Peer['name']): Peer => ({ name, engine: s.engine, nat: effectiveNat(s.routers.map((r) => r.nat)), firewall: firewallOut(s) });

export const udpOk = (p: Pick<Peer, 'firewall'>): boolean => p.firewall?.udp !== 'block';
export const tcpOk = (p: Pick<Peer, 'firewall'>, port: number): boolean => p.firewall?.tcpPorts?.includes(port) ?? true;
/** Address(-and-port)-dependent mapping (RFC 4787 section 4.1): a new external port per destination. */
const perDestination = (p: Peer): boolean => p.nat !== null && p.nat.mapping !== 'endpoint-independent';
export const hasStun = (ice: IceConfig): boolean => ice.servers.some((s) => s.transport === 'udp');
/** Both hosts on one router's LAN: their host candidates connect, no NAT between them. */
export const sameLan = (a: PeerSide, b: PeerSide): boolean => meeting(a, b).kind === 'lan';
const turnList = (ice: IceConfig): string =>
  ice.servers.filter((s) => s.kind === 'turn').map((s) => `TURN/${s.transport.toUpperCase()}:${s.port}`).join(', ');

/** The TURN transports a side can allocate over: those its firewalls let through. */
export function allocations(p: Peer, ice: IceConfig): RelayProtocol[] {
  const usable = ice.servers.filter((s) => s.kind === 'turn' && (s.transport === 'udp' ? udpOk(p) : tcpOk(p, s.port)));
  return RELAY_ORDER.filter((proto) => usable.some((s) => s.transport === proto));
}

/**
 * Whether a side's UDP can reach the other side's relay address. TURN permissions are per peer IP
 * (RFC 5766 section 8) and the lab's TURN server refuses private peers, so the relaying side must
 * know this side's public IP: its host address when public, else its server-reflexive one.
 */
export const reachesRelay = (p: Peer, ice: IceConfig): boolean => udpOk(p) && (p.nat === null || hasStun(ice));

const fail = (reason: string): Prediction => ({ outcome: 'fail', reason });

/**
 * Where the two paths meet. Hosts behind one router are on its LAN. A host on the LAN of a router
 * that the other's path crosses further out is reachable from the other by its host address. Two
 * paths that share routers end at the same one, whose public address both server-reflexive
 * candidates carry: a check to it must be hairpinned there (RFC 4787 section 6). Otherwise the
 * paths meet on the internet.
 */
type Meeting =
  | { kind: 'lan'; router: string }
  | { kind: 'inside'; on: 'A' | 'B'; router: string; below: readonly PathRouter[] }
  | { kind: 'hairpin'; router: PathRouter }
  | { kind: 'internet' };

function meeting(a: PeerSide, b: PeerSide): Meeting {
  const [la, lb] = [a.routers[0], b.routers[0]];
  if (!la || !lb) return { kind: 'internet' };
  if (la.name === lb.name) return { kind: 'lan', router: la.name };
  for (const [x, y, on] of [[a, b, 'A'], [b, a, 'B']] as const) {
    const k = y.routers.findIndex((r) => r.name === x.routers[0]!.name);
    if (k > 0) return { kind: 'inside', on, router: x.routers[0]!.name, below: y.routers.slice(0, k) };
  }
  const [ta, tb] = [a.routers.at(-1)!, b.routers.at(-1)!];
  return ta.name === tb.name ? { kind: 'hairpin', router: ta } : { kind: 'internet' };
}

/** The most direct non-relay pair that works, or 'fail' with why none does. */
export function predictDirect(a: PeerSide, b: PeerSide, ice: IceConfig): Prediction {
  // iceTransportPolicy 'relay' (RFC 8829 section 4.1.1) gathers relay candidates only.
  if (ice.policy === 'relay') return fail('the relay policy offers only relay candidates');
  const m = meeting(a, b);
  // Host pairs rank highest (RFC 8445 section 5.1.2.2). Traffic inside a LAN meets no firewall (a
  // host's own spares its LAN too), so a shared LAN connects even when UDP is blocked outwards.
  if (m.kind === 'lan') return direct_('host', `both peers are on LAN "${m.router}", so their host candidates connect directly`);
  if (m.kind === 'inside') return fromInside(m, m.on === 'A' ? b : a);
  const [pa, pb] = m.kind === 'hairpin' ? [belowTop(a, 'A'), belowTop(b, 'B')] : [toInternet(a, 'A'), toInternet(b, 'B')];
  const blocked = [pa, pb].filter((p) => !udpOk(p));
  if (blocked.length === 2) return fail('both firewalls block UDP, so no direct path exists');
  if (blocked[0]) return fail(`${blocked[0].name}'s firewall blocks UDP, so no direct path exists`);
  if (m.kind === 'internet') return acrossNats(pa, pb, ice);
  const via = `both sides' server-reflexive addresses are router "${m.router.name}"'s`;
  if (!m.router.nat.hairpinning) return fail(`${via}, which does not hairpin (RFC 4787 section 6), so no check between them arrives`);
  const d = acrossNats(pa, pb, ice);
  return { ...d, reason: `${via}, which hairpins checks between them (RFC 4787 section 6); ${d.reason}` };
}

/**
 * Behind the shared router that hairpins, a side's checks meet the NATs below it on the way out
 * and the other side's on the way in; every firewall on the way still applies (the shared router's
 * too: hairpinned packets come from its LAN).
 */
const belowTop = (s: PeerSide, name: Peer['name']): Peer => ({ name, engine: s.engine, nat: effectiveNat(s.routers.slice(0, -1).map((r) => r.nat)), firewall: firewallOut(s) });

/**
 * One host sits on the LAN of a router the other's path crosses: the other's checks reach its host
 * address from the address the other's inner routers have on that LAN, which no STUN server reveals,
 * and the answers return on the mappings those checks opened, whatever the NATs' behaviour.
 */
function fromInside(m: Extract<Meeting, { kind: 'inside' }>, outer: PeerSide): Prediction {
  const [host, other] = m.on === 'A' ? ['A', 'B'] : ['B', 'A'];
  const crossing = `${host} is on the LAN of router "${m.router}", which ${other}'s path crosses`;
  if (combinedFirewall([outer.firewall, ...m.below.map((r) => r.firewall)])?.udp === 'block') {
    return fail(`${crossing}, but ${other}'s firewall blocks UDP, so no direct path exists`);
  }
  return {
    outcome: 'prflx',
    reason: `${crossing}: ${other}'s checks reach ${host}'s host address from ${other}'s router's address on that LAN, which no STUN server reveals, so ${host} learns ${other} as peer-reflexive`,
  };
}

/** The most direct pair between two sides whose paths meet only through their NATs. */
function acrossNats(a: Peer, b: Peer, ice: IceConfig): Prediction {
  if (!a.nat && !b.nat) return direct_('host', 'both peers have public addresses, so their host candidates connect directly');

  const [n, o] = a.nat ? [a, b] : [b, a]; // n is NATed; o may be public
  if (!hasStun(ice)) {
    // Without STUN a NATed side offers only its private host address.
    if (o.nat) return fail('no STUN server tells either NATed side its public address');
    // A public peer still learns the NATed side from its arriving checks (RFC 8445 section 7.3.1.3).
    return {
      outcome: 'prflx',
      reason: `without a STUN server ${n.name} has no server-reflexive candidate, but its checks reach ${o.name}'s public address and ${o.name} learns ${n.name} as peer-reflexive`,
    };
  }

  const sym = [a, b].filter(perDestination);
  if (sym.length === 0) {
    // Endpoint-independent mapping: the checks leave from the advertised srflx address, so each
    // side's own checks open its filter for the other's (hole punching, RFC 4787 section 5).
    return direct_(
      'srflx',
      o.nat
        ? 'both NATs map endpoint-independently, so checks between the server-reflexive addresses punch through both filters'
        : `${o.name} is public and ${n.name}'s NAT maps endpoint-independently, so ${n.name}'s server-reflexive address and ${o.name}'s host address connect`,
    );
  }
  if (sym.length === 2) {
    return fail('both NATs pick a new port per destination, so neither side\'s checks arrive at a port the other knows');
  }
  // One side (s) sends from a port nobody advertised; its srflx port admits only the STUN server.
  // The other side (t) can learn that port as peer-reflexive if its filtering lets the checks in.
  const [s, t] = perDestination(a) ? [a, b] : [b, a];
  const m = `${s.name}'s ${s.nat?.mapping} mapping`;
  if (!t.nat) return { outcome: 'prflx', reason: `${m} sends checks from a new port, and ${t.name} is public, so ${t.name} learns ${s.name} as peer-reflexive` };
  if (t.nat.filtering === 'endpoint-independent') {
    return { outcome: 'prflx', reason: `${m} sends checks from a new port, and ${t.name}'s endpoint-independent filtering admits them, so ${t.name} learns ${s.name} as peer-reflexive` };
  }
  if (t.nat.filtering === 'address-dependent') {
    // t already sent to s's srflx address: same IP, so any port of it passes.
    return { outcome: 'prflx', reason: `${m} sends checks from a new port of the IP ${t.name} already sent to, which ${t.name}'s address-dependent filtering admits, so ${t.name} learns ${s.name} as peer-reflexive` };
  }
  return fail(`${m} hides its port from ${t.name}, and ${t.name}'s address-and-port-dependent filtering drops ${s.name}'s checks`);
}

/** A relayed pair: each side's relay transport, or null where that side offers its own address. */
interface RelayPair {
  a: RelayProtocol | null;
  b: RelayProtocol | null;
}

/**
 * A pair's rank (RFC 8445 section 6.1.2.3): by its lower candidate priority, then its higher; the
 * type preference decides both, since a relay is ranked far below any other candidate.
 */
function rank(p: RelayPair, a: Peer, b: Peer): [number, number] {
  const pref = (proto: RelayProtocol | null, side: Peer) => (proto === null ? DIRECT_PREFERENCE : RELAY_PREFERENCE[side.engine][proto]);
  const [x, y] = [pref(p.a, a), pref(p.b, b)];
  return [Math.min(x, y), Math.max(x, y)];
}
const relayClass = (p: RelayPair): OutcomeClass => `relay-${[p.a, p.b].filter((x) => x !== null).reduce(worse)}`;
const over = (protos: readonly RelayProtocol[]) => protos.map((p) => `TURN/${p.toUpperCase()}`).join(' or ');

/** A relayed pair when no direct one works (`noDirect` says why), or 'fail'. */
function relay(a: Peer, b: Peer, ice: IceConfig, noDirect: string): Prediction {
  if (!ice.servers.some((s) => s.kind === 'turn')) return fail(`${noDirect}; no TURN server is configured`);
  const [ra, rb] = [allocations(a, ice), allocations(b, ice)];
  // A relay pairs with the other side's srflx/host (RFC 5766 section 2: the relay speaks UDP to peers)
  // or with the other side's relay. The best-ranked working pair settles.
  const pairs: RelayPair[] = [
    ...(ice.policy === 'all' && reachesRelay(b, ice) ? ra.map((x) => ({ a: x, b: null })) : []),
    ...(ice.policy === 'all' && reachesRelay(a, ice) ? rb.map((y) => ({ a: null, b: y })) : []),
    ...ra.flatMap((x) => rb.map((y) => ({ a: x, b: y }))),
  ];
  if (pairs.length === 0) return cannotRelay(a, b, ice, noDirect, ra.length > 0, rb.length > 0);
  const ranks = pairs.map((p) => rank(p, a, b));
  const top = ranks.reduce((m, r) => (r[0] > m[0] || (r[0] === m[0] && r[1] > m[1]) ? r : m));
  const best = pairs.filter((_, i) => ranks[i]![0] === top[0] && ranks[i]![1] === top[1]);
  const classes = RELAY_ORDER.map((p): OutcomeClass => `relay-${p}`).filter((c) => best.some((p) => relayClass(p) === c));
  const reason = `${noDirect}; ${whoRelays(best, classes)}`;
  return classes.length === 1 ? { outcome: classes[0]!, reason } : tie(top, best, classes, reason, a, b);
}

/**
 * The best pairs rank alike because their relay candidates have equal type preferences: which of
 * them the agents select is not decided by priority, so each of their classes is accepted.
 */
function tie(top: [number, number], best: readonly RelayPair[], classes: OutcomeClass[], reason: string, a: Peer, b: Peer): Prediction {
  const prefs = [...new Set(top)].filter((v) => v !== DIRECT_PREFERENCE);
  const ties = prefs.map((v) => tiedAt(v, best, a, b)).filter((t) => t.length > 1);
  const why = `${ties.map((t) => sayTie(t, a, b)).join('; ')}, so priority does not decide between ${classes.join(' and ')}`;
  return { outcome: classes[0]!, alsoAccept: classes.slice(1), ties, reason: `${reason}: ${why}` };
}

/** The relay candidates of the best pairs whose type preference is `pref`. */
function tiedAt(pref: number, best: readonly RelayPair[], a: Peer, b: Peer): RelayTie {
  const out: RelayTie = [];
  for (const [side, peer] of [['A', a], ['B', b]] as const) {
    for (const protocol of RELAY_ORDER) {
      const used = best.some((p) => (side === 'A' ? p.a : p.b) === protocol);
      if (used && RELAY_PREFERENCE[peer.engine][protocol] === pref) out.push({ side, protocol });
    }
  }
  return out;
}

/** "firefox's TURN/TCP and TURN/TLS relay candidates have the same priority", engines by name (not by side). */
function sayTie(tie: RelayTie, a: Peer, b: Peer): string {
  const byEngine = new Map<EngineName, RelayProtocol[]>();
  for (const c of tie) {
    const engine = (c.side === 'A' ? a : b).engine;
    const protos = byEngine.get(engine) ?? [];
    if (!protos.includes(c.protocol)) byEngine.set(engine, [...protos, c.protocol].sort((x, y) => RELAY_ORDER.indexOf(x) - RELAY_ORDER.indexOf(y)));
  }
  const parts = [...byEngine].sort(([x], [y]) => x.localeCompare(y)).map(([engine, protos]) => `${engine}'s ${protos.map((p) => `TURN/${p.toUpperCase()}`).join(' and ')}`);
  return `${parts.join(' and ')} relay candidates have the same priority`;
}

/** A local relay candidate as getStats reports it. */
export interface RelayCandidateStats {
  relayProtocol: RelayProtocol;
  priority: number;
}

/**
 * What in the evidence (each side's local relay candidates) contradicts a tie the prediction
 * accepts other relay classes for, or null when nothing does.
 */
export function tieContradiction(expected: Prediction, relays: Record<'A' | 'B', readonly RelayCandidateStats[]>): string | null {
  for (const tie of expected.ties ?? []) {
    const seen = tie.map((c) => ({ ...c, priorities: relays[c.side].filter((r) => r.relayProtocol === c.protocol).map((r) => r.priority) }));
    const say = (c: (typeof seen)[number]) => `${c.side}'s TURN/${c.protocol.toUpperCase()}`;
    const missing = seen.find((c) => c.priorities.length === 0);
    if (missing) return `${say(missing)} relay candidate the tie rests on is not in the evidence`;
    const distinct = [...new Set(seen.flatMap((c) => c.priorities))];
    if (distinct.length > 1) return `the tie rests on one priority for ${seen.map(say).join(', ')}, but they have ${seen.map((c) => `${c.priorities.join('/')}`).join(', ')}`;
  }
  return null;
}

/** Who relays over what in the best pairs: one side, either (the NATs do not decide which), or both. */
function whoRelays(best: readonly RelayPair[], classes: readonly OutcomeClass[]): string {
  const protos = classes.map((c) => c.slice('relay-'.length) as RelayProtocol);
  const onlyA = best.every((p) => p.b === null);
  const onlyB = best.every((p) => p.a === null);
  if (onlyA) return `A relays over ${over(protos)}`;
  if (onlyB) return `B relays over ${over(protos)}`;
  if (best.every((p) => p.a === null || p.b === null)) return `either side relays over ${over(protos)} to the other's public address`;
  return `both sides relay over ${over(protos)}`;
}

/** Why no relayed pair works, given which sides can allocate. */
function cannotRelay(a: Peer, b: Peer, ice: IceConfig, noDirect: string, aAllocates: boolean, bAllocates: boolean): Prediction {
  if (!aAllocates && !bAllocates) return fail(`${noDirect}, and neither firewall lets its side reach a TURN server (${turnList(ice)})`);
  const [x, y] = aAllocates ? [b, a] : [a, b]; // x cannot allocate
  const why =
    ice.policy === 'relay'
      ? 'the relay policy needs both sides to allocate'
      : !udpOk(x)
        ? `it cannot send UDP to ${y.name}'s relay either`
        : `it has no server-reflexive address for ${y.name}'s TURN permission`;
  return fail(`${noDirect}, and ${x.name}'s firewall lets it reach no TURN server (${turnList(ice)}) while ${why}`);
}

/**
 * The class of pair the call between `a` and `b` settles on. With policy 'all' the most direct
 * working pair wins (host > srflx/prflx > relay, RFC 8445 section 5.1.2); Chromium may nominate a
 * relay pair first and switch later, which is why the harness reads the settled pair.
 */
export function predictOutcome(a: PeerSide, b: PeerSide, ice: IceConfig): Prediction {
  const d = predictDirect(a, b, ice);
  // Relayed traffic goes to the TURN server and back in from the internet, whatever the paths share.
  return d.outcome === 'fail' ? relay(toInternet(a, 'A'), toInternet(b, 'B'), ice, d.reason) : d;
}

/** A settled selected candidate pair as one peer reports it (RTCIceCandidatePairStats and its candidates). */
export interface PairView {
  /** `protocol` as getStats reports it: 'udp' or 'tcp' (a relay candidate's is its relayed UDP address's). */
  local: { type: CandidateType; protocol: string; relayProtocol?: RelayProtocol };
  remote: { type: CandidateType };
  /** Rarely known: stats give `relayProtocol` for local candidates only. */
  remoteRelayProtocol?: RelayProtocol;
}

/**
 * The class of a call from both peers' selected pairs. Any relay → relay-<worst protocol seen>;
 * else any prflx → prflx; else any srflx → srflx; else host; a direct pair either view reports over
 * TCP adds -tcp. A relay whose protocol no view reports counts as udp: the leg between the TURN
 * server and a peer is always UDP (RFC 5766 section 2.1).
 */
export function classifyCall(...views: readonly PairView[]): OutcomeClass {
  const types = views.flatMap((v) => [v.local.type, v.remote.type]);
  if (types.includes('relay')) {
    const protos = views.flatMap((v) => [
      ...(v.local.type === 'relay' ? [v.local.relayProtocol ?? 'udp'] : []),
      ...(v.remote.type === 'relay' ? [v.remoteRelayProtocol ?? 'udp'] : []),
    ]);
    return `relay-${protos.reduce(worse)}`;
  }
  const direct: DirectClass = types.includes('prflx') ? 'prflx' : types.includes('srflx') ? 'srflx' : 'host';
  return views.some((v) => v.local.protocol === 'tcp') ? `${direct}-tcp` : direct;
}

/** One peer's view alone. */
export const classifyPair = (view: PairView): OutcomeClass => classifyCall(view);

/**
 * The predicted class, or one the same path may be reported as (`alsoAccept`: a trickle race's
 * prflx). Anything else is a mismatch, a more direct outcome too: it means the lab's NAT does not
 * behave as configured, and relay-udp vs relay-tcp means a firewall rule did not hold.
 */
export const outcomeMatches = (expected: Prediction, observed: OutcomeClass): boolean => expected.outcome === observed || (expected.alsoAccept ?? []).includes(observed);
