// The video-call example (examples/video-call): our own page and WebSocket signaling server, as a
// lab service behind TLS, called between browsers behind the lab's NATs. Each call must settle as
// the oracle predicts from both ends' NATs and the ICE servers the app handed out.
import { expect } from 'chai';
import type { EngineName, OutcomeClass } from '../../lab/index.ts';
import { unavailable } from '../../suites/support/fixture.ts';
import { ExampleLab, missingEvidence, story } from '../support.ts';

/** Host pairs of topology.yaml and the class the oracle predicts for them with the app's STUN + TURN/UDP + TURN/TCP. */
const NAT_PAIRS: { a: string; b: string; nats: string; cls: OutcomeClass }[] = [
  { a: 'alice', b: 'bob', nats: 'port-restricted cone ↔ port-restricted cone', cls: 'srflx' },
  { a: 'carol', b: 'erin', nats: 'symmetric ↔ full cone', cls: 'prflx' },
  { a: 'carol', b: 'alice', nats: 'symmetric ↔ port-restricted cone', cls: 'relay-udp' },
  { a: 'dave', b: 'erin', nats: 'UDP blocked ↔ full cone', cls: 'relay-tcp' },
];
const ENGINE_PAIRS: [EngineName, EngineName][] = [['chromium', 'firefox'], ['firefox', 'chromium'], ['chromium', 'chromium'], ['firefox', 'firefox']];

describe('examples/video-call: our P2P video call behind the lab\'s NATs @integration', function () {
  this.timeout(300_000);
  let ex: ExampleLab;
  before(async () => {
    ex = await ExampleLab.start('video-call');
  });
  after(async () => {
    if (!ex) return;
    console.log(`      timings: ${ex.summary()}`);
    await ex[Symbol.asyncDispose]();
  });

  for (const { a, b, nats, cls } of NAT_PAIRS) {
    for (const [ea, eb] of ENGINE_PAIRS) {
      const title = `${ea}@${a} ↔ ${eb}@${b} (${nats}): both join the room and settle ${cls}, as predicted, with audio and video`;
      it(title, async function () {
        const room = `${ea}-${a}-${eb}-${b}`;
        const url = `https://call.lab.test/?room=${room}`;
        await ex.launch(`${ea}@${a}`, `${eb}@${b}`).catch((e: unknown) => unavailable(this, e));
        await using app = ex.session(title);
        const peers = await Promise.all([app.openPeer(`${ea}@${a}`, url), app.openPeer(`${eb}@${b}`, url)]).catch((e: unknown) => unavailable(this, e));
        // Drive the page as a person would: the room is already filled in from the URL.
        for (const p of peers) await p.page.click('#join');
        const all = await app.reports();
        ex.timings.push({ call: `${ea}@${a} ↔ ${eb}@${b}`, openToConnectedMs: all.flatMap((p) => p.peerConnections.map((pc) => pc.timings.connectedMs)) });
        for (const { peer, peerConnections } of all) {
          const msg = `${peer.name}:\n${story(peerConnections)}`;
          expect(peerConnections, msg).to.have.length(1);
          const [pc] = peerConnections;
          expect(pc!.remote, msg).to.deep.equal({ host: peer === peers[0] ? b : a });
          expect(pc!.bothEnds, msg).to.equal(true);
          expect(pc!.expected?.outcome, msg).to.equal(cls);
          expect(pc!.matches, msg).to.equal(true);
          expect(pc!.media.audio?.flowing, msg).to.equal(true);
          expect(pc!.media.video?.flowing, msg).to.equal(true);
          expect(await peer.page.locator('#status').textContent(), msg).to.equal('connected');
        }
        await app.close();
        for (const { peer, peerConnections } of all) expect(missingEvidence(peer, peerConnections, ['call']), peer.name).to.deep.equal([]);
      });
    }
  }
});
