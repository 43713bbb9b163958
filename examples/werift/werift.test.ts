// The werift example (examples/werift): a server-side WebRTC peer on a cloud host behind a static
// 1:1 NAT. Announcing only the private address it sees, it can be reached through TURN alone;
// told its public address, browsers reach it directly. Both are predicted, as two different classes.
import { expect } from 'chai';
import type { EngineName, OutcomeClass } from '../../lab/index.ts';
import { unavailable } from '../../suites/support/fixture.ts';
import { ExampleLab, missingEvidence, story } from '../support.ts';

const BOTS: { service: string; deployed: string; cls: OutcomeClass }[] = [
  { service: 'bot-private', deployed: 'announcing only its private address: only TURN reaches it', cls: 'relay-udp' },
  { service: 'bot-public', deployed: 'told its public address (ANNOUNCED_ADDRESS): reached directly', cls: 'srflx' },
];
const ENGINES: EngineName[] = ['chromium', 'firefox'];

describe('examples/werift: a werift peer behind a one-to-one NAT, before and after the fix @integration', function () {
  this.timeout(240_000);
  let ex: ExampleLab;
  before(async () => {
    ex = await ExampleLab.start('werift');
  });
  after(async () => {
    if (!ex) return;
    console.log(`      timings: ${ex.summary()}`);
    await ex[Symbol.asyncDispose]();
  });

  for (const engine of ENGINES) {
    for (const { service, deployed, cls } of BOTS) {
      const title = `${engine}@laptop → ${service} (${deployed}): ${cls}, as predicted`;
      it(title, async function () {
        await ex.launch(`${engine}@laptop`).catch((e: unknown) => unavailable(this, e));
        await using app = ex.session(title);
        const peer = await app.openPeer(`${engine}@laptop`, `https://${service}.lab.test/`).catch((e: unknown) => unavailable(this, e));
        await peer.page.click('#call');
        const [{ peerConnections }] = await app.reports();
        ex.timings.push({ call: `${engine}@laptop → ${service}`, openToConnectedMs: peerConnections.map((pc) => pc.timings.connectedMs) });
        const msg = `${peer.name}:\n${story(peerConnections)}`;
        expect(peerConnections, msg).to.have.length(1);
        const [pc] = peerConnections;
        expect(pc!.remote, msg).to.deep.equal({ service });
        expect(pc!.expected?.outcome, msg).to.equal(cls);
        expect(pc!.matches, msg).to.equal(true);
        // The bot sends the browser's own video back.
        expect(pc!.media.video?.flowing, msg).to.equal(true);
        expect(pc!.class, msg).to.equal(cls);
        await app.close();
        expect(missingEvidence(peer, peerConnections, ['bot-private', 'bot-public']), peer.name).to.deep.equal([]);
      });
    }
  }
});
