import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as allure from 'allure-js-commons';
import { probeLinkSupport } from '../../lab/network/link-support.ts';
import type { Link } from '../../lab/topology/nat.ts';
import type { Call, CallSpec } from '../../lab/scenario/call.ts';
import { skipUnavailable, suiteEnv } from '../support/fixture.ts';
import { linkDrops, natMappings, waitFor } from './probes.ts';
import { DOWN, HOST_A, HOST_B, pairId, pairs, prelaunch, publicOf, RECOVER_MS, routerOf, runScenario, dataBack, type Check, type LabChange, type Story } from './scenario.ts';
import { setTimeout as sleep } from 'node:timers/promises';

/** Offer/answer with a connect limit; the check says whether both peers connected within it. */
async function connectWithin(call: Call, story: Story, id: string, limitMs: number): Promise<{ ok: boolean; at: number; check: Check }> {
  const t0 = performance.now();
  const ok = await call.negotiate();
  const at = performance.now();
  const ms = Math.round(at - t0);
  await allure.parameter('time to connect', ok ? `${ms} ms` : `> ${limitMs} ms`);
  story.note(ok ? `connected after ${ms} ms` : `not connected within ${limitMs} ms`, { connectMs: ok ? ms : null });
  const expected = `connected within ${limitMs} ms`;
  const observed = !ok ? `not connected within ${limitMs} ms (${JSON.stringify(await call.states())})` : ms <= limitMs ? expected : `connected after ${ms} ms`;
  return { ok, at, check: { id, observed, expected } };
}

interface AudioLoss {
  lost: number;
  received: number;
  percent: number;
}
/** Loss of the inbound audio stream as a peer's getStats (saved with the call's evidence) reports it. */
function audioLoss(file: string): AudioLoss | null {
  const stats = JSON.parse(readFileSync(file, 'utf8')) as { type?: string; kind?: string; packetsLost?: number; packetsReceived?: number }[];
  const s = stats.find((x) => x.type === 'inbound-rtp' && x.kind === 'audio');
  if (!s || s.packetsLost === undefined || !s.packetsReceived) return null;
  return { lost: s.packetsLost, received: s.packetsReceived, percent: Math.round((1000 * s.packetsLost) / (s.packetsLost + s.packetsReceived)) / 10 };
}
const lossText = (l: AudioLoss | null) => (l ? `${l.percent} % (${l.lost} of ${l.lost + l.received})` : 'no inbound audio stats');

