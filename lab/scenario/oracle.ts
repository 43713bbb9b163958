import { type Firewall, type Nat } from '../topology/nat.ts';

/**
 * The outcome oracle: which class of candidate pair a call between two peers should settle on,
 * predicted from their NATs, firewalls and the ICE configuration, and the same class read back
 * from the selected pairs the browsers report. A scenario passes when the two agree.
 *
 * Out of the model, on purpose:
 * - mapping lifetime (RFC 4787 section 4.3): a fresh call's own checks and consent freshness
 *   (RFC 7675, every ~5 s) keep its mappings alive, so the lifetime does not change the class;
 * - hairpinning (RFC 4787 section 6): it only matters for two peers behind one shared NAT on
 *   different LANs, which this input cannot express (peers on one LAN connect host to host);
 * - `unsolicited: 'reject'`: the lab drops or rejects unsolicited packets before conntrack
 *   confirms them, so they cannot re-map ports (ENVIRONMENT.md pitfall 1); an ICMP error for an
 *   early check is assumed not to stop ICE, which retransmits. Not yet observed with a browser.
 */

export type RelayProtocol = 'udp' | 'tcp' | 'tls';
export type CandidateType = 'host' | 'srflx' | 'prflx' | 'relay';
export type OutcomeClass = 'host' | 'srflx' | 'prflx' | `relay-${RelayProtocol}` | 'fail';

/** One end of the call. */
export interface PeerSide {
  /** Effective NAT of the host's chain (`effectiveNat`); null = a public address, no NAT. */
  nat: Nat | null;
  /** Applied where the host's traffic leaves its LAN (or its own interface when public). */
  firewall?: Firewall;
  /** Peers with the same LAN id share a LAN segment. */
  lan?: string;
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
}

const direct_ = (outcome: 'host' | 'srflx', reason: string): Prediction => ({ outcome, reason });

// Browsers rank relay candidates UDP over TCP over TLS (RFC 8445 section 5.1.2.1, local preference).
const RELAY_ORDER: readonly RelayProtocol[] = ['udp', 'tcp', 'tls'];
const worse = (p: RelayProtocol, q: RelayProtocol): RelayProtocol => (RELAY_ORDER.indexOf(p) >= RELAY_ORDER.indexOf(q) ? p : q);

interface Peer extends PeerSide {
  name: 'A' | 'B';
}

export const udpOk = (p: PeerSide): boolean => p.firewall?.udp !== 'block';
export const tcpOk = (p: PeerSide, port: number): boolean => p.firewall?.tcpPorts?.includes(port) ?? true;
/** Address(-and-port)-dependent mapping (RFC 4787 section 4.1): a new external port per destination. */
const perDestination = (p: PeerSide): boolean => p.nat !== null && p.nat.mapping !== 'endpoint-independent';
export const hasStun = (ice: IceConfig): boolean => ice.servers.some((s) => s.transport === 'udp');
const turnList = (ice: IceConfig): string =>
  ice.servers.filter((s) => s.kind === 'turn').map((s) => `TURN/${s.transport.toUpperCase()}:${s.port}`).join(', ');

/** The TURN transport a browser would relay over: the best one its firewall lets through. */
function allocation(p: PeerSide, ice: IceConfig): RelayProtocol | null {
  const usable = ice.servers.filter((s) => s.kind === 'turn' && (s.transport === 'udp' ? udpOk(p) : tcpOk(p, s.port)));
  return RELAY_ORDER.find((proto) => usable.some((s) => s.transport === proto)) ?? null;
}

/**
 * Whether a side's UDP can reach the other side's relay address. TURN permissions are per peer IP
 * (RFC 5766 section 8) and the lab's TURN server refuses private peers, so the relaying side must
 * know this side's public IP: its host address when public, else its server-reflexive one.
 */
const reachesRelay = (p: PeerSide, ice: IceConfig): boolean => udpOk(p) && (p.nat === null || hasStun(ice));

const fail = (reason: string): Prediction => ({ outcome: 'fail', reason });

