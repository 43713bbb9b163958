import { expect } from 'chai';
import type { z } from 'zod';
import {
  FirewallSchema,
  PRESETS,
  effectiveNat,
  normaliseNat,
  type NatInput,
  type PresetName,
} from '../topology/nat.ts';
import {
  classifyCall,
  classifyPair,
  outcomeMatches,
  predictOutcome,
  type IceConfig,
  type IceServerSpec,
  type OutcomeClass,
  type PairView,
  type PeerSide,
} from './oracle.ts';

/** A peer behind a preset, built the way the topology planner builds it. */
function behind(preset: PresetName, extra: Partial<PeerSide> = {}): PeerSide {
  const p: { chain: readonly NatInput[]; firewall?: z.input<typeof FirewallSchema> } = PRESETS[preset];
  const side: PeerSide = { nat: effectiveNat(p.chain.map(normaliseNat)), ...extra };
  return p.firewall && !extra.firewall ? { ...side, firewall: FirewallSchema.parse(p.firewall) } : side;
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
}

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
    a: { nat: normaliseNat({ mappingLifetime: 30, hairpinning: false, unsolicited: 'reject' }) },
    b: behind(prc),
    ice: all(STUN),
    expected: 'srflx',
  },
  // Host pairs.
  { title: 'open ↔ open, no ICE servers', a: behind('open'), b: behind('open'), ice: all(), expected: 'host' },
  { title: 'same LAN behind port-restricted-cone, no ICE servers', a: behind(prc, { lan: 'home' }), b: behind(prc, { lan: 'home' }), ice: all(), expected: 'host' },
  { title: 'same LAN behind udp-blocked (LAN traffic skips the firewall)', a: behind('udp-blocked', { lan: 'office' }), b: behind('udp-blocked', { lan: 'office' }), ice: all(), expected: 'host' },
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
  { title: 'udp-blocked ↔ udp-blocked, TURN/TCP and TURN/TLS on 443', a: behind('udp-blocked'), b: behind('udp-blocked'), ice: all(TURN_TLS_443, TURN_TCP_443), expected: 'relay-tcp' },
  { title: 'udp-blocked ↔ open, TURN/TLS on 443', a: behind('udp-blocked'), b: behind('open'), ice: all(TURN_TLS_443), expected: 'relay-tls' },
  { title: 'udp-blocked ↔ open, TURN/TCP on 3478 + TURN/TLS on 443', a: behind('udp-blocked'), b: behind('open'), ice: all(TURN_TCP, TURN_TLS_443), expected: 'relay-tls' },
  { title: 'udp-blocked ↔ symmetric, TURN/UDP + TURN/TLS on 443', a: behind('udp-blocked'), b: behind('symmetric'), ice: all(TURN_UDP, TURN_TLS_443), expected: 'relay-tls' },
  { title: 'udp-blocked ↔ open, only TURN/UDP', a: behind('udp-blocked'), b: behind('open'), ice: all(STUN, TURN_UDP), expected: 'fail' },
  { title: 'udp-blocked ↔ open, TURN/TCP on 3478 (outside tcpPorts 80, 443)', a: behind('udp-blocked'), b: behind('open'), ice: all(TURN_TCP), expected: 'fail' },
  { title: 'open with UDP blocked ↔ open, TURN/TCP on 3478 (all TCP allowed)', a: behind('open', { firewall: { udp: 'block' } }), b: behind('open'), ice: all(TURN_TCP), expected: 'relay-tcp' },
  // TURN permissions are per public IP: a side that cannot allocate needs a srflx address.
  {
    title: 'port-restricted-cone with TCP only to 80 ↔ udp-blocked, TURN/TCP on 443 (no srflx for a permission)',
    a: behind(prc, { firewall: { udp: 'allow', tcpPorts: [80] } }),
    b: behind('udp-blocked'),
    ice: all(TURN_TCP_443),
    expected: 'fail',
  },
  {
    title: 'port-restricted-cone with TCP only to 80 ↔ udp-blocked, STUN + TURN/TCP on 443',
    a: behind(prc, { firewall: { udp: 'allow', tcpPorts: [80] } }),
    b: behind('udp-blocked'),
    ice: all(STUN, TURN_TCP_443),
    expected: 'relay-tcp',
  },
  // Relay policy: both must allocate.
  { title: 'port-restricted-cone ↔ port-restricted-cone, relay policy, STUN + TURN/UDP', a: behind(prc), b: behind(prc), ice: relayOnly(STUN, TURN_UDP), expected: 'relay-udp' },
  { title: 'same LAN, relay policy, TURN/UDP', a: behind(prc, { lan: 'home' }), b: behind(prc, { lan: 'home' }), ice: relayOnly(TURN_UDP), expected: 'relay-udp' },
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

