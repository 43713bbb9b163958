import { expect } from 'chai';
import { startLab, type StartedLab } from '../lab.ts';
import { DENIED_PEERS, type CoturnOptions } from './coturn.ts';
import { LAB_DENIES, labTarget } from './target.ts';
// The TURN suite's own security check, run here against servers weakened on purpose: the suite
// must report exactly the weaknesses put in, nothing more (a test of the suite, so it imports it).
import { PEER_PROBES, checkPeers } from '../../suites/turn/turn-client.ts';

const ALL = PEER_PROBES.map((p) => p.address);
const without = (...ranges: string[]) => DENIED_PEERS.filter((r) => !ranges.includes(r));

const CASES: { title: string; coturn: CoturnOptions; findings: string[] }[] = [
  {
    title: 'allow-loopback-peers and no denied-peer-ip: loopback and every range the lab policy denies',
    coturn: { allowLoopbackPeers: true, deniedPeers: [] },
    // coturn 4.6.1 refuses 0.0.0.0/8 peers by itself (403 without any denied-peer-ip, measured): not a weakness put in.
    findings: ALL.filter((a) => a !== '0.1.2.3'),
  },
  {
    title: 'private 10/8 and CGNAT no longer denied: exactly those two',
    coturn: { deniedPeers: without('10.0.0.0-10.255.255.255', '100.64.0.0-100.127.255.255') },
    findings: ['10.1.2.3', '100.64.1.2'],
  },
];

describe('TURN suite against a deliberately weak coturn @integration', function () {
  this.timeout(120_000);
  for (const c of CASES) {
    describe(c.title, function () {
      let lab: StartedLab | undefined;
      before(async () => {
        lab = await startLab({ hosts: [{ name: 'open', nat: 'open' }] }, { coturn: c.coturn });
      });
      after(async () => {
        await lab?.stop();
      });

      it('reports exactly the weaknesses put in as findings; the control peer stays allowed', async () => {
        // Checked against the policy the lab's servers should have, not against this server's config.
        const r = await checkPeers(labTarget(lab!, { denies: LAB_DENIES }));
        const findings = r.checks.filter((x) => x.finding).map((x) => x.address);
        expect(findings, `findings (client transcript:\n${r.transcript})`).to.deep.equal(c.findings);
        expect(r.checks.filter((x) => !x.finding).map((x) => `${x.address} ${x.verdict}`), 'every other probe refused').to.deep.equal(
          ALL.filter((a) => !c.findings.includes(a)).map((a) => `${a} refused`),
        );
        expect(r.control, 'the server\'s own relayed address is allowed as a peer').to.equal(0);
      });
    });
  }
});