/** The most direct non-relay pair that works, or 'fail' with why none does. */
function direct(a: Peer, b: Peer, ice: IceConfig): Prediction {
  // iceTransportPolicy 'relay' (RFC 8829 section 4.1.1) gathers relay candidates only.
  if (ice.policy === 'relay') return fail('the relay policy offers only relay candidates');
  // Host pairs rank highest (RFC 8445 section 5.1.2.2). Traffic inside a LAN never crosses the router
  // that applies the firewall, so a shared LAN connects even when UDP is blocked outwards.
  if (a.lan !== undefined && a.lan === b.lan) {
    return direct_('host', `both peers are on LAN "${a.lan}", so their host candidates connect directly`);
  }
  const blocked = [a, b].filter((p) => !udpOk(p));
  if (blocked.length === 2) return fail('both firewalls block UDP, so no direct path exists');
  if (blocked[0]) return fail(`${blocked[0].name}'s firewall blocks UDP, so no direct path exists`);
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

/** A relayed pair when no direct one works (`noDirect` says why), or 'fail'. */
function relay(a: Peer, b: Peer, ice: IceConfig, noDirect: string): Prediction {
  if (!ice.servers.some((s) => s.kind === 'turn')) return fail(`${noDirect}; no TURN server is configured`);
  const ra = allocation(a, ice);
  const rb = allocation(b, ice);
  // A relay pairs with the other side's srflx/host (RFC 5766 section 2: the relay speaks UDP to peers)
  // or with the other side's relay. The best-ranked working pair settles.
  const over = (p: RelayProtocol) => `TURN/${p.toUpperCase()}`;
  const options: { proto: RelayProtocol; say: string }[] = [];
  if (ice.policy === 'all') {
    const single = [
      ...(ra && reachesRelay(b, ice) ? [{ proto: ra, say: `A relays over ${over(ra)}` }] : []),
      ...(rb && reachesRelay(a, ice) ? [{ proto: rb, say: `B relays over ${over(rb)}` }] : []),
    ];
    // Both relays work over one protocol: which one the agents pick depends on candidate
    // priorities, not on the NATs, so the reason names neither.
    const tie = single.length === 2 && single[0]!.proto === single[1]!.proto;
    options.push(...(tie ? [{ proto: single[0]!.proto, say: `either side relays over ${over(single[0]!.proto)} to the other's public address` }] : single));
  }
  if (ra && rb) options.push({ proto: worse(ra, rb), say: `both sides relay over ${over(worse(ra, rb))}` });
  const best = options.sort((x, y) => RELAY_ORDER.indexOf(x.proto) - RELAY_ORDER.indexOf(y.proto))[0];
  if (best) return { outcome: `relay-${best.proto}`, reason: `${noDirect}; ${best.say}` };

  if (!ra && !rb) return fail(`${noDirect}, and neither firewall lets its side reach a TURN server (${turnList(ice)})`);
  const [x, y] = ra ? [b, a] : [a, b]; // x cannot allocate
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
  const A: Peer = { ...a, name: 'A' };
  const B: Peer = { ...b, name: 'B' };
  const d = direct(A, B, ice);
  return d.outcome === 'fail' ? relay(A, B, ice, d.reason) : d;
}

/** A settled selected candidate pair as one peer reports it (RTCIceCandidatePairStats and its candidates). */
export interface PairView {
  local: { type: CandidateType; relayProtocol?: RelayProtocol };
  remote: { type: CandidateType };
  /** Rarely known: stats give `relayProtocol` for local candidates only. */
  remoteRelayProtocol?: RelayProtocol;
}

/**
 * The class of a call from both peers' selected pairs. Any relay → relay-<worst protocol seen>;
 * else any prflx → prflx; else any srflx → srflx; else host. A relay whose protocol no view reports
 * counts as udp: the leg between the TURN server and a peer is always UDP (RFC 5766 section 2.1).
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
  if (types.includes('prflx')) return 'prflx';
  if (types.includes('srflx')) return 'srflx';
  return 'host';
}

/** One peer's view alone. */
export const classifyPair = (view: PairView): OutcomeClass => classifyCall(view);

/**
 * The predicted class, or one the same path may be reported as (`alsoAccept`: a trickle race's
 * prflx). Anything else is a mismatch, a more direct outcome too: it means the lab's NAT does not
 * behave as configured, and relay-udp vs relay-tcp means a firewall rule did not hold.
 */
export const outcomeMatches = (expected: Prediction, observed: OutcomeClass): boolean => expected.outcome === observed || (expected.alsoAccept ?? []).includes(observed);
