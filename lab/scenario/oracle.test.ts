import { expect } from 'chai';
import type { Firewall, NatInput, PresetName } from '../topology/nat.ts';
import { planTopology, type TopologyInput } from '../topology/topology.ts';
import { peerSide } from './call.ts';
import {
  classifyCall,
  classifyPair,
  outcomeMatches,
  predictOutcome,
  tieContradiction,
  type IceConfig,
  type IceServerSpec,
  type OutcomeClass,
  type PairView,
  type PeerSide,
} from './oracle.ts';

/** The oracle's view of every host of a topology, built as a call builds it (Chromium in each). */
function sidesOf(input: TopologyInput): Record<string, PeerSide> {
  const t = planTopology(input);
  return Object.fromEntries(t.hosts.map((h) => [h.name, peerSide(t, h, 'chromium')]));
}
let hosts = 0;
/** A host behind a NAT of its own (a preset or a NAT object), with a firewall when given. */
function behind(nat: PresetName | NatInput, firewall?: Firewall): PeerSide {
  const name = `h${(hosts += 1)}`;
  return sidesOf({ hosts: [{ name, nat, ...(firewall ? { firewall } : {}) }] })[name]!;
}
/** The same host with another browser in it. */
const inFirefox = (side: PeerSide): PeerSide => ({ ...side, engine: 'firefox' });
/** Two hosts behind one router: its NAT, its firewall. */
function neighbours(nat: NatInput, firewall?: Firewall): [PeerSide, PeerSide] {
  const s = sidesOf({ routers: [{ name: 'home', nat, ...(firewall ? { firewall } : {}) }], hosts: [{ name: 'a', behind: 'home' }, { name: 'b', behind: 'home' }] });
  return [s.a!, s.b!];
}

const STUN: IceServerSpec = { kind: 'stun', transport: 'udp', port: 3478 };
const TURN_UDP: IceServerSpec = { kind: 'turn', transport: 'udp', port: 3478 };
const TURN_TCP: IceServerSpec = { kind: 'turn', transport: 'tcp', port: 3478 };
const TURN_TCP_443: IceServerSpec = { kind: 'turn', transport: 'tcp', port: 443 };
const TURN_TLS_443: IceServerSpec = { kind: 'turn', transport: 'tls', port: 443 };
const all = (...servers: IceServerSpec[]): IceConfig => ({ servers, policy: 'all' });
const relayOnly = (...servers: IceServerSpec[]): IceConfig => ({ servers, policy: 'relay' });

const prc = 'port-restricted-cone';
interface Row {
  title: string;
  a: PeerSide;
  b: PeerSide;
  ice: IceConfig;
  expected: OutcomeClass;
  /** What the reason must say with A and B as given; swapped, it must say it of the other side. */
  says?: RegExp;
  /** Relay classes equally ranked candidates make possible too. */
  tie?: OutcomeClass[];
}

const pair = ([a, b]: [PeerSide, PeerSide]) => ({ a, b });

const CGN_BLOCKS_UDP = sidesOf({
  routers: [
    { name: 'cgn', nat: { hairpinning: false }, firewall: { udp: 'block', tcpPorts: [80, 443] } },
    { name: 'home', nat: {}, upstream: 'cgn' },
    { name: 'shop', nat: {}, upstream: 'cgn', firewall: { tcpPorts: [8443] } },
  ],
  hosts: [{ name: 'dave', behind: 'home' }, { name: 'erin', behind: 'shop' }],
});
/** Homes behind one carrier-grade NAT, and a host on the CGN's own LAN. */
const cgnWith = (hairpinning: boolean) =>
  sidesOf({
    routers: [
      { name: 'cgn', nat: { hairpinning } },
      { name: 'home1', nat: {}, upstream: 'cgn' },
      { name: 'home2', nat: {}, upstream: 'cgn' },
      { name: 'home3', nat: { mapping: 'address-and-port-dependent', hairpinning: false }, upstream: 'cgn' },
      { name: 'home4', nat: { filtering: 'endpoint-independent' }, upstream: 'cgn' },
      { name: 'home5', nat: {}, upstream: 'cgn', firewall: { udp: 'block' } },
    ],
    hosts: [
      { name: 'alice', behind: 'home1' },
      { name: 'dana', behind: 'home1' },
      { name: 'bob', behind: 'home2' },
      { name: 'sam', behind: 'home3' },
      { name: 'fay', behind: 'home4' },
      { name: 'gus', behind: 'home5' },
      { name: 'carol', behind: 'cgn' },
    ],
  });
