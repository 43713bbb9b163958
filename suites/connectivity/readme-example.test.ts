// The README's scenario examples (lab/readme.test.ts keeps them the same), run by the suite.
import { expect } from 'chai';
import { runCall } from '../../lab/scenario/call.ts';
import { Call } from '../../lab/scenario/call.ts'; // the README's second example brings its own import
import { evidenceRoot, suiteEnv } from '../support/fixture.ts';

describe('my app behind a symmetric NAT', () => {
  it('reaches a full-cone peer through TURN/TCP, with audio', async function () {
    const { lab, fleet } = await suiteEnv();
    const r = await runCall(lab, fleet, {
      a: { engine: 'firefox', host: 'symmetric' },
      b: { engine: 'chromium', host: 'full-cone' },
      ice: ['turn-tcp'], policy: 'relay', media: ['data', 'audio'],
    }, `${evidenceRoot()}/my-scenario`);
    expect(r.observed).to.equal('relay-tcp');            // the settled pair's class
    expect(r.peers.b.media.audio?.flowing).to.equal(true); // inbound-rtp packets rising
  });

  it('recovers from a NAT rebinding with an ICE restart', async function () {
    const { lab, fleet } = await suiteEnv();
    await using call = await Call.open(lab, fleet, {
      a: { engine: 'chromium', host: 'symmetric' }, b: { engine: 'firefox', host: 'full-cone' }, ice: ['stun'],
    }, `${evidenceRoot()}/rebinding`);
    expect(await call.negotiate()).to.equal(true);      // offer/answer, until both peers are connected
    await call.flushMappings('symmetric-nat');          // the NAT forgets every mapping
    expect(await call.iceRestart()).to.equal(true);      // negotiate({ iceRestart: true })
    expect((await call.result()).outcome).to.equal('connected');
  });
});
