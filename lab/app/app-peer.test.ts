import { expect } from 'chai';
import { readdirSync } from 'node:fs';
import { startLab, type StartedLab } from '../lab.ts';
import { BrowserFleet } from '../browsers/fleet.ts';
import type { EngineName } from '../browsers/engines.ts';
import { AppSession } from './app-peer.ts';
import type { LabError } from '../topology/errors.ts';
import { testDir } from '../testing/temp-dir.ts';

const APP = new URL('./fixtures/tiny-app.mjs', import.meta.url).pathname;

describe('app pages behind lab NATs @integration', function () {
  this.timeout(240_000);
  let lab: StartedLab;
  let fleet: BrowserFleet;
  let origin: string;
  before(async function () {
    // TLS from the lab CA, checked by the browsers (no ignoreHTTPSErrors): a secure context as in production.
    lab = await startLab({ hosts: [{ name: 'alice', nat: 'port-restricted-cone' }, { name: 'bob', nat: 'symmetric' }], services: [{ name: 'web', command: `${process.execPath} ${APP} 8080`, port: 8080, tls: true }] });
    fleet = new BrowserFleet(lab);
    origin = 'https://web.lab.test';
  });
  after(async () => {
    await fleet?.close();
    await lab?.stop();
  });
  const url = (room: string, me: string, other: string, ice: string) => `${origin}/?room=${room}&me=${me}&other=${other}&ice=${ice}`;

  for (const [ea, eb] of [['chromium', 'firefox'], ['firefox', 'chromium']] as [EngineName, EngineName][]) {
    it(`${ea} behind a port-restricted cone ↔ ${eb} behind a symmetric NAT, the app's STUN + TURN/UDP: relay-udp predicted and judged from both recorded ends`, async () => {
      const dir = testDir('app');
      await using app = new AppSession(lab, { fleet, evidenceDir: dir });
      const ice = 'stun,turn-udp';
      const room = `r${ea}`;
      await app.openPeer(`${ea}@alice`, url(room, 'a', 'b', ice));
      await app.openPeer(`${eb}@bob`, url(room, 'b', 'a', ice));
      const all = await app.reports();
      expect(all.map((p) => p.peerConnections.length)).to.deep.equal([1, 1]);
      for (const [i, { peer, peerConnections: [pc] }] of all.entries()) {
        const msg = JSON.stringify(pc, null, 1);
        expect(pc!.remote, msg).to.deep.equal({ host: i === 0 ? 'bob' : 'alice' });
        expect(pc!.bothEnds, msg).to.equal(true);
        expect(pc!.iceServers.mapped.servers, msg).to.deep.equal([{ kind: 'stun', transport: 'udp', port: 3478 }, { kind: 'turn', transport: 'udp', port: 3478 }]);
        expect(pc!.expected?.outcome, msg).to.equal('relay-udp');
        expect(pc!.state, msg).to.equal('connected');
        expect(pc!.matches, `${peer.name}: ${pc!.verdict.reason}`).to.equal(true);
        expect(pc!.media.data, msg).to.deep.equal({ channels: 1, open: 1 });
        expect(await peer.page.evaluate(() => window.isSecureContext), 'a secure context').to.equal(true);
        expect(readdirSync(pc!.evidence), msg).to.include.members(['result.json', 'candidates.json', 'getstats.json', 'timeline.txt', 'turnserver.log', 'ice-checks.json', 'config.json']);
        expect(readdirSync(peer.evidence), msg).to.include.members(['console.log', 'page.json', 'service-web.log']);
      }
    });
  }

  it('the recorder keeps instanceof, static methods, subclasses and webkitRTCPeerConnection working', async () => {
    await using app = new AppSession(lab, { fleet, evidenceDir: testDir('app') });
    for (const engine of ['chromium', 'firefox'] as const) {
      const p = await app.openPeer(`${engine}@alice`, `${origin}/?room=probe-${engine}&me=a&other=nobody`);
      // A string: tsx would name the class with a helper the page does not have.
      const seen = await p.page.evaluate(`(() => {
        class Mine extends RTCPeerConnection {}
        const pc = new Mine();
        const w = window.webkitRTCPeerConnection;
        return { instance: pc instanceof RTCPeerConnection, mine: pc instanceof Mine, statics: typeof RTCPeerConnection.generateCertificate, webkit: w === undefined ? 'absent' : w === RTCPeerConnection ? 'same' : 'different', name: RTCPeerConnection.name };
      })()`);
      expect(seen, engine).to.deep.equal({ instance: true, mine: true, statics: 'function', webkit: engine === 'chromium' ? 'same' : 'absent', name: 'RTCPeerConnection' });
      expect((await p.recordings()).length, engine).to.equal(2); // the app's and the probe's
      // The probe was never described (as PeerJS's support check): only the app's offer is a call.
      await p.waitForPeerConnections({ timeoutMs: 5000 });
      expect((await p.calls()).map(({ rec }) => rec.id), engine).to.deep.equal([0]);
    }
  });

  it('a page that creates no peer connection fails naming the URL, and a URL outside the lab is refused', async () => {
    await using app = new AppSession(lab, { fleet, evidenceDir: testDir('app') });
    const p = await app.openPeer('chromium@alice', `${origin}/blank`);
    const e = await p.waitForPeerConnections({ timeoutMs: 600 }).catch((x: unknown) => x as LabError);
    expect(e).to.include({ code: 'ERR_NO_PEER_CONNECTION' });
    expect((e as LabError).message).to.include(`${origin}/blank`);
    const bad = await app.openPeer('chromium@alice', 'https://example.com/').catch((x: unknown) => x as LabError);
    expect(bad).to.include({ code: 'ERR_APP_URL_NOT_IN_LAB' });
    expect((bad as LabError).message).to.match(/example\.com.*To fix: use a service's name: web\.lab\.test/s);
  });
});