const HAIRPIN = cgnWith(true);
const NO_HAIRPIN = cgnWith(false);

/** A reason with the peers' names exchanged: what the same call with A and B swapped must say. */
const swapSides = (reason: string): string => reason.replace(/\b[AB]\b/g, (m) => (m === 'A' ? 'B' : 'A'));

const ROWS: Row[] = [
  // Endpoint-independent mapping on both sides: hole punching between srflx addresses.
  { title: 'port-restricted-cone ↔ port-restricted-cone, STUN only', a: behind(prc), b: behind(prc), ice: all(STUN), expected: 'srflx' },
  { title: 'port-restricted-cone ↔ port-restricted-cone, TURN/UDP answers STUN', a: behind(prc), b: behind(prc), ice: all(TURN_UDP), expected: 'srflx' },
  { title: 'full-cone ↔ restricted-cone, STUN only', a: behind('full-cone'), b: behind('restricted-cone'), ice: all(STUN), expected: 'srflx' },
  { title: 'double-nat ↔ port-restricted-cone, STUN only', a: behind('double-nat'), b: behind(prc), ice: all(STUN), expected: 'srflx' },
  { title: 'open ↔ port-restricted-cone, STUN only', a: behind('open'), b: behind(prc), ice: all(STUN), expected: 'srflx' },
  {
    title: 'port-restricted-cone with 30 s lifetime, no hairpinning, reject ↔ port-restricted-cone, STUN only',
    a: behind({ mappingLifetime: 30, hairpinning: false, unsolicited: 'reject' }),
    b: behind(prc),
    ice: all(STUN),
    expected: 'srflx',
  },
  // Host pairs.
  { title: 'open ↔ open, no ICE servers', a: behind('open'), b: behind('open'), ice: all(), expected: 'host' },
  { title: 'same LAN behind port-restricted-cone, no ICE servers', ...pair(neighbours({})), ice: all(), expected: 'host' },
  { title: 'same LAN behind udp-blocked (LAN traffic skips the firewall)', ...pair(neighbours({}, { udp: 'block', tcpPorts: [80, 443] })), ice: all(), expected: 'host' },
  // Without STUN: no srflx; a public peer learns the NATed one as prflx.
  { title: 'port-restricted-cone ↔ port-restricted-cone, no ICE servers', a: behind(prc), b: behind(prc), ice: all(), expected: 'fail' },
  { title: 'full-cone ↔ full-cone, no ICE servers', a: behind('full-cone'), b: behind('full-cone'), ice: all(), expected: 'fail' },
  { title: 'open ↔ port-restricted-cone, no ICE servers', a: behind('open'), b: behind(prc), ice: all(), expected: 'prflx' },
  { title: 'symmetric ↔ open, no ICE servers', a: behind('symmetric'), b: behind('open'), ice: all(), expected: 'prflx' },
  { title: 'symmetric ↔ full-cone, no ICE servers', a: behind('symmetric'), b: behind('full-cone'), ice: all(), expected: 'fail' },
  // Symmetric mapping: prflx when the other side's filtering admits the new port.
  { title: 'symmetric ↔ full-cone, STUN only', a: behind('symmetric'), b: behind('full-cone'), ice: all(STUN), expected: 'prflx' },
  { title: 'symmetric ↔ restricted-cone, STUN only', a: behind('symmetric'), b: behind('restricted-cone'), ice: all(STUN), expected: 'prflx' },
  { title: 'open ↔ symmetric, STUN only', a: behind('open'), b: behind('symmetric'), ice: all(STUN), expected: 'prflx' },
  { title: 'symmetric ↔ port-restricted-cone, STUN only', a: behind('symmetric'), b: behind(prc), ice: all(STUN), expected: 'fail' },
  { title: 'symmetric ↔ symmetric, STUN only', a: behind('symmetric'), b: behind('symmetric'), ice: all(STUN), expected: 'fail' },
  // Relay when no direct pair works; UDP over TCP over TLS.
  // Either relay works here: the NATs do not decide which side relays, so the reason names neither.
  { title: 'symmetric ↔ port-restricted-cone, STUN + TURN/UDP', a: behind('symmetric'), b: behind(prc), ice: all(STUN, TURN_UDP), expected: 'relay-udp', says: /^A's address-and-port-dependent mapping .*; either side relays over TURN\/UDP/ },
  { title: 'port-restricted-cone ↔ symmetric, STUN + TURN/UDP', a: behind(prc), b: behind('symmetric'), ice: all(STUN, TURN_UDP), expected: 'relay-udp', says: /^B's address-and-port-dependent mapping .*; either side relays over TURN\/UDP/ },
  { title: 'symmetric ↔ port-restricted-cone, TURN/UDP + TURN/TCP', a: behind('symmetric'), b: behind(prc), ice: all(TURN_TCP, TURN_UDP), expected: 'relay-udp' },
  { title: 'symmetric ↔ symmetric, TURN/UDP', a: behind('symmetric'), b: behind('symmetric'), ice: all(TURN_UDP), expected: 'relay-udp' },
  { title: 'double-nat ↔ symmetric, TURN/UDP', a: behind('double-nat'), b: behind('symmetric'), ice: all(TURN_UDP), expected: 'relay-udp' },
  { title: 'port-restricted-cone ↔ port-restricted-cone, TURN/TCP only (no srflx)', a: behind(prc), b: behind(prc), ice: all(TURN_TCP), expected: 'relay-tcp' },
  // Firewalls.
  { title: 'udp-blocked ↔ open, TURN/TCP on 443', a: behind('udp-blocked'), b: behind('open'), ice: all(TURN_TCP_443), expected: 'relay-tcp' },
  { title: 'udp-blocked ↔ port-restricted-cone, STUN + TURN/UDP + TURN/TCP on 443', a: behind('udp-blocked'), b: behind(prc), ice: all(STUN, TURN_UDP, TURN_TCP_443), expected: 'relay-tcp', says: /^A's firewall blocks UDP.*; A relays over TURN\/TCP$/ },
  { title: 'port-restricted-cone ↔ udp-blocked, STUN + TURN/UDP + TURN/TCP on 443', a: behind(prc), b: behind('udp-blocked'), ice: all(STUN, TURN_UDP, TURN_TCP_443), expected: 'relay-tcp', says: /^B's firewall blocks UDP.*; B relays over TURN\/TCP$/ },
  { title: 'udp-blocked ↔ udp-blocked, TURN/TCP on 443', a: behind('udp-blocked'), b: behind('udp-blocked'), ice: all(TURN_TCP_443), expected: 'relay-tcp' },
  { title: 'udp-blocked ↔ open, TURN/TLS on 443', a: behind('udp-blocked'), b: behind('open'), ice: all(TURN_TLS_443), expected: 'relay-tls' },
  { title: 'udp-blocked ↔ open, TURN/TCP on 3478 + TURN/TLS on 443', a: behind('udp-blocked'), b: behind('open'), ice: all(TURN_TCP, TURN_TLS_443), expected: 'relay-tls' },
  { title: 'udp-blocked ↔ symmetric, TURN/UDP + TURN/TLS on 443', a: behind('udp-blocked'), b: behind('symmetric'), ice: all(TURN_UDP, TURN_TLS_443), expected: 'relay-tls' },
  { title: 'udp-blocked ↔ open, only TURN/UDP', a: behind('udp-blocked'), b: behind('open'), ice: all(STUN, TURN_UDP), expected: 'fail' },
  { title: 'udp-blocked ↔ open, TURN/TCP on 3478 (outside tcpPorts 80, 443)', a: behind('udp-blocked'), b: behind('open'), ice: all(TURN_TCP), expected: 'fail' },
  { title: 'open with UDP blocked ↔ open, TURN/TCP on 3478 (all TCP allowed)', a: behind('open', { udp: 'block' }), b: behind('open'), ice: all(TURN_TCP), expected: 'relay-tcp' },
  // TURN permissions are per public IP: a side that cannot allocate needs a srflx address.
  {
    title: 'port-restricted-cone with TCP only to 80 ↔ udp-blocked, TURN/TCP on 443 (no srflx for a permission)',
    a: behind(prc, { udp: 'allow', tcpPorts: [80] }),
    b: behind('udp-blocked'),
    ice: all(TURN_TCP_443),
    expected: 'fail',
  },
  {
    title: 'port-restricted-cone with TCP only to 80 ↔ udp-blocked, STUN + TURN/TCP on 443',
    a: behind(prc, { udp: 'allow', tcpPorts: [80] }),
    b: behind('udp-blocked'),
    ice: all(STUN, TURN_TCP_443),
    expected: 'relay-tcp',
  },
  // Firewalls on upstream routers apply to every host behind them.
  { title: 'home behind a carrier-grade NAT that blocks UDP ↔ open, STUN + TURN/UDP + TURN/TCP on 443', a: CGN_BLOCKS_UDP.dave!, b: behind('open'), ice: all(STUN, TURN_UDP, TURN_TCP_443), expected: 'relay-tcp', says: /^A's firewall blocks UDP/ },
  { title: 'home with TCP only to 8443 behind a CGN with TCP only to 80 and 443 ↔ open, TURN/TCP on 443 (no port both allow)', a: CGN_BLOCKS_UDP.erin!, b: behind('open'), ice: all(TURN_TCP_443), expected: 'fail' },
  // Two homes behind one carrier-grade NAT: both srflx addresses are the CGN's, so checks must hairpin there.
  { title: 'homes behind one hairpinning CGN, STUN only', a: HAIRPIN.alice!, b: HAIRPIN.bob!, ice: all(STUN), expected: 'srflx', says: /^both sides' server-reflexive addresses are router "cgn"'s, which hairpins/ },
  { title: 'homes behind one hairpinning CGN, no ICE servers', a: HAIRPIN.alice!, b: HAIRPIN.bob!, ice: all(), expected: 'fail' },
  { title: 'symmetric home ↔ port-restricted home behind one hairpinning CGN, STUN only', a: HAIRPIN.sam!, b: HAIRPIN.bob!, ice: all(STUN), expected: 'fail' },
  { title: 'symmetric home ↔ full-cone home behind one hairpinning CGN, STUN only', a: HAIRPIN.sam!, b: HAIRPIN.fay!, ice: all(STUN), expected: 'prflx' },
  { title: 'homes behind one CGN that does not hairpin, STUN only', a: NO_HAIRPIN.alice!, b: NO_HAIRPIN.bob!, ice: all(STUN), expected: 'fail', says: /^both sides' server-reflexive addresses are router "cgn"'s, which does not hairpin/ },
  { title: 'homes behind one CGN that does not hairpin, STUN + TURN/UDP', a: NO_HAIRPIN.alice!, b: NO_HAIRPIN.bob!, ice: all(STUN, TURN_UDP), expected: 'relay-udp', says: /; either side relays over TURN\/UDP/ },
  { title: 'two hosts of one home behind a CGN', a: NO_HAIRPIN.alice!, b: NO_HAIRPIN.dana!, ice: all(), expected: 'host' },
  { title: 'a home behind a CGN ↔ a public host, STUN only', a: NO_HAIRPIN.alice!, b: behind('open'), ice: all(STUN), expected: 'srflx' },
  // A host on the CGN's own LAN is reachable from the homes behind it by its host address.
  { title: 'host on the CGN LAN ↔ a home behind it, no ICE servers', a: NO_HAIRPIN.carol!, b: NO_HAIRPIN.alice!, ice: all(), expected: 'prflx', says: /^A is on the LAN of router "cgn", which B's path crosses: B's checks/ },
  { title: 'host on the CGN LAN ↔ a symmetric home behind it, no ICE servers', a: NO_HAIRPIN.carol!, b: NO_HAIRPIN.sam!, ice: all(), expected: 'prflx' },
  { title: 'host on the CGN LAN ↔ a home behind it that blocks UDP, STUN + TURN/TCP on 443', a: NO_HAIRPIN.carol!, b: NO_HAIRPIN.gus!, ice: all(STUN, TURN_TCP_443), expected: 'relay-tcp', says: /^A is on the LAN of router "cgn", which B's path crosses, but B's firewall blocks UDP/ },
  // Relay over TCP or TLS: Chromium ranks TCP over TLS, Firefox gives both one priority.
  { title: 'chromium ↔ chromium, udp-blocked ↔ udp-blocked, TURN/TCP and TURN/TLS on 443', a: behind('udp-blocked'), b: behind('udp-blocked'), ice: all(TURN_TLS_443, TURN_TCP_443), expected: 'relay-tcp', says: /; both sides relay over TURN\/TCP$/ },
  {
    title: 'firefox ↔ firefox, udp-blocked ↔ udp-blocked, TURN/TCP and TURN/TLS on 443',
    a: inFirefox(behind('udp-blocked')),
    b: inFirefox(behind('udp-blocked')),
    ice: all(TURN_TCP_443, TURN_TLS_443),
    expected: 'relay-tcp',
    tie: ['relay-tls'],
    says: /; both sides relay over TURN\/TCP or TURN\/TLS: firefox's TURN\/TCP and TURN\/TLS relay candidates have the same priority, so priority does not decide between relay-tcp and relay-tls$/,
  },
  { title: 'chromium ↔ firefox, udp-blocked ↔ udp-blocked, TURN/TCP and TURN/TLS on 443', a: behind('udp-blocked'), b: inFirefox(behind('udp-blocked')), ice: all(TURN_TCP_443, TURN_TLS_443), expected: 'relay-tcp', tie: ['relay-tls'] },
  { title: 'firefox udp-blocked ↔ open, TURN/TCP and TURN/TLS on 443', a: inFirefox(behind('udp-blocked')), b: behind('open'), ice: all(STUN, TURN_UDP, TURN_TCP_443, TURN_TLS_443), expected: 'relay-tcp', tie: ['relay-tls'], says: /; A relays over TURN\/TCP or TURN\/TLS: / },
  { title: 'firefox udp-blocked ↔ open, TURN/TCP on 3478 + TURN/TLS on 443', a: inFirefox(behind('udp-blocked')), b: inFirefox(behind('open')), ice: all(TURN_TCP, TURN_TLS_443), expected: 'relay-tls' },
  { title: 'firefox ↔ firefox, symmetric ↔ port-restricted-cone, TURN/UDP + TURN/TCP on 443', a: inFirefox(behind('symmetric')), b: inFirefox(behind(prc)), ice: all(STUN, TURN_TCP_443, TURN_UDP), expected: 'relay-udp' },
  {
    title: 'firefox ↔ firefox, symmetric with TCP only to 443 ↔ symmetric with TCP only to 3478, TURN/TCP on 3478 + TURN/TLS on 443',
    a: inFirefox(behind('symmetric', { udp: 'allow', tcpPorts: [443] })),
    b: inFirefox(behind('symmetric', { udp: 'allow', tcpPorts: [3478] })),
    ice: all(STUN, TURN_TCP, TURN_TLS_443),
    expected: 'relay-tcp',
    tie: ['relay-tls'],
    says: /; either side relays over TURN\/TCP or TURN\/TLS to the other's public address: firefox's TURN\/TCP and TURN\/TLS relay candidates have the same priority/,
  },
  {
    title: 'chromium ↔ chromium, symmetric with TCP only to 443 ↔ symmetric with TCP only to 3478, TURN/TCP on 3478 + TURN/TLS on 443',
    a: behind('symmetric', { udp: 'allow', tcpPorts: [443] }),
    b: behind('symmetric', { udp: 'allow', tcpPorts: [3478] }),
    ice: all(STUN, TURN_TCP, TURN_TLS_443),
    expected: 'relay-tcp',
    says: /; B relays over TURN\/TCP$/,
  },
  // One-to-one (a server's elastic IP): for ICE, endpoint-independent mapping keeping ports and no filtering.
  { title: 'one-to-one ↔ port-restricted-cone, STUN', a: behind('one-to-one'), b: behind(prc), ice: all(STUN), expected: 'srflx', says: /both NATs map endpoint-independently/ },
  { title: 'one-to-one ↔ symmetric, STUN', a: behind('one-to-one'), b: behind('symmetric'), ice: all(STUN), expected: 'prflx', says: /A's endpoint-independent filtering admits them, so A learns B as peer-reflexive/ },
  { title: 'one-to-one ↔ open, no ICE servers', a: behind('one-to-one'), b: behind('open'), ice: all(), expected: 'prflx', says: /A has no server-reflexive candidate, but its checks reach B's public address/ },
  { title: 'one-to-one ↔ port-restricted-cone, no ICE servers (the server advertises only its private address)', a: behind('one-to-one'), b: behind(prc), ice: all(), expected: 'fail' },
  { title: 'one-to-one ↔ udp-blocked, STUN + TURN/TCP on 443', a: behind('one-to-one'), b: behind('udp-blocked'), ice: all(STUN, TURN_TCP_443), expected: 'relay-tcp', says: /B relays over TURN\/TCP$/ },
  // Relay policy: both must allocate.
  { title: 'port-restricted-cone ↔ port-restricted-cone, relay policy, STUN + TURN/UDP', a: behind(prc), b: behind(prc), ice: relayOnly(STUN, TURN_UDP), expected: 'relay-udp' },
  { title: 'same LAN, relay policy, TURN/UDP', ...pair(neighbours({})), ice: relayOnly(TURN_UDP), expected: 'relay-udp' },
  { title: 'open ↔ open, relay policy, STUN only', a: behind('open'), b: behind('open'), ice: relayOnly(STUN), expected: 'fail' },
  { title: 'symmetric ↔ port-restricted-cone, relay policy, TURN/TCP on 443', a: behind('symmetric'), b: behind(prc), ice: relayOnly(TURN_TCP_443), expected: 'relay-tcp' },
  { title: 'udp-blocked ↔ open, relay policy, TURN/UDP + TURN/TLS on 443', a: behind('udp-blocked'), b: behind('open'), ice: relayOnly(TURN_UDP, TURN_TLS_443), expected: 'relay-tls' },
  { title: 'udp-blocked ↔ open, relay policy, only TURN/UDP', a: behind('udp-blocked'), b: behind('open'), ice: relayOnly(TURN_UDP), expected: 'fail' },
];

describe('predictOutcome', () => {
  for (const row of ROWS) {
    it(`${row.title} → ${row.expected}`, () => {
      const seen = predictOutcome(row.a, row.b, row.ice);
      expect(seen.outcome, `expected ${row.expected}, saw ${seen.outcome} (${seen.reason})`).to.equal(row.expected);
      expect(seen.reason, `expected a one-line reason, saw ${JSON.stringify(seen.reason)}`).to.match(/^[^\n]+$/);
      // Which peer is A must not change the class.
      if (row.says) expect(seen.reason, 'the reason names the wrong side or the wrong cause').to.match(row.says);
      const swapped = predictOutcome(row.b, row.a, row.ice);
      expect(swapped.outcome, `expected ${row.expected} with A and B swapped, saw ${swapped.outcome} (${swapped.reason})`).to.equal(row.expected);
      // Which peer is A must not change what the reason says about each side either.
      expect(swapped.reason, 'with A and B swapped, the reason must say the same of the other side').to.equal(swapSides(seen.reason));
    });
  }

  it('explains a failure by the NAT behaviours and the missing TURN server', () => {
    const { reason } = predictOutcome(behind('symmetric'), behind(prc), all(STUN));
    expect(reason, `expected the mapping, the filtering and TURN named, saw "${reason}"`).to.match(
      /A's address-and-port-dependent mapping hides its port from B, and B's address-and-port-dependent filtering drops A's checks; no TURN server/,
    );
  });

  it('names the firewall when a TURN port is not allowed', () => {
    const { reason } = predictOutcome(behind('udp-blocked'), behind('open'), all(TURN_TCP));
    expect(reason, `expected the firewall and TURN/TCP:3478 named, saw "${reason}"`).to.match(/A's firewall lets it reach no TURN server \(TURN\/TCP:3478\)/);
  });
});

const host = { type: 'host', protocol: 'udp' } as const;
const srflx = { type: 'srflx', protocol: 'udp' } as const;
const prflx = { type: 'prflx', protocol: 'udp' } as const;
// getStats gives a relay candidate the protocol of its relayed address (UDP), the TURN transport apart.
const relay = (relayProtocol: 'udp' | 'tcp' | 'tls') => ({ type: 'relay', protocol: 'udp', relayProtocol }) as const;
const tcp = <T extends { type: 'host' | 'srflx' | 'prflx' }>(c: T) => ({ ...c, protocol: 'tcp' }) as const;
const CALLS: { title: string; views: [PairView, PairView]; expected: OutcomeClass }[] = [
  { title: 'host ↔ host', views: [{ local: host, remote: host }, { local: host, remote: host }], expected: 'host' },
  { title: 'srflx ↔ srflx', views: [{ local: srflx, remote: srflx }, { local: srflx, remote: srflx }], expected: 'srflx' },
  { title: 'public host ↔ srflx', views: [{ local: host, remote: srflx }, { local: srflx, remote: host }], expected: 'srflx' },
  { title: 'prflx seen by one peer, srflx by the other', views: [{ local: prflx, remote: srflx }, { local: srflx, remote: prflx }], expected: 'prflx' },
  { title: 'relay/UDP ↔ srflx', views: [{ local: relay('udp'), remote: srflx }, { local: srflx, remote: { type: 'relay' } }], expected: 'relay-udp' },
  { title: 'relay/TCP ↔ relay/UDP', views: [{ local: relay('tcp'), remote: { type: 'relay' } }, { local: relay('udp'), remote: { type: 'relay' } }], expected: 'relay-tcp' },
  { title: 'relay/TLS ↔ relay/TCP', views: [{ local: relay('tcp'), remote: { type: 'relay' } }, { local: relay('tls'), remote: { type: 'relay' } }], expected: 'relay-tls' },
  { title: 'relay/UDP ↔ prflx', views: [{ local: relay('udp'), remote: prflx }, { local: prflx, remote: { type: 'relay' } }], expected: 'relay-udp' },
  // ICE-TCP pairs are classes of their own: a TCP pair never reads as the UDP pair of the same types.
  { title: 'host/TCP ↔ host/TCP', views: [{ local: tcp(host), remote: host }, { local: tcp(host), remote: host }], expected: 'host-tcp' },
  { title: 'active host/TCP ↔ passive host/TCP that learns the active side as prflx', views: [{ local: tcp(host), remote: host }, { local: tcp(host), remote: prflx }], expected: 'prflx-tcp' },
  { title: 'srflx/TCP ↔ host/TCP', views: [{ local: tcp(srflx), remote: host }, { local: tcp(host), remote: srflx }], expected: 'srflx-tcp' },
  { title: 'relay/TCP ↔ host/TCP: the relay decides the class', views: [{ local: relay('tcp'), remote: host }, { local: tcp(host), remote: { type: 'relay' } }], expected: 'relay-tcp' },
];

describe('classifyCall', () => {
  for (const row of CALLS) {
    it(`${row.title} → ${row.expected}`, () => {
      const seen = classifyCall(...row.views);
      expect(seen, `expected ${row.expected}, saw ${seen}`).to.equal(row.expected);
    });
  }

  it('classifyPair takes the remote relay protocol when given, udp when not', () => {
    const given = classifyPair({ local: srflx, remote: { type: 'relay' }, remoteRelayProtocol: 'tcp' });
    expect(given, `expected relay-tcp, saw ${given}`).to.equal('relay-tcp');
    const unknown = classifyPair({ local: srflx, remote: { type: 'relay' } });
    expect(unknown, `expected relay-udp, saw ${unknown}`).to.equal('relay-udp');
  });
});

describe('tieContradiction', () => {
  const ice = all(TURN_TCP_443, TURN_TLS_443);
  const relays = (tcp: number, tls: number) => [
    { relayProtocol: 'tcp', priority: tcp },
    { relayProtocol: 'tls', priority: tls },
  ] as const;

  it('names the candidates a tie rests on: both of each Firefox side, only the lower-ranked side of a mixed call', () => {
    expect(predictOutcome(inFirefox(behind('udp-blocked')), inFirefox(behind('udp-blocked')), ice).ties).to.deep.equal([
      [{ side: 'A', protocol: 'tcp' }, { side: 'A', protocol: 'tls' }, { side: 'B', protocol: 'tcp' }, { side: 'B', protocol: 'tls' }],
    ]);
    // Chromium's TURN/TCP relay ranks above both of Firefox's, so only Firefox's pair decides.
    expect(predictOutcome(behind('udp-blocked'), inFirefox(behind('udp-blocked')), ice).ties).to.deep.equal([[{ side: 'B', protocol: 'tcp' }, { side: 'B', protocol: 'tls' }]]);
  });

  it('holds while the evidence shows one priority; names what differs or is missing', () => {
    const ff = predictOutcome(inFirefox(behind('udp-blocked')), inFirefox(behind('udp-blocked')), ice);
    expect(tieContradiction(ff, { A: relays(8331263, 8331263), B: relays(8331263, 8331263) }), 'Firefox 153 as measured').to.equal(null);
    expect(tieContradiction(ff, { A: relays(8331263, 8331263), B: relays(25108735, 8331263) })).to.equal(
      "the tie rests on one priority for A's TURN/TCP, A's TURN/TLS, B's TURN/TCP, B's TURN/TLS, but they have 8331263, 8331263, 25108735, 8331263",
    );
    expect(tieContradiction(ff, { A: relays(8331263, 8331263), B: [{ relayProtocol: 'tcp', priority: 8331263 }] })).to.equal("B's TURN/TLS relay candidate the tie rests on is not in the evidence");
    const chromium = predictOutcome(behind('udp-blocked'), behind('udp-blocked'), ice);
    expect(tieContradiction(chromium, { A: [], B: [] }), 'no tie: nothing to contradict').to.equal(null);
  });
});

describe('outcomeMatches', () => {
  it('is exact equality', () => {
    const p = (outcome: OutcomeClass, alsoAccept?: OutcomeClass[]) => ({ outcome, reason: '', ...(alsoAccept ? { alsoAccept } : {}) });
    expect(outcomeMatches(p('relay-udp'), 'relay-udp'), 'expected relay-udp to match itself').to.equal(true);
    expect(outcomeMatches(p('relay-udp'), 'relay-tcp'), 'expected relay-udp not to match relay-tcp').to.equal(false);
    expect(outcomeMatches(p('prflx'), 'srflx'), 'expected prflx not to match a more direct srflx').to.equal(false);
    expect(outcomeMatches(p('srflx', ['prflx']), 'prflx'), 'a trickle race may read a srflx path as prflx').to.equal(true);
    expect(outcomeMatches(p('srflx', ['prflx']), 'relay-udp'), 'but never as a relay').to.equal(false);
    expect(outcomeMatches(p('srflx', ['prflx']), 'prflx-tcp'), 'nor as a TCP pair').to.equal(false);
    expect(outcomeMatches(p('host', ['prflx']), 'host-tcp'), 'a host/TCP pair is not the host/UDP pair predicted').to.equal(false);
  });

  it('no prediction accepts prflx for a direct path (a trickle race is judged by its evidence, verdict.ts); relay predictions only the classes of equally ranked pairs', () => {
    // Accepting prflx for every direct prediction let a NAT that maps per destination pass as srflx.
    for (const t of ROWS) {
      for (const [a, b] of [[t.a, t.b], [t.b, t.a]]) {
        const pred = predictOutcome(a!, b!, t.ice);
        expect(pred.alsoAccept ?? [], t.title).to.deep.equal(t.tie ?? []);
        expect(pred.ties ?? [], `${t.title}: the candidates a tie rests on`).to.have.length(t.tie ? 1 : 0);
      }
    }
  });
});