const host = { type: 'host' } as const;
const srflx = { type: 'srflx' } as const;
const prflx = { type: 'prflx' } as const;
const relay = (relayProtocol: 'udp' | 'tcp' | 'tls') => ({ type: 'relay', relayProtocol }) as const;
const CALLS: { title: string; views: [PairView, PairView]; expected: OutcomeClass }[] = [
  { title: 'host ↔ host', views: [{ local: host, remote: host }, { local: host, remote: host }], expected: 'host' },
  { title: 'srflx ↔ srflx', views: [{ local: srflx, remote: srflx }, { local: srflx, remote: srflx }], expected: 'srflx' },
  { title: 'public host ↔ srflx', views: [{ local: host, remote: srflx }, { local: srflx, remote: host }], expected: 'srflx' },
  { title: 'prflx seen by one peer, srflx by the other', views: [{ local: prflx, remote: srflx }, { local: srflx, remote: prflx }], expected: 'prflx' },
  { title: 'relay/UDP ↔ srflx', views: [{ local: relay('udp'), remote: srflx }, { local: srflx, remote: { type: 'relay' } }], expected: 'relay-udp' },
  { title: 'relay/TCP ↔ relay/UDP', views: [{ local: relay('tcp'), remote: { type: 'relay' } }, { local: relay('udp'), remote: { type: 'relay' } }], expected: 'relay-tcp' },
  { title: 'relay/TLS ↔ relay/TCP', views: [{ local: relay('tcp'), remote: { type: 'relay' } }, { local: relay('tls'), remote: { type: 'relay' } }], expected: 'relay-tls' },
  { title: 'relay/UDP ↔ prflx', views: [{ local: relay('udp'), remote: prflx }, { local: prflx, remote: { type: 'relay' } }], expected: 'relay-udp' },
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

describe('outcomeMatches', () => {
  it('is exact equality', () => {
    const p = (outcome: OutcomeClass, alsoAccept?: OutcomeClass[]) => ({ outcome, reason: '', ...(alsoAccept ? { alsoAccept } : {}) });
    expect(outcomeMatches(p('relay-udp'), 'relay-udp'), 'expected relay-udp to match itself').to.equal(true);
    expect(outcomeMatches(p('relay-udp'), 'relay-tcp'), 'expected relay-udp not to match relay-tcp').to.equal(false);
    expect(outcomeMatches(p('prflx'), 'srflx'), 'expected prflx not to match a more direct srflx').to.equal(false);
    expect(outcomeMatches(p('srflx', ['prflx']), 'prflx'), 'a trickle race may read a srflx path as prflx').to.equal(true);
    expect(outcomeMatches(p('srflx', ['prflx']), 'relay-udp'), 'but never as a relay').to.equal(false);
  });

  it('no prediction accepts another class: a trickle race\'s prflx is judged by its evidence (verdict.ts), not accepted blindly', () => {
    // Accepting prflx for every direct prediction let a NAT that maps per destination pass as srflx.
    for (const t of ROWS) expect(predictOutcome(t.a, t.b, t.ice).alsoAccept ?? [], t.title).to.deep.equal([]);
  });
});
