import * as allure from 'allure-js-commons';
import { expect } from 'chai';
import { gate } from '../support/fixture.ts';
import { checkPeers, peerProbes, type PeerCheck } from './turn-client.ts';
import { attachText, turnTarget, turnTest } from './support.ts';

/**
 * Relay peers the server claims to deny must be refused (403) at CreatePermission. A peer that is
 * allowed where it should be denied is a security finding and fails its test. Probe addresses
 * come from the target's claims, known before the lab exists: the tests are declared from them.
 */
describe('TURN relay peers the server claims to deny (security)', function () {
  let run: Promise<Awaited<ReturnType<typeof checkPeers>>> | null = null;
  const checks = () => (run ??= turnTarget().then((t) => checkPeers(t)));

  it('allows its own relayed address as a peer (control: the server does not refuse everything)', async function () {
    await turnTest('relay peers');
    const r = await checks();
    await attachText('turn-probe transcript', r.transcript);
    await gate('turn/peer/control', [], r.control === 0 ? 'allowed' : `error ${r.control}`, 'allowed');
  });

  // Declared from the fixed probe list; claims beyond it (external targets) are checked in the last test.
  for (const p of peerProbes([])) {
    it(`refuses ${p.name} (${p.address}) where it claims to deny it`, async function () {
      await turnTest('relay peers');
      const r = await checks();
      const c = r.checks.find((x) => x.address === p.address)!;
      await report(c);
      await attachText('turn-probe transcript', r.transcript);
      if (!c.claimed) {
        // Not claimed: what the server does is recorded; nothing was checked, so it is not a pass.
        await allure.description(`The server does not claim to deny ${p.address}; it was ${c.verdict}.`);
        this.skip();
      }
      await gate(`turn/peer/${p.address}`, [], c.verdict, 'refused', c.finding ? `SECURITY: relaying to ${p.name} is allowed although ${c.claimed.spec} is claimed denied` : '');
    });
  }

  it('refuses a peer in every other range it claims to deny', async function () {
    await turnTest('relay peers');
    const r = await checks();
    const extra = r.checks.filter((c) => !peerProbes([]).some((p) => p.address === c.address));
    if (!extra.length) this.skip(); // every claimed range is covered by the probes above
    for (const c of extra) await report(c);
    // Anything but a refusal (allowed, no answer, another error) is not the claimed denial.
    const notRefused = extra.filter((c) => c.verdict !== 'refused');
    expect(notRefused.map((c) => `${c.address} (${c.claimed!.spec}): ${c.verdict}`), 'SECURITY: peers claimed denied but not refused').to.deep.equal([]);
  });
});

async function report(c: PeerCheck): Promise<void> {
  await allure.parameter('peer', `${c.name} ${c.address}`);
  await allure.parameter('claimed denied', c.claimed ? c.claimed.spec : 'no');
  await allure.logStep(`CreatePermission ${c.address}: ${c.code === 0 ? 'success' : c.code} → ${c.verdict}${c.finding ? ' (SECURITY FINDING)' : ''}`, c.finding ? allure.Status.FAILED : allure.Status.PASSED);
}