describe('resilience', function () {
  before(async function () {
    this.timeout(60_000);
    prelaunch(await suiteEnv(), HOST_A, HOST_B);
  });
  describe('NAT rebinding, then ICE restart', function () {
    for (const { a, b } of pairs) {
      const id = `resilience/nat-rebinding/${pairId(a, b, HOST_A, HOST_B)}`;
      it(`${a} behind symmetric ↔ ${b} behind full cone: data flows again within ${RECOVER_MS / 1000} s of an ICE restart after both routers forget their mappings`, async function () {
        const env = await suiteEnv();
        const { lab } = env;
        const spec: CallSpec = { a: { engine: a, host: HOST_A }, b: { engine: b, host: HOST_B }, ice: ['stun'] };
        const summary = `Connect, flush conntrack on both routers (the symmetric NAT then maps the call to a new random port), ICE restart. Limit: data echoes again within ${RECOVER_MS} ms of the restart offer.`;
        await runScenario(this, env, { id, title: 'NAT rebinding + ICE restart', spec, natA: 'symmetric', natB: 'full-cone', iceName: 'stun', summary }, async (call, story) => {
          const expected = 'reconnected after ICE restart, data:ok';
          const [ra, rb] = [routerOf(lab, HOST_A), routerOf(lab, HOST_B)];
          const ipA = lab.host(HOST_A).ip;
          if (!(await call.negotiate())) return [{ id, observed: `not connected before the rebinding (${JSON.stringify(await call.states())})`, expected }];
          await call.settle();
          const rttBefore = await call.dataRtt();
          const before = await natMappings(lab, ra, ipA);
          story.note(`connected; data RTT ${rttBefore} ms; ${ra} maps A to ${publicOf(before)}`, { rttBefore, mappingsBefore: before });

          await Promise.all([call.flushMappings(ra), call.flushMappings(rb)]);
          const rttAfterFlush = await call.dataRtt(1000);
          const statesAfterFlush = await call.states();
          story.note(`conntrack flushed on ${ra} and ${rb}; data echo within 1 s: ${rttAfterFlush ?? 'none'}; states A ${statesAfterFlush.a}, B ${statesAfterFlush.b}`, { rttAfterFlush, statesAfterFlush });

          const t0 = performance.now();
          const iceOk = await call.negotiate({ iceRestart: true });
          const iceMs = Math.round(performance.now() - t0);
          const back = await dataBack(call, RECOVER_MS - iceMs);
          const reconnectMs = Math.round(performance.now() - t0);
          const after = await natMappings(lab, ra, ipA);
          const oldPublic = new Set(before.map((m) => m.public));
          const changed = after.length > 0 && after.every((m) => !oldPublic.has(m.public));
          story.note(
            `ICE restart: both connected after ${iceMs} ms (${iceOk ? 'ok' : 'timed out'}); data echo ${back.met ? `after ${reconnectMs} ms` : `none within ${RECOVER_MS} ms`}; ${ra} now maps A to ${publicOf(after)} (${changed ? 'changed' : 'NOT changed'})`,
            { iceRestartConnectedMs: iceMs, reconnectMs: back.met ? reconnectMs : null, mappingsAfter: after, mappingChanged: changed },
          );
          await allure.parameter('time to reconnect', back.met ? `${reconnectMs} ms` : `> ${RECOVER_MS} ms`);
          return [
            { id: `${id}/mapping`, observed: changed ? 'public mapping changed' : `public mapping not changed (before ${publicOf(before)}, after ${publicOf(after)})`, expected: 'public mapping changed', why: 'a symmetric NAT maps a new flow to a random port' },
            { id, observed: back.met ? expected : `no data echo within ${RECOVER_MS} ms of the ICE restart (${JSON.stringify(await call.states())})`, expected },
          ];
        });
      });
    }
  });

  describe('TURN server restart during a relayed call', function () {
    /** How long a peer may take to report the lost relay: RFC 7675 consent expires after 30 s, engines say "disconnected" well before (here Chromium 156 ≈ 6 s, Firefox 153 ≈ 9–10.5 s). */
    const DETECT_MS = 20_000;
    for (const { a, b } of pairs) {
      const id = `resilience/turn-restart/${pairId(a, b, HOST_A, HOST_B)}/turn-udp-relay`;
      it(`${a} ↔ ${b} relayed over TURN/UDP: the lost relay is reported within ${DETECT_MS / 1000} s and an ICE restart recovers within ${RECOVER_MS / 1000} s`, async function () {
        const env = await suiteEnv();
        const spec: CallSpec = { a: { engine: a, host: HOST_A }, b: { engine: b, host: HOST_B }, ice: ['turn-udp'], policy: 'relay' };
        const summary = `Relay-only call; the TURN server is killed and started again (every allocation is lost). Spec: consent to send is lost, so connectionState leaves "connected" ("disconnected", at the latest "failed" after RFC 7675's 30 s); an ICE restart gathers new allocations. Limits: loss reported within ${DETECT_MS} ms, data echoes again within ${RECOVER_MS} ms of the restart offer.`;
        await runScenario(this, env, { id, title: 'TURN server restart', spec, natA: 'symmetric', natB: 'full-cone', iceName: 'turn-udp relay', summary }, async (call, story) => {
          const expected = 'loss reported by both peers; recovered after ICE restart, data:ok';
          if (!(await call.negotiate())) return [{ id, observed: `not connected before the TURN restart (${JSON.stringify(await call.states())})`, expected }];
          await call.settle();
          const rttBefore = await call.dataRtt();
          story.note(`connected over the relay; data RTT ${rttBefore} ms`, { rttBefore });

          const t0 = performance.now();
          await call.restartTurn();
          const restartMs = Math.round(performance.now() - t0);
          const rttAfterTurnRestart = await call.dataRtt(1000);
          story.note(`TURN server restarted in ${restartMs} ms; data echo within 1 s: ${rttAfterTurnRestart ?? 'none'}`, { turnRestartMs: restartMs, rttAfterTurnRestart });
          // Each peer lost its own allocation: each must report it.
          const reported: Record<'a' | 'b', { ms: number; state: string } | null> = { a: null, b: null };
          const lost = await waitFor(
            async () => {
              const s = await call.states();
              const ms = Math.round(performance.now() - t0);
              for (const p of ['a', 'b'] as const) if (!reported[p] && DOWN(s[p])) reported[p] = { ms, state: s[p] };
              return s;
            },
            () => reported.a !== null && reported.b !== null,
            DETECT_MS,
            250,
          );
          const side = (p: 'a' | 'b') => (reported[p] ? `${reported[p].state} after ${reported[p].ms} ms` : `still ${lost.value[p]} after ${DETECT_MS} ms`);
          story.note(`loss reported: A ${side('a')}, B ${side('b')}`, { lossReported: reported, statesAtEnd: lost.value });
          await allure.parameter('time to report the loss', `A ${side('a')}; B ${side('b')}`);

          const t1 = performance.now();
          const iceOk = await call.negotiate({ iceRestart: true });
          const iceMs = Math.round(performance.now() - t1);
          const back = await dataBack(call, RECOVER_MS - iceMs);
          const recoverMs = Math.round(performance.now() - t1);
          story.note(`ICE restart: both connected after ${iceMs} ms (${iceOk ? 'ok' : 'timed out'}); data echo ${back.met ? `after ${recoverMs} ms` : `none within ${RECOVER_MS} ms`}`, {
            iceRestartConnectedMs: iceMs,
            recoverMs: back.met ? recoverMs : null,
          });
          await allure.parameter('time to recover', back.met ? `${recoverMs} ms` : `> ${RECOVER_MS} ms`);
          const unreported = (['a', 'b'] as const).filter((p) => !reported[p]).map((p) => `${p.toUpperCase()} (${spec[p].engine})`);
          const observed = [lost.met ? 'loss reported by both peers' : `loss not reported within ${DETECT_MS} ms by ${unreported.join(', ')}`, back.met ? 'recovered after ICE restart, data:ok' : 'not recovered after ICE restart'].join('; ');
          return [{ id, observed, expected }];
        });
      });
    }
  });

  describe('lossy, slow link', function () {
    const CONNECT_LIMIT_MS = 10_000;
    const LOSSY: Link = { delayMs: 0, jitterMs: 0, lossPercent: 5 };
    /** Data echoes over the lossy call: SCTP retransmits what the link drops, so every one must come back. */
    const ECHOES = 20;
    /** Audio flows this long after connecting, ≈ 500 Opus packets each way: enough for the loss to show. */
    const AUDIO_MS = 10_000;
    /** Receiver-reported audio loss that counts as "the link's 5 %" over ≈ 500 packets (−3 σ … +4 σ). */
    const LOSS_SEEN: readonly [number, number] = [2, 9];
    for (const { a, b } of pairs) {
      const id = `resilience/lossy-link/${pairId(a, b, HOST_A, HOST_B)}/stun`;
      it(`${a} ↔ ${b} over a ${LOSSY.lossPercent} % loss uplink: connects within ${CONNECT_LIMIT_MS / 1000} s, every data echo comes back, and both receivers report ${LOSS_SEEN[0]}–${LOSS_SEEN[1]} % audio loss`, async function () {
        const env = await suiteEnv();
        const { lab } = env;
        const ra = routerOf(lab, HOST_A);
        const spec: CallSpec = { a: { engine: a, host: HOST_A }, b: { engine: b, host: HOST_B }, ice: ['stun'], media: ['data', 'audio'], connectTimeoutMs: CONNECT_LIMIT_MS };
        const summary = `The uplink of A's router (${ra}) drops ${LOSSY.lossPercent} % of the packets in each direction (nftables; no delay). The call carries data and audio. Limits: both peers connected within **${CONNECT_LIMIT_MS} ms** of the offer; all ${ECHOES} data echoes come back; each receiver's getStats (inbound-rtp audio) reports ${LOSS_SEEN[0]}–${LOSS_SEEN[1]} % of its packets lost after ${AUDIO_MS / 1000} s of audio.`;
        const change: LabChange = { apply: () => lab.network.setLink(ra, LOSSY), undo: () => lab.network.setLink(ra, null) };
        await runScenario(this, env, { id, title: `lossy link (${LOSSY.lossPercent} % loss)`, spec, natA: 'symmetric', natB: 'full-cone', iceName: 'stun', summary }, async (call, story) => {
          story.note(`link of ${ra}: ${JSON.stringify(LOSSY)}`);
          const connected = await connectWithin(call, story, `${id}/connect`, CONNECT_LIMIT_MS);
          if (!connected.ok) return [connected.check];
          await call.settle();
          const rtts: (number | null)[] = [];
          for (let i = 0; i < ECHOES; i++) rtts.push(await call.dataRtt(3000));
          const back = rtts.filter((x) => x !== null).length;
          story.note(`data echoes: ${back} of ${ECHOES} came back; RTTs ${JSON.stringify(rtts)} ms`, { dataRtts: rtts });
          await sleep(Math.max(0, AUDIO_MS - (performance.now() - connected.at)));
          const drops = await linkDrops(lab, ra);
          story.note(`${ra}'s link dropped ${drops.egress.dropped} of ${drops.egress.seen} packets out (A → B side) and ${drops.ingress.dropped} of ${drops.ingress.seen} in`, { linkDrops: drops });
          // The receivers' view needs the stats the call's result takes.
          story.checkResult(() => {
            const seen = { a: audioLoss(join(call.dir, 'getstats-a.json')), b: audioLoss(join(call.dir, 'getstats-b.json')) };
            story.note(`audio loss reported by the receivers: A ${lossText(seen.a)}, B ${lossText(seen.b)}`, { audioLossSeen: seen });
            const inRange = (l: AudioLoss | null) => l !== null && l.percent >= LOSS_SEEN[0] && l.percent <= LOSS_SEEN[1];
            const expected = `both receivers report ${LOSS_SEEN[0]}–${LOSS_SEEN[1]} % audio loss`;
            return [{ id: `${id}/loss-seen`, observed: inRange(seen.a) && inRange(seen.b) ? expected : `A reports ${lossText(seen.a)}, B reports ${lossText(seen.b)}`, expected, why: `the link drops ${LOSSY.lossPercent} % each way` }];
          });
          return [connected.check, { id: `${id}/data`, observed: back === ECHOES ? 'every data echo came back' : `${back} of ${ECHOES} data echoes came back`, expected: 'every data echo came back' }];
        }, change);
      });
    }

    const SLOW: Link = { delayMs: 200, jitterMs: 0, lossPercent: 5 };
    /** netem delays each direction: the path through A's router gains 2 × delay of round trip. */
    const ADDED_RTT = 2 * SLOW.delayMs;
    /** A data echo crosses the link twice; the fastest of five may exceed the added delay by this much. */
    const RTT_SLACK_MS = 300;
    for (const { a, b } of pairs) {
      const id = `resilience/slow-link/${pairId(a, b, HOST_A, HOST_B)}/stun`;
      it(`${a} ↔ ${b} over a ${SLOW.delayMs} ms, ${SLOW.lossPercent} % loss uplink: connects within ${CONNECT_LIMIT_MS / 1000} s and data RTT reflects the delay`, async function () {
        const env = await suiteEnv();
        const { lab } = env;
        const ra = routerOf(lab, HOST_A);
        const spec: CallSpec = { a: { engine: a, host: HOST_A }, b: { engine: b, host: HOST_B }, ice: ['stun'], connectTimeoutMs: CONNECT_LIMIT_MS };
        const summary = `The uplink of A's router (${ra}) gets netem ${SLOW.delayMs} ms delay and ${SLOW.lossPercent} % loss in each direction. Limits: both peers connected within **${CONNECT_LIMIT_MS} ms** of the offer; the fastest of five data echoes between ${ADDED_RTT} and ${ADDED_RTT + RTT_SLACK_MS} ms.`;
        const ctx = this;
        const change: LabChange = {
          apply: async () => {
            if (!(await probeLinkSupport()).netem) {
              await skipUnavailable(ctx, 'feature-unavailable', 'this kernel has no netem qdisc (CONFIG_NET_SCH_NETEM), so the lab cannot delay packets on a link (loss needs no netem: the lossy-link test runs)', 'run on a kernel with sch_netem (`modprobe sch_netem`; stock distribution kernels have it)', `What it would run: ${summary}`);
            }
            await lab.network.setLink(ra, SLOW);
          },
          undo: () => lab.network.setLink(ra, null),
        };
        await runScenario(this, env, { id, title: `slow link (${SLOW.delayMs} ms, ${SLOW.lossPercent} % loss)`, spec, natA: 'symmetric', natB: 'full-cone', iceName: 'stun', summary }, async (call, story) => {
          story.note(`link of ${ra}: ${JSON.stringify(SLOW)}`);
          const connected = await connectWithin(call, story, `${id}/connect`, CONNECT_LIMIT_MS);
          if (!connected.ok) return [connected.check];
          const settled = await call.settle();
          const rtts: (number | null)[] = [];
          for (let i = 0; i < 5; i++) rtts.push(await call.dataRtt(3000));
          const got = rtts.filter((x): x is number => x !== null).sort((x, y) => x - y);
          const min = got[0] ?? null;
          const iceRtt = settled.a.selected?.currentRoundTripTime ?? null;
          story.note(`data echoes ${JSON.stringify(rtts)} ms; ICE RTT ${iceRtt === null ? '—' : Math.round(iceRtt * 1000)} ms`, { dataRtts: rtts, iceRttMs: iceRtt === null ? null : Math.round(iceRtt * 1000) });
          await allure.parameter('data RTT (fastest of 5)', min === null ? 'none' : `${min} ms`);
          const rttOk = min !== null && min >= ADDED_RTT && min <= ADDED_RTT + RTT_SLACK_MS;
          return [
            connected.check,
            { id: `${id}/rtt`, observed: rttOk ? 'data RTT reflects the delay' : `fastest data RTT ${min ?? 'none'} ms, outside ${ADDED_RTT}–${ADDED_RTT + RTT_SLACK_MS} ms`, expected: 'data RTT reflects the delay' },
          ];
        }, change);
      });
    }
  });

});
