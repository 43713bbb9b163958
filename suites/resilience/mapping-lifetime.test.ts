import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as allure from 'allure-js-commons';
import { startLab } from '../../lab/lab.ts';
import { BrowserFleet } from '../../lab/browsers/fleet.ts';
import type { CallSpec } from '../../lab/scenario/call.ts';
import type { SuiteEnv } from '../support/fixture.ts';
import { ExpiryWatch, natMappings, suspendHost, waitFor } from './probes.ts';
import { dataBack, pairId, pairs, prelaunch, publicOf, routerOf, runScenario, UP } from './scenario.ts';
import { setTimeout as sleep } from 'node:timers/promises';

// A file of its own: the suite's longest scenario, in a lab of its own (lab/cli/suite.ts keeps it
// in the resilience suite's process: apart, its lab and browsers slowed the matrix).
describe('resilience', function () {
  describe('NAT mapping lifetime', function () {
    // The shared lab's NATs keep idle mappings 120 s (RFC 4787 REQ-5): too long for a test. This
    // lab of its own has two port-restricted cones that forget a mapping after LIFETIME_S idle
    // seconds — longer than RFC 7675's longest consent interval (5 s × 1.2), so consent checks
    // alone must keep the call's mappings alive.
    const LIFETIME_S = 7;
    const HOLD_MS = 12_000;
    const HOSTS = ['short-a', 'short-b'] as const;
    let env: SuiteEnv | null = null;
    before(async function () {
      this.timeout(60_000);
      const lab = await startLab({ hosts: HOSTS.map((name) => ({ name, nat: { mappingLifetime: LIFETIME_S } })) });
      env = { lab, fleet: new BrowserFleet(lab, { headed: process.env.ICELAB_HEADED === '1' }) };
      prelaunch(env, HOSTS[0], HOSTS[1]);
    });
    after(async function () {
      this.timeout(60_000);
      await env?.fleet.close();
      await env?.lab.stop();
    });
    for (const { a, b } of pairs) {
      const id = `resilience/mapping-lifetime/${pairId(a, b, HOSTS[0], HOSTS[1])}/stun`;
      it(`${a} ↔ ${b} behind port-restricted cones with a ${LIFETIME_S} s mapping lifetime: consent checks keep the call up for ${HOLD_MS / 1000} s; with both browsers suspended the mappings expire`, async function () {
        const { lab } = env!;
        const spec: CallSpec = { a: { engine: a, host: HOSTS[0] }, b: { engine: b, host: HOSTS[1] }, ice: ['stun'] };
        const nat = `port-restricted-cone (lifetime ${LIFETIME_S} s)`;
        const summary = `Both NATs forget an idle UDP mapping after ${LIFETIME_S} s. Phase 1: the harness sends nothing for ${HOLD_MS} ms; only the browsers' own ICE keepalives (consent checks) cross the NATs; conntrack DESTROY events of the call's mappings are recorded. Phase 2: every process of both hosts is suspended (SIGSTOP), the routers' conntrack tables are polled until the call's mappings are gone (limit ${LIFETIME_S} s + 5 s), then the browsers are resumed and what the call does is recorded (not gated).`;
        await runScenario(this, env!, { id, title: `mapping lifetime (${LIFETIME_S} s)`, spec, natA: nat, natB: nat, iceName: 'stun', summary }, async (call, story) => {
          const [ra, rb] = [routerOf(lab, HOSTS[0]), routerOf(lab, HOSTS[1])];
          const [ipA, ipB] = [lab.host(HOSTS[0]).ip, lab.host(HOSTS[1]).ip];
          const keepExpected = `connected after ${HOLD_MS} ms, call mappings never expired, data:ok`;
          // Watching first: the kernel only reports the end of flows created while someone listens.
          const watches = await Promise.all([ExpiryWatch.start(lab, ra), ExpiryWatch.start(lab, rb)]);
          story.defer(() =>
            watches.forEach((w, i) => {
              w.stop();
              writeFileSync(join(call.dir, `conntrack-events-${[ra, rb][i]}.txt`), w.raw());
            }),
          );
          if (!(await call.negotiate())) return [{ id: `${id}/keepalive`, observed: `not connected (${JSON.stringify(await call.states())})`, expected: keepExpected }];
          const settled = await call.settle();
          // The call's own flows: each side's towards the peer address of its selected pair (not, say,
          // STUN keepalives to the server, nor the flows of an earlier call still waiting to expire).
          const peerOf = (p: typeof settled.a) => (p.selected?.remote.address && p.selected.remote.port ? `${p.selected.remote.address}:${p.selected.remote.port}` : null);
          const [toB, toA] = [peerOf(settled.a), peerOf(settled.b)];
          if (!toB || !toA) return [{ id: `${id}/keepalive`, observed: `no selected pair to follow (A ${toB}, B ${toA})`, expected: keepExpected }];
          const callMappings = async () => [...(await natMappings(lab, ra, ipA)).filter((m) => m.remote === toB), ...(await natMappings(lab, rb, ipB)).filter((m) => m.remote === toA)];
          const expiries = () => [...watches[0].expiries(ipA, toB), ...watches[1].expiries(ipB, toA)];
          const m0 = await callMappings();
          if (m0.length !== 2) return [{ id: `${id}/keepalive`, observed: `call mappings not found in conntrack (${JSON.stringify(m0)})`, expected: keepExpected }];
          story.note(`connected; call mappings ${m0.map((m) => `${m.lan}→${m.public}→${m.remote} (ttl ${m.ttl} s)`).join('; ')}`, { mappingsAtStart: m0 });

          // Phase 1: nothing but the browsers' keepalives.
          await sleep(HOLD_MS);
          // Listing conntrack also evicts a lapsed entry (its DESTROY event follows), so look first.
          const m1 = await callMappings();
          const states1 = await call.states();
          await sleep(100);
          const expired = expiries();
          const rtt1 = await call.dataRtt();
          story.note(`after ${HOLD_MS} ms idle: A ${states1.a}, B ${states1.b}; ${expired.length} call mapping(s) expired; mappings ${m1.map((m) => `${m.public} (ttl ${m.ttl} s)`).join(', ') || 'none'}; data RTT ${rtt1 ?? 'none'}`, {
            keepalivePhase: { states: states1, expiries: expired, mappings: m1, dataRtt: rtt1 },
          });
          const kept = expired.length === 0 && publicOf(m1) === publicOf(m0);
          const keepObserved = UP(states1.a) && UP(states1.b) && kept && rtt1 !== null ? keepExpected : `A ${states1.a}, B ${states1.b}, ${expired.length} call mapping expiries, mappings ${publicOf(m1)} (were ${publicOf(m0)}), data ${rtt1 === null ? 'none' : 'ok'}`;

          // Phase 2: silence. Both browsers stop, so no packet refreshes the mappings.
          const frozen = [await suspendHost(lab, HOSTS[0])];
          let gone;
          try {
            frozen.push(await suspendHost(lab, HOSTS[1]));
            gone = await waitFor(callMappings, (l) => l.length === 0, LIFETIME_S * 1000 + 5000, 250);
          } finally {
            for (const f of frozen) f.resume();
          }
          story.note(
            gone.met ? `browsers suspended (${frozen.map((f) => f.pids.length).join(' + ')} processes): the call's mappings left conntrack after ${gone.ms} ms` : `browsers suspended: call mappings still present after ${gone.ms} ms: ${JSON.stringify(gone.value)}`,
            { idlePhase: { expired: gone.met, afterMs: gone.ms, left: gone.value } },
          );
          await allure.parameter('idle mapping expired after', gone.met ? `${gone.ms} ms` : `> ${gone.ms} ms`);

          // Resumed: what the call does with fresh mappings is recorded, not judged.
          const back = await dataBack(call, 8000);
          const states2 = await call.states();
          story.note(`resumed: data echo ${back.met ? `after ${back.ms} ms` : 'none within 8 s'}; A ${states2.a}, B ${states2.b}`, { afterResume: { dataBackMs: back.met ? back.ms : null, states: states2 } });
          // The watch's control: the lapsed mappings' DESTROY events (the kernel reports an expired
          // entry when it is next looked up or listed), so "no events" in phase 1 means something.
          const idleEvents = expiries().slice(expired.length);
          story.note(`DESTROY events of the call's flows since phase 1: ${idleEvents.length}`, { idleDestroyEvents: idleEvents });
          const idleObserved = !gone.met ? 'call mappings still present' : idleEvents.length === 0 ? 'call mappings left conntrack, but no DESTROY event was seen' : 'call mappings expired';
          return [
            { id: `${id}/keepalive`, observed: keepObserved, expected: keepExpected },
            { id: `${id}/idle`, observed: idleObserved, expected: 'call mappings expired', why: `lifetime ${LIFETIME_S} s` },
          ];
        });
      });
    }
  });
});
