import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as allure from 'allure-js-commons';
import type { Context } from 'mocha';
import { startLab, type StartedLab } from '../../lab/lab.ts';
import { BrowserFleet } from '../../lab/browsers/fleet.ts';
import { probeLinkSupport } from '../../lab/network/link-support.ts';
import type { EngineName } from '../../lab/browsers/engines.ts';
import type { Link } from '../../lab/topology/nat.ts';
import { Call, type CallSpec } from '../../lab/scenario/call.ts';
import { callStory, labelCall } from '../../lab/report/call-report.ts';
import { attachDir, evidenceRoot, gate, safeName, suiteEngines, skipUnavailable, suiteEnv, unavailable, type SuiteEnv } from '../support/fixture.ts';
import { ExpiryWatch, linkDrops, natMappings, suspendHost, waitFor, type NatMapping } from './probes.ts';
import { setTimeout as sleep } from 'node:timers/promises';

const engines = suiteEngines();
// Every engine calls Chromium, the reference peer: chromium↔chromium, firefox↔chromium, webkit↔chromium.
const partner: EngineName = engines.includes('chromium') ? 'chromium' : engines[0]!;
const pairs = engines.map((a) => ({ a, b: partner }));

// Shared-lab hosts. A symmetric NAT picks a new random port for a new mapping, so flushing its
// conntrack really changes the call's public address; symmetric ↔ full cone connects directly.
const HOST_A = 'symmetric';
const HOST_B = 'full-cone';

const UP = (s: string) => s === 'connected' || s === 'completed';
const DOWN = (s: string) => s === 'disconnected' || s === 'failed' || s === 'closed';
/** How long data may take to flow again after an ICE restart. */
const RECOVER_MS = 10_000;

/** What a scenario did, step by step, for the report (description and resilience.json). */
class Story {
  readonly steps: { t: number; step: string }[] = [];
  readonly data: Record<string, unknown> = {};
  readonly #t0 = performance.now();
  readonly #cleanups: (() => Promise<void> | void)[] = [];
  note(step: string, data: Record<string, unknown> = {}): void {
    this.steps.push({ t: Math.round(performance.now() - this.#t0), step });
    Object.assign(this.data, data);
  }
  /** Runs after the call's result is taken (the lab must stay as the scenario left it until then). */
  defer(fn: () => Promise<void> | void): void {
    this.#cleanups.unshift(fn);
  }
  async cleanup(): Promise<void> {
    for (const fn of this.#cleanups.splice(0)) await fn();
  }
  readonly #resultChecks: (() => Check[])[] = [];
  /** Checks that need the call's result (the stats it saves): run once it is taken. */
  checkResult(fn: () => Check[]): void {
    this.#resultChecks.push(fn);
  }
  resultChecks(): Check[] {
    return this.#resultChecks.flatMap((fn) => fn());
  }
  text(): string {
    return this.steps.map((s) => `- ${(s.t / 1000).toFixed(1)} s — ${s.step}`).join('\n');
  }
}

interface Check {
  id: string;
  observed: string;
  expected: string;
  why?: string;
}
interface Scenario {
  id: string;
  title: string;
  spec: CallSpec;
  natA: string;
  natB: string;
  iceName: string;
  /** Shown above the call's story in Allure: what is measured and the limits stated. */
  summary: string;
}

/** A change to the shared lab made before a call and undone after its result, whatever happens. */
interface LabChange {
  apply: () => Promise<void>;
  undo: () => Promise<void>;
}

/**
 * Opens the call (unavailable engine → reported as such), runs the scenario, then always takes the
 * call's result and evidence, attaches it all, and gates each check.
 */
async function runScenario(ctx: Context, env: SuiteEnv, sc: Scenario, body: (call: Call, story: Story) => Promise<Check[]>, change?: LabChange): Promise<void> {
  await allure.parentSuite('resilience');
  await allure.suite(sc.title);
  await allure.subSuite(`${sc.spec.a.engine} → ${sc.spec.b.engine}`);
  await labelCall(sc.spec, sc.natA, sc.natB, sc.iceName);
  if (change) await change.apply();
  try {
    await callScenario(ctx, env, sc, body);
  } finally {
    await change?.undo();
  }
}

async function callScenario(ctx: Context, env: SuiteEnv, sc: Scenario, body: (call: Call, story: Story) => Promise<Check[]>): Promise<void> {
  const dir = join(evidenceRoot(), safeName(sc.id));
  const call = await Call.open(env.lab, env.fleet, sc.spec, dir).catch((e: unknown) => unavailable(ctx, e));
  const story = new Story();
  let checks: Check[] = [];
  let who: { engine: EngineName; version: string }[] = [];
  try {
    checks = await body(call, story);
  } finally {
    try {
      const r = await call.result();
      checks.push(...story.resultChecks());
      who = [
        { engine: sc.spec.a.engine, version: r.peers.a.version },
        { engine: sc.spec.b.engine, version: r.peers.b.version },
      ];
      await allure.parameter('engine versions', `${sc.spec.a.engine} ${r.peers.a.version} → ${sc.spec.b.engine} ${r.peers.b.version}`);
      writeFileSync(join(dir, 'resilience.json'), JSON.stringify({ id: sc.id, steps: story.steps, measured: story.data, checks }, null, 2));
      await allure.description([sc.summary, '**Scenario:**', story.text(), '**The call at the end:**', callStory(r)].join('\n\n'));
    } finally {
      await call.close();
      await story.cleanup();
      await attachDir(dir);
    }
  }
  for (const c of checks) await gate(c.id, who, c.observed, c.expected, c.why);
}

const routerOf = (lab: StartedLab, host: string): string => lab.host(host).routers[0]!;
const publicOf = (ms: NatMapping[]) => [...new Set(ms.map((m) => m.public))].join(', ') || 'none';

/** Polls data-channel echoes until one comes back: the moment data flows again. */
const dataBack = (call: Call, timeoutMs = RECOVER_MS) => waitFor(() => call.dataRtt(500), (v) => v !== null, timeoutMs, 0);

const pairId = (a: EngineName, b: EngineName, hostA: string, hostB: string) => `${a}@${hostA}--${b}@${hostB}`;

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

/**
 * Starts every browser the scenarios will need without waiting: later ones finish launching while
 * earlier calls sit idle. A failed launch is reported by the test that uses it.
 */
function prelaunch(env: SuiteEnv, hostA: string, hostB: string): void {
  for (const { a, b } of pairs) for (const [e, h] of [[a, hostA], [b, hostB]] as const) env.fleet.browser(e, h).catch(() => undefined);
}

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
