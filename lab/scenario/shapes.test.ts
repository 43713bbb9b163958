import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { BrowserFleet } from '../browsers/fleet.ts';
import { findEngine } from '../browsers/engines.ts';
import { startLab, type StartedLab } from '../lab.ts';
import type { TopologyInput } from '../topology/topology.ts';
import { runCall, type CallResult, type CallSpec } from './call.ts';
import { tieContradiction, type OutcomeClass, type RelayCandidateStats, type RelayProtocol } from './oracle.ts';
import { testDir } from '../testing/temp-dir.ts';

/**
 * Topology shapes beyond one NAT per host (issue 10): what the lab builds and what the oracle
 * predicts must agree, shown by real calls. Each shape gets a lab and browsers of its own; its calls
 * run one after another (the machine has two cores).
 */
function shapeLab(topology: TopologyInput): { call: (spec: CallSpec, predicted: OutcomeClass) => Promise<CallResult> } {
  let lab: StartedLab | undefined;
  let fleet: BrowserFleet | undefined;
  let dir = '';
  before(async function () {
    // The project's tests need both browsers (scripts/setup installs them): a missing one fails here, with the fix.
    for (const e of ['chromium', 'firefox'] as const) {
      const f = findEngine(e);
      if (!f.available) throw new Error(`${f.reason}; to fix: ${f.fix}`);
    }
    dir = testDir('shapes');
    lab = await startLab(topology);
    fleet = new BrowserFleet(lab);
  });
  after(async () => {
    await fleet?.close();
    await lab?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  let n = 0;
  return {
    /** One call: the oracle must predict `predicted`, and the call must end as predicted. */
    async call(spec, predicted) {
      const r = await runCall(lab!, fleet!, spec, join(dir, `call-${(n += 1)}`));
      const seen = `${spec.a.engine}@${spec.a.host} ↔ ${spec.b.engine}@${spec.b.host}: observed ${r.observed} (${r.outcome})`;
      expect(r.expected.outcome, `the oracle's prediction for ${seen}: ${r.expected.reason}`).to.equal(predicted);
      expect(r.matches, `${seen}, predicted ${r.expected.outcome}: ${r.expected.reason}`).to.equal(true);
      return r;
    },
  };
}

describe('a host firewall behind a shared router @integration', function () {
  this.timeout(120_000);
  // alice's own firewall blocks UDP out of her LAN; carol shares the LAN; pat is public.
  const shape = shapeLab({
    routers: [{ name: 'home', nat: {} }],
    hosts: [
      { name: 'alice', behind: 'home', firewall: { udp: 'block' } },
      { name: 'carol', behind: 'home' },
      { name: 'pat', nat: 'open' },
    ],
  });

  it('blocks her UDP to the internet: a call to a public peer relays over TURN/TCP (chromium ↔ firefox, both ways)', async () => {
    await shape.call({ a: { engine: 'chromium', host: 'alice' }, b: { engine: 'firefox', host: 'pat' }, ice: ['stun', 'turn-udp', 'turn-tcp'] }, 'relay-tcp');
    await shape.call({ a: { engine: 'firefox', host: 'pat' }, b: { engine: 'chromium', host: 'alice' }, ice: ['stun', 'turn-udp', 'turn-tcp'] }, 'relay-tcp');
  });

  it('spares her LAN: a call to a neighbour connects host to host without any server', async () => {
    await shape.call({ a: { engine: 'chromium', host: 'alice' }, b: { engine: 'firefox', host: 'carol' }, ice: [] }, 'host');
  });
});

describe('a carrier-grade NAT that blocks UDP @integration', function () {
  this.timeout(120_000);
  // dave's home router lets UDP out; the carrier-grade NAT upstream of it does not.
  const shape = shapeLab({
    routers: [
      { name: 'cgn', nat: { hairpinning: false }, firewall: { udp: 'block' } },
      { name: 'home', nat: {}, upstream: 'cgn' },
    ],
    hosts: [
      { name: 'dave', behind: 'home' },
      { name: 'pat', nat: 'open' },
    ],
  });

  it('blocks UDP for the homes behind it: a call to a public peer relays over TURN/TCP (chromium ↔ firefox, both ways)', async () => {
    await shape.call({ a: { engine: 'chromium', host: 'dave' }, b: { engine: 'firefox', host: 'pat' }, ice: ['stun', 'turn-udp', 'turn-tcp'] }, 'relay-tcp');
    await shape.call({ a: { engine: 'firefox', host: 'pat' }, b: { engine: 'chromium', host: 'dave' }, ice: ['stun', 'turn-udp', 'turn-tcp'] }, 'relay-tcp');
  });
});

describe('homes behind one carrier-grade NAT @integration', function () {
  this.timeout(180_000);
  // Two CGNs, one hairpinning, each with two homes behind it; nc sits on the second CGN's own LAN.
  const shape = shapeLab({
    routers: [
      { name: 'cgnh', nat: { hairpinning: true } },
      { name: 'h1', nat: {}, upstream: 'cgnh' },
      { name: 'h2', nat: {}, upstream: 'cgnh' },
      { name: 'cgnn', nat: { hairpinning: false } },
      { name: 'n1', nat: {}, upstream: 'cgnn' },
      { name: 'n2', nat: {}, upstream: 'cgnn' },
    ],
    hosts: [
      { name: 'ha', behind: 'h1' },
      { name: 'hb', behind: 'h2' },
      { name: 'na', behind: 'n1' },
      { name: 'nb', behind: 'n2' },
      { name: 'nc', behind: 'cgnn' },
    ],
  });

  it('with hairpinning: the homes connect between their server-reflexive addresses, which are both the CGN\'s (chromium ↔ firefox, both ways)', async () => {
    await shape.call({ a: { engine: 'chromium', host: 'ha' }, b: { engine: 'firefox', host: 'hb' }, ice: ['stun'] }, 'srflx');
    await shape.call({ a: { engine: 'firefox', host: 'hb' }, b: { engine: 'chromium', host: 'ha' }, ice: ['stun'] }, 'srflx');
  });

  it('without hairpinning: no check between the homes arrives, so they relay (chromium ↔ firefox, both ways)', async () => {
    await shape.call({ a: { engine: 'chromium', host: 'na' }, b: { engine: 'firefox', host: 'nb' }, ice: ['stun', 'turn-udp'] }, 'relay-udp');
    await shape.call({ a: { engine: 'firefox', host: 'nb' }, b: { engine: 'chromium', host: 'na' }, ice: ['stun', 'turn-udp'] }, 'relay-udp');
  });

  it('a host on the CGN\'s LAN is reached by its host address from a home behind the CGN, which it learns as peer-reflexive (no servers; chromium ↔ firefox, both ways)', async () => {
    await shape.call({ a: { engine: 'chromium', host: 'nc' }, b: { engine: 'firefox', host: 'nb' }, ice: [] }, 'prflx');
    await shape.call({ a: { engine: 'firefox', host: 'nb' }, b: { engine: 'chromium', host: 'nc' }, ice: [] }, 'prflx');
  });
});

/** The TCP candidates a peer of the call gathered, as its evidence lists them. */
function tcpCandidates(r: CallResult, peer: 'a' | 'b'): string[] {
  const file = JSON.parse(readFileSync(join(r.evidence, `candidates-${peer}.json`), 'utf8')) as { candidates: { candidate: string; protocol: string }[] };
  return file.candidates.filter((c) => c.protocol === 'tcp').map((c) => c.candidate);
}

describe('ICE-TCP where UDP is blocked and TCP is not @integration', function () {
  this.timeout(120_000);
  // Both public; pat's firewall blocks UDP and lets TCP to any port out: a passive TCP host
  // candidate of quinn's would make a host/TCP pair that outranks any relay.
  const shape = shapeLab({ hosts: [{ name: 'pat', nat: 'open', firewall: { udp: 'block' } }, { name: 'quinn', nat: 'open' }] });

  it('no direct TCP pair forms: both engines offer active TCP candidates only, so the call relays over TURN/TCP (chromium ↔ firefox, both ways)', async () => {
    // Chromium stops gathering once a connection is writable: at the public end (quinn) that can
    // come before its TCP phase, so each engine must have gathered TCP candidates in one of the calls.
    const gathered = { chromium: 0, firefox: 0 };
    for (const [ea, eb] of [['chromium', 'firefox'], ['firefox', 'chromium']] as const) {
      const r = await shape.call({ a: { engine: ea, host: 'pat' }, b: { engine: eb, host: 'quinn' }, ice: ['turn-tcp'] }, 'relay-tcp');
      for (const peer of ['a', 'b'] as const) {
        const tcp = tcpCandidates(r, peer);
        gathered[r.peers[peer].engine as 'chromium' | 'firefox'] += tcp.length;
        expect(tcp.filter((c) => !/ typ host tcptype active\b/.test(c)), `${r.peers[peer].engine}'s TCP candidates other than active host ones`).to.deep.equal([]);
      }
    }
    expect(gathered.chromium, 'chromium gathered TCP host candidates in one of the calls').to.be.above(0);
    expect(gathered.firefox, 'firefox gathered TCP host candidates in one of the calls').to.be.above(0);
  });
});

/** A peer's local relay candidates from its getStats evidence. */
function relayCandidates(r: CallResult, peer: 'a' | 'b'): RelayCandidateStats[] {
  const stats = JSON.parse(readFileSync(join(r.evidence, `getstats-${peer}.json`), 'utf8')) as { type: string; candidateType?: string; relayProtocol?: RelayProtocol; priority?: number }[];
  return stats.flatMap((s) => (s.type === 'local-candidate' && s.candidateType === 'relay' && s.relayProtocol && s.priority !== undefined ? [{ relayProtocol: s.relayProtocol, priority: s.priority }] : []));
}
const priorityOf = (relays: readonly RelayCandidateStats[], protocol: RelayProtocol) => relays.find((c) => c.relayProtocol === protocol)?.priority;

describe('TURN/TCP and TURN/TLS relays side by side @integration', function () {
  this.timeout(180_000);
  const shape = shapeLab({ hosts: [{ name: 'u1', nat: 'udp-blocked' }, { name: 'u2', nat: 'udp-blocked' }] });

  it('a Firefox side ranks them alike: relay-tcp or relay-tls, accepted only while its candidates show one priority (firefox ↔ firefox, chromium ↔ firefox, firefox ↔ chromium)', async () => {
    for (const [ea, eb] of [['firefox', 'firefox'], ['chromium', 'firefox'], ['firefox', 'chromium']] as const) {
      const r = await shape.call({ a: { engine: ea, host: 'u1' }, b: { engine: eb, host: 'u2' }, ice: ['turn-tcp', 'turns-tcp'] }, 'relay-tcp');
      expect(r.expected.alsoAccept, r.expected.reason).to.deep.equal(['relay-tls']);
      const relays = { A: relayCandidates(r, 'a'), B: relayCandidates(r, 'b') };
      expect(tieContradiction(r.expected, relays), `${ea} ↔ ${eb}: the evidence behind the tie (${JSON.stringify(relays)})`).to.equal(null);
      for (const [side, engine] of [['A', ea], ['B', eb]] as const) {
        const [tcp, tls] = [priorityOf(relays[side], 'tcp'), priorityOf(relays[side], 'tls')];
        if (engine === 'chromium') expect(tcp, `chromium ranks its TURN/TCP relay above its TURN/TLS one (TLS ${tls})`).to.be.above(tls!);
        else expect(tcp, 'firefox gives its TURN/TCP and TURN/TLS relays one priority').to.equal(tls);
      }
    }
  });
});
