import * as allure from 'allure-js-commons';
import { TURN_PORTS } from '../../lab/turn/coturn.ts';
import { gate, suiteEngines, suiteEnv, unavailable } from '../support/fixture.ts';
import { attachText, turnTarget, turnTest } from './support.ts';

interface Gathered {
  errors: { errorCode: number; errorText: string; url: string }[];
  state: string;
  relayCandidates: number;
  ms: number;
}

/**
 * `icecandidateerror` as browsers report it (W3C webrtc-pc §4.8.2 / RTCPeerConnectionIceErrorEvent):
 * a STUN error answer carries its code (wrong credentials: 401); a server that cannot be reached
 * is 701. Browsers run in a lab host, so this needs the lab's coturn.
 */
const CASES = [
  { id: 'wrong-credentials', title: 'wrong TURN credentials', spec: 401, port: TURN_PORTS.udp, transport: 'udp', password: 'not-the-password' },
  // Nothing listens on this port of the TURN host: every request goes unanswered (ICMP port unreachable).
  { id: 'unreachable', title: 'an unreachable TURN server (UDP)', spec: 701, port: 3999, transport: 'udp', password: null },
  { id: 'unreachable-tcp', title: 'an unreachable TURN server (TCP, connection refused)', spec: 701, port: 3999, transport: 'tcp', password: null },
] as const;

/**
 * How long a page waits for gathering to end. Chromium retransmits an unanswered TURN/UDP Allocate
 * for the whole STUN transaction timeout (RFC 8489 Rc=7, Rm=16): its 701 came after 39.9 s
 * (measured, Chromium 156); Firefox gives up after ≈11.5 s; refused TCP fails at once. The wait
 * ends when gathering completes, so only the slowest engine takes it.
 */
const GATHER_WAIT_MS: Record<(typeof CASES)[number]['id'], number> = { 'wrong-credentials': 13_000, unreachable: 45_000, 'unreachable-tcp': 13_000 };

type Run = Promise<{ g: Gathered; version: string; server: RTCIceServer }>;
const runs = new Map<string, Run>();

/** Gathers for every engine × case at once; each test reads its own result. */
async function startGathering(): Promise<void> {
  const t = await turnTarget();
  if (t.kind !== 'lab') return;
  const { fleet } = await suiteEnv();
  for (const engine of suiteEngines()) {
    for (const c of CASES) {
      const cred = t.credentials();
      const server = { urls: `turn:${t.endpoints.udp!.host}:${c.port}?transport=${c.transport}`, username: cred.username, credential: c.password ?? cred.password };
      const run = (async () => {
        const { page, context, launched } = await fleet.page(engine, t.clientHost!, '<!doctype html><title>icelab turn</title>');
        try {
          return { g: await page.evaluate(gather, { server, waitMs: GATHER_WAIT_MS[c.id] }), version: launched.version, server: { ...server, credential: '…' } };
        } finally {
          await context.close();
        }
      })();
      run.catch(() => undefined); // read by its test
      runs.set(`${engine}/${c.id}`, run);
    }
  }
}

// A root hook: the 45 s wait starts with the run and overlaps the other tests instead of adding to them.
let started: Promise<void> | null = null;
before(function () {
  started = startGathering();
  started.catch(() => undefined); // each test reports what went wrong
});

describe('TURN errors seen by browsers (icecandidateerror)', function () {
  this.timeout(GATHER_WAIT_MS.unreachable + 30_000);
  for (const engine of suiteEngines()) {
    for (const c of CASES) {
      it(`${engine}: errorCode for ${c.title}`, async function () {
        const t = await turnTest('browser errors');
        await allure.parameter('engine', engine);
        if (t.kind !== 'lab') this.skip(); // browsers run in lab hosts, which have no route to an external server
        await started;
        const { g, version, server } = await runs.get(`${engine}/${c.id}`)!.catch((e: unknown) => unavailable(this, e));
        await attachText('icecandidateerror events', JSON.stringify({ iceServer: server, ...g }, null, 2));
        await allure.parameter('engine version', version);
        const codes = [...new Set(g.errors.map((e) => e.errorCode))].sort();
        const observed = codes.length ? `errorCode ${codes.join(',')}` : `no icecandidateerror within ${GATHER_WAIT_MS[c.id] / 1000} s (gathering ${g.state})`;
        await allure.parameter('codes seen', `${observed}; errorText ${JSON.stringify(g.errors.map((e) => e.errorText))}`);
        await gate(`turn/browser/${c.id}`, [{ engine, version }], observed, `errorCode ${c.spec}`);
      });
    }
  }
});

/** In the page: relay-only gathering against one TURN server, collecting icecandidateerror events. */
async function gather({ server, waitMs }: { server: { urls: string; username: string; credential: string }; waitMs: number }): Promise<Gathered> {
  const t0 = performance.now();
  const pc = new RTCPeerConnection({ iceServers: [server], iceTransportPolicy: 'relay' });
  const errors: Gathered['errors'] = [];
  let relayCandidates = 0;
  pc.addEventListener('icecandidateerror', (e) => {
    const ev = e as RTCPeerConnectionIceErrorEvent;
    errors.push({ errorCode: ev.errorCode, errorText: ev.errorText, url: ev.url });
  });
  pc.addEventListener('icecandidate', (e) => {
    if (e.candidate?.candidate.includes(' relay ')) relayCandidates++;
  });
  pc.createDataChannel('probe');
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise<void>((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve());
    setTimeout(resolve, waitMs);
  });
  // An error may be dispatched just after gathering completes.
  await new Promise((r) => setTimeout(r, 300));
  const state = pc.iceGatheringState;
  pc.close();
  return { errors, state, relayCandidates, ms: Math.round(performance.now() - t0) };
}
