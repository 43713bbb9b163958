import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { planTopology } from '../topology/topology.ts';
import { peerSide } from '../scenario/call.ts';
import { predictOutcome, type IceConfig } from '../scenario/oracle.ts';
import { parseCandidate, type CandidateLine, type PairStats } from '../scenario/verdict.ts';
import type { RecordedPeerConnection } from './recording.ts';
import { announcementsOf, iceServerOf, judgeOneEnd, mapIceServers, predictFromAnnouncements, publicAddressesOf, remoteEndOf, type FarAnnouncements } from './judge.ts';

const t = planTopology({
  hosts: [{ name: 'alice', nat: 'port-restricted-cone' }, { name: 'bob', nat: 'symmetric' }],
  services: [{ name: 'media', command: 'true', port: 8000, nat: 'one-to-one' }],
});
const TURN = ['198.18.0.10', '198.18.0.11', 'turn.lab.test'];

describe('app peer connections: the app\'s ICE servers and the far end', () => {
  it('maps the app\'s iceServers URLs to the lab\'s STUN/TURN servers, and names the ones that are no lab server', () => {
    expect(iceServerOf('stun:198.18.0.10:3478', TURN)).to.deep.equal({ kind: 'stun', transport: 'udp', port: 3478 });
    expect(iceServerOf('turn:turn.lab.test?transport=tcp', TURN)).to.deep.equal({ kind: 'turn', transport: 'tcp', port: 3478 });
    expect(iceServerOf('turns:turn.lab.test:443?transport=tcp', TURN)).to.deep.equal({ kind: 'turn', transport: 'tls', port: 443 });
    expect(iceServerOf('turn:198.18.0.10:3478', TURN)).to.deep.equal({ kind: 'turn', transport: 'udp', port: 3478 });
    const m = mapIceServers({ iceServers: [{ urls: ['stun:stun.l.google.com:19302', 'stun:198.18.0.10:3478'], username: null, hasCredential: false }], iceTransportPolicy: 'relay', bundlePolicy: null }, t);
    expect(m).to.deep.equal({ ice: { servers: [{ kind: 'stun', transport: 'udp', port: 3478 }], policy: 'relay' }, ignored: ['stun:stun.l.google.com:19302'] });
  });

  it('finds the far end by a host address first, then by the one host behind a router\'s public address; a service by its name; TURN addresses say nothing', () => {
    const bob = t.hosts.find((h) => h.name === 'bob')!;
    const bobNat = t.routers.find((r) => r.name === 'bob-nat')!;
    const media = t.services[0]!;
    const services = new Map([['media', 'media']]);
    expect(remoteEndOf(t, ['198.18.0.10', bob.ip], services)).to.deep.equal({ host: 'bob' });
    expect(remoteEndOf(t, ['198.18.0.10', bobNat.wanIp], services)).to.deep.equal({ host: 'bob' });
    expect(remoteEndOf(t, [media.publicIp], services)).to.deep.equal({ service: 'media' });
    expect(remoteEndOf(t, ['198.18.0.10'], services)).to.equal(null);
  });

  it('judges one recorded end: a host candidate announcing a NAT\'s public address reads srflx, as the oracle predicts for a one-to-one server', () => {
    const here = peerSide(t, t.hosts.find((h) => h.name === 'alice')!, 'chromium');
    const there = peerSide(t, t.hosts.find((h) => h.name === 'media')!, 'chromium');
    const ice = { servers: [{ kind: 'stun' as const, transport: 'udp' as const, port: 3478 }], policy: 'all' as const };
    const expected = predictOutcome(here, there, ice);
    expect(expected.outcome).to.equal('srflx');
    const media = t.services[0]!;
    const pair = (remoteAddress: string, remoteType: 'host' | 'prflx' = 'host'): PairStats => ({ id: 'p', state: 'succeeded', nominated: true, requestsSent: 3, responsesReceived: 3, requestsReceived: 3, local: { type: 'host', protocol: 'udp', relayProtocol: null, address: '10.1.0.10', port: 5000 }, remote: { type: remoteType, protocol: 'udp', relayProtocol: null, address: remoteAddress, port: 6000 } });
    const judge = (p: PairStats) =>
      judgeOneEnd({ expected, connected: true, settled: true, ice, here: { side: here, checks: { gathered: [], received: [], nominations: [], final: { t: 0, selectedId: 'p', pairs: [p] } } }, there: { side: there, checks: null }, publicNatAddresses: t.routers.filter((r) => r.upstream === null).map((r) => r.wanIp) });
    expect(judge(pair(media.publicIp))).to.include({ status: 'pass', settledClass: 'srflx' });
    // The server announcing only its private address (the classic 1:1 NAT failure): its checks arrive from its public
    // address, which nobody signalled, so this end learns it as peer-reflexive: not the srflx path predicted.
    expect(judge(pair(media.publicIp, 'prflx'))).to.include({ status: 'unexpected', settledClass: 'prflx' });
  });
});

// examples/werift/topology.yaml, whose plan gave the recorded candidates' addresses.
const werift = planTopology({
  hosts: [{ name: 'laptop', nat: 'port-restricted-cone' }],
  services: ['bot-private', 'bot-public'].map((name) => ({ name, command: 'true', port: 8080, nat: 'one-to-one' as const })),
});
/** What a browser received from a werift bot (chromium@laptop, evidence candidates.json `remote`). */
const received = (bot: string): CandidateLine[] =>
  (JSON.parse(readFileSync(new URL(`./fixtures/werift-${bot}.remote-candidates.json`, import.meta.url), 'utf8')) as RecordedPeerConnection['remoteCandidates'])
    .map((c) => parseCandidate(c.candidate))
    .filter((c): c is CandidateLine => c !== null);

describe('app peer connections: a service far end predicted from what it announced', () => {
  const side = (t: ReturnType<typeof planTopology>, host: string) => peerSide(t, t.hosts.find((h) => h.name === host)!, 'chromium');
  const labIce: IceConfig = { servers: [{ kind: 'stun', transport: 'udp', port: 3478 }, { kind: 'turn', transport: 'udp', port: 3478 }], policy: 'all' };
  const predict = (bot: string, here = side(werift, 'laptop'), ice = labIce) => predictFromAnnouncements(here, side(werift, bot), ice, announcementsOf(received(bot), publicAddressesOf(werift)));

  it('reads the recorded candidates: a 1:1 public host address, no srflx, one relay each', () => {
    expect(announcementsOf(received('bot-private'), publicAddressesOf(werift))).to.deep.equal({ publicHost: false, srflx: false, relays: 1 });
    expect(announcementsOf(received('bot-public'), publicAddressesOf(werift))).to.deep.equal({ publicHost: true, srflx: false, relays: 1 });
  });

  it('a bot announcing only its private address behind a port-restricted browser: its own relay, not the srflx a browser there would reach', () => {
    expect(predictOutcome(side(werift, 'laptop'), side(werift, 'bot-private'), labIce).outcome, 'as if it gathered like a browser').to.equal('srflx');
    expect(predict('bot-private')).to.include({ outcome: 'relay-udp' });
    expect(predict('bot-public')).to.include({ outcome: 'srflx' });
  });

  it('a private-only far end is reached directly when its checks get through: the near end public or filtering endpoint-independently (prflx)', () => {
    const open = planTopology({ hosts: [{ name: 'server', nat: 'open' }, { name: 'cone', nat: 'full-cone' }], services: [{ name: 'bot-private', command: 'true', port: 8080, nat: 'one-to-one' }] });
    const said = announcementsOf(received('bot-private'), publicAddressesOf(werift));
    for (const host of ['server', 'cone']) expect(predictFromAnnouncements(side(open, host), side(open, 'bot-private'), labIce, said), host).to.include({ outcome: 'prflx' });
  });

  it('without a relay of its own a private-only far end fails; with the relay policy the near end relays to its relay', () => {
    const said: FarAnnouncements = { publicHost: false, srflx: false, relays: 0 };
    expect(predictFromAnnouncements(side(werift, 'laptop'), side(werift, 'bot-private'), labIce, said)).to.include({ outcome: 'fail' });
    const relayOnly: IceConfig = { ...labIce, policy: 'relay' };
    expect(predict('bot-private', side(werift, 'laptop'), relayOnly)).to.include({ outcome: 'relay-udp' });
    expect(predict('bot-public', side(werift, 'laptop'), relayOnly)).to.include({ outcome: 'relay-udp' });
  });
});
