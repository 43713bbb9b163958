import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { findEngine, type EngineName } from '../browsers/engines.ts';
import { BrowserFleet, type PeerPage } from '../browsers/fleet.ts';
import { startLab, type StartedLab } from '../lab.ts';
import { LabError } from '../topology/errors.ts';
import { judgeCall, type VerdictInput } from './verdict.ts';
import { Call, FAIL_PROOF_MS, callTimings, connectCommand, decidedByRetest, DEFAULT_CONNECT_TIMEOUT_MS, directOnly, PEER_PAGE, runCall, type CallPhases, type CallResult, type CallSpec, type ReproduceOptions } from './call.ts';
import { predictOutcome } from './oracle.ts';
import { testDir } from '../testing/temp-dir.ts';
import { clientIps, renderRouterNft } from '../network/render.ts';
import type { Nat } from '../topology/nat.ts';

const SPEC: CallSpec = { a: { engine: 'firefox', host: 'symmetric' }, b: { engine: 'chromium', host: 'full-cone' }, ice: ['stun', 'turn-udp'] };
const DEFAULT_LAB: ReproduceOptions = { topologyFile: null, turnProvider: 'process', lab: null };
const BASE = 'npx icelab connect --a firefox@symmetric --b chromium@full-cone --ice stun,turn-udp';

describe('connectCommand: the command that reproduces a call', function () {
  it('is the bare command when every setting is connect\'s default, given or left out', () => {
    expect(connectCommand(SPEC, DEFAULT_LAB)).to.equal(BASE);
    const explicit: CallSpec = { ...SPEC, policy: 'all', bundlePolicy: 'balanced', media: ['data'], trickle: true, connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS, pcap: false };
    expect(connectCommand(explicit, DEFAULT_LAB)).to.equal(BASE);
  });

  const NON_DEFAULT: { setting: string; spec?: Partial<CallSpec>; lab?: Partial<ReproduceOptions>; flag: string }[] = [
    { setting: 'the relay policy', spec: { policy: 'relay' }, flag: '--policy relay' },
    { setting: 'a bundle policy', spec: { bundlePolicy: 'max-bundle' }, flag: '--bundle-policy max-bundle' },
    { setting: 'media beyond a data channel', spec: { media: ['data', 'audio', 'video'] }, flag: '--media data,audio,video' },
    { setting: 'complete descriptions instead of trickle', spec: { trickle: false }, flag: '--no-trickle' },
    { setting: "the matrix's connect timeout", spec: { connectTimeoutMs: 5000 }, flag: '--timeout 5000' },
    { setting: 'a packet capture', spec: { pcap: true }, flag: '--pcap' },
    { setting: 'a TURN server in a container', lab: { turnProvider: 'container' }, flag: '--turn container' },
    { setting: 'a topology file', lab: { topologyFile: 'labs/office.yaml' }, flag: '--topology labs/office.yaml' },
  ];
  for (const row of NON_DEFAULT) {
    it(`names ${row.setting} (${row.flag}) and nothing else`, () => {
      const seen = connectCommand({ ...SPEC, ...row.spec }, { ...DEFAULT_LAB, ...row.lab });
      expect(seen, `expected exactly ${row.flag} after the peers and ICE servers`).to.equal(`${BASE} ${row.flag}`);
    });
  }

  it('names every non-default at once, and an empty ICE list as none', () => {
    const spec: CallSpec = { ...SPEC, ice: [], policy: 'relay', media: ['audio'], trickle: false, connectTimeoutMs: 3000 };
    const seen = connectCommand(spec, { topologyFile: 'office.yaml', turnProvider: 'container', lab: null });
    expect(seen).to.equal('npx icelab connect --a firefox@symmetric --b chromium@full-cone --ice none --policy relay --media audio --no-trickle --timeout 3000 --turn container --topology office.yaml');
  });

  it('a call in a lab that is up names the lab, not the topology or TURN provider the lab was built with', () => {
    expect(connectCommand(SPEC, { topologyFile: 'office.yaml', turnProvider: 'container', lab: 'mine' })).to.equal(`${BASE} --lab mine`);
  });

  it('quotes a topology path the shell would split', () => {
    const seen = connectCommand(SPEC, { ...DEFAULT_LAB, topologyFile: "/home/me/my lab's.yaml" });
    expect(seen).to.equal(`${BASE} --topology '/home/me/my lab'\\''s.yaml'`);
  });
});

const PHASES: CallPhases = { openMs: 40, negotiateMs: 12, connectMs: 150, settleMs: 30, mediaMs: 90, evidenceMs: 8 };

describe('a relay-first call decided by the same call with STUN only', function () {
  const judged = (name: string) => {
    const { input } = JSON.parse(readFileSync(new URL(`./fixtures/${name}.json`, import.meta.url), 'utf8')) as { input: VerdictInput };
    const expected = predictOutcome(input.sides.a, input.sides.b, input.ice);
    return { expected, verdict: judgeCall({ ...input, expected }) };
  };
  const result = (name: string, more: Partial<CallResult> = {}): CallResult => {
    const { expected, verdict } = judged(name);
    return { expected, verdict, matches: verdict.status === 'pass', evidence: `/e/${name}`, command: `npx icelab connect ${name}`, ...(verdict.status === 'pass' ? {} : { reason: `${verdict.status}: ${verdict.reason}` }), ...more } as CallResult;
  };

  it('keeps every setting but the TURN servers and the relay policy', () => {
    expect(directOnly({ ...SPEC, policy: 'relay', media: ['data', 'audio'] })).to.deep.equal({ ...SPEC, ice: ['stun'], policy: 'all', media: ['data', 'audio'] });
  });

  it('passes with no reason left when the retest settled the predicted class, and carries the retest', () => {
    const first = result('relay-first-pending');
    expect(first.reason).to.match(/^unexpected: /);
    const d = decidedByRetest(first, result('local-prflx-race'));
    expect(d).to.include({ matches: true, evidence: '/e/relay-first-pending' });
    expect(d.reason).to.equal(undefined);
    expect(d.verdict).to.include({ status: 'pass', result: 'srflx' });
    expect(d.directRetest).to.include({ evidence: '/e/local-prflx-race', command: 'npx icelab connect local-prflx-race' });
  });

  it('stays unexpected, its reason naming what the retest showed, when the retest did not settle it', () => {
    const d = decidedByRetest(result('relay-first-pending'), result('fail-by-mechanism'));
    expect(d.matches).to.equal(false);
    expect(d.reason).to.match(/^unexpected: .*the same call with STUN only did not show the srflx path either: pass, failed as predicted/);
  });
});

describe('callTimings: one clock, from the first offer', function () {
  it('measures connected and settled from the offer, each peer on its own page clock', () => {
    const t = callTimings({ offerAt: 1000, connectedAt: { a: 1300.4, b: 1250 }, settledAt: { a: 1480, b: 1510.6 }, wallMs: 340.2 }, 2.5, PHASES);
    expect(t).to.deep.equal({ connectedMs: 300, settledMs: 511, wallMs: 340, overheadMs: 40, dataRttMs: 2.5, phases: PHASES });
  });

  it('settled is never before connected when each settle read follows its page\'s connected moment', () => {
    // A quick settle (two reads 150 ms apart) after a slow connect: settle's own duration (150 ms) was printed before.
    const t = callTimings({ offerAt: 0, connectedAt: { a: 320, b: 332 }, settledAt: { a: 480, b: 470 }, wallMs: 339 }, null, PHASES);
    expect(t.settledMs!, `settled ${t.settledMs} ms, connected ${t.connectedMs} ms`).to.be.at.least(t.connectedMs!);
  });

  it('leaves out what did not happen', () => {
    const t = callTimings({ offerAt: 0, connectedAt: null, settledAt: null, wallMs: 5012 }, null, PHASES);
    expect(t).to.deep.equal({ connectedMs: null, settledMs: null, wallMs: 5012, overheadMs: null, dataRttMs: null, phases: PHASES });
  });
});

/**
 * A browser made to misbehave: calls in `host` get a fresh page of the shared fleet's browser with
 * a script run in it first. A fresh context here, not the shared call page, because isolation is
 * the point: the script patches RTCPeerConnection for every connection on its page.
 */
class TamperedFleet extends BrowserFleet {
  readonly #inner: BrowserFleet;
  readonly #host: string;
  readonly #script: string;
  constructor(lab: StartedLab, inner: BrowserFleet, host: string, script: string) {
    super(lab);
    this.#inner = inner;
    this.#host = host;
    this.#script = script;
  }
  override async peerPage(engine: EngineName, host: string, html: string): Promise<PeerPage> {
    if (host !== this.#host) return this.#inner.peerPage(engine, host, html);
    const { page, context, launched } = await this.#inner.page(engine, host, html);
    await page.evaluate(this.#script);
    return { page, launched, release: () => context.close() };
  }
}
/** addIceCandidate() rejects every host candidate, as an engine that cannot parse one would. */
const REFUSE_HOST_CANDIDATES = `(() => {
  const add = RTCPeerConnection.prototype.addIceCandidate;
  RTCPeerConnection.prototype.addIceCandidate = function (c) {
    return c && / typ host/.test(c.candidate || '') ? Promise.reject(new DOMException('refused by the test', 'OperationError')) : add.call(this, c);
  };
})()`;
/** Gathering never reports complete. */
const GATHERING_NEVER_COMPLETES = `Object.defineProperty(RTCPeerConnection.prototype, 'iceGatheringState', { configurable: true, get() { return 'gathering'; } })`;

describe('Call in a lab @integration', function () {
  this.timeout(120_000);
  let lab: StartedLab | undefined;
  let fleet: BrowserFleet | undefined;
  let dir = '';
  const spec = (a: EngineName, b: EngineName, more: Partial<CallSpec> = {}): CallSpec => ({ a: { engine: a, host: 'one' }, b: { engine: b, host: 'two' }, ice: [], ...more });
  before(async function () {
    this.timeout(60_000);
    for (const e of ['chromium', 'firefox'] as const) {
      const f = findEngine(e);
      if (!f.available) throw new Error(`${f.reason}; to fix: ${f.fix}`);
    }
    dir = testDir('call-test');
    lab = await startLab({ hosts: [{ name: 'one', nat: 'open' }, { name: 'two', nat: 'open' }, { name: 'natted', nat: 'port-restricted-cone' }, { name: 'sym', nat: 'symmetric' }] });
    fleet = new BrowserFleet(lab);
  });
  after(async () => {
    await fleet?.close();
    await lab?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('result() and iceRestart() before any negotiate() throw ERR_CALL_NOT_NEGOTIATED saying negotiate() comes first', async () => {
    await using call = await Call.open(lab!, fleet!, spec('chromium', 'firefox'), join(dir, 'early'));
    for (const early of [() => call.result(), () => call.iceRestart()]) {
      const err = await early().then(
        () => null,
        (e: unknown) => e,
      );
      expect(err, 'expected an error, got a result').to.be.instanceOf(LabError);
      expect((err as LabError).code).to.equal('ERR_CALL_NOT_NEGOTIATED');
      expect((err as Error).message).to.match(/^Call\.(result|iceRestart)\(\) before any negotiate\(\)/).and.include('await call.negotiate()');
    }
  });

  for (const [a, b] of [['chromium', 'chromium'], ['firefox', 'chromium']] as const) {
    it(`${a} ↔ ${b}: settled is never earlier than connected, both counted from the offer`, async () => {
      // Host to host settles in two reads: settle's own duration used to be printed as settledMs.
      for (let i = 0; i < 2; i++) {
        const r = await runCall(lab!, fleet!, spec(a, b), join(dir, `timings-${a}-${b}-${i}`));
        expect(r.outcome).to.equal('connected');
        const { connectedMs, settledMs } = r.timings;
        expect(settledMs!, `settled ${settledMs} ms, connected ${connectedMs} ms`).to.be.at.least(connectedMs!);
      }
    });
  }

  it('one page per engine and host holds many calls at once, and closing each frees its state', async () => {
    const opened = await Promise.all([0, 1, 2].map((i) => Call.open(lab!, fleet!, spec('chromium', 'firefox', { media: ['data', 'audio'] }), join(dir, `shared-${i}`))));
    const page = async (engine: EngineName, host: string) => {
      const leased = await fleet!.peerPage(engine, host, PEER_PAGE);
      const ids = await leased.page.evaluate(() => (window as unknown as { icelab: { open(): string[] } }).icelab.open());
      await leased.release();
      return { page: leased.page, ids };
    };
    try {
      expect(await Promise.all(opened.map((c) => c.negotiate())), 'each call connected').to.deep.equal([true, true, true]);
      const results = await Promise.all(opened.map((c) => c.result()));
      for (const r of results) expect(r.peers.a.media.audio?.flowing, JSON.stringify(r.peers.a.media)).to.equal(true);
      const [one, two] = [await page('chromium', 'one'), await page('firefox', 'two')];
      expect(one.ids, 'three calls on the one chromium page').to.have.length(3);
      expect(two.ids, 'three calls on the one firefox page').to.have.length(3);
      await Promise.all(opened.map((c) => c.close()));
      const after = [await page('chromium', 'one'), await page('firefox', 'two')];
      expect(after.map((p) => p.ids), 'calls left open on the pages').to.deep.equal([[], []]);
      expect(after[0]!.page, 'the same page hosts the next call').to.equal(one.page);
    } finally {
      await Promise.all(opened.map((c) => c.close()));
    }
  });

  it('a side behind a NAT adds the trickled candidates once its own srflx is gathered, so the srflx is in the evidence', async () => {
    // Chromium learns its mapping from a public peer's answer as fast as from the STUN server on a
    // warm page, then drops the srflx as redundant: the verdict could not judge (unknown).
    for (let i = 0; i < 4; i++) {
      const r = await runCall(lab!, fleet!, { a: { engine: 'chromium', host: 'one' }, b: { engine: 'chromium', host: 'natted' }, ice: ['stun'] }, join(dir, `srflx-first-${i}`));
      expect(r.verdict.status, r.verdict.reason).to.equal('pass');
      expect(r.peers.b.candidatesByType.srflx, 'B gathered its srflx').to.equal(1);
      expect(readFileSync(join(dir, `srflx-first-${i}`, 'timeline.txt'), 'utf8')).to.match(/B remote candidates held until → srflx gathered/);
    }
  });

  it('a predicted failure ends once its mechanism has held for FAIL_PROOF_MS, not at the connect timeout, and says so', async () => {
    const timeout = 8000;
    for (const [a, b] of [['chromium', 'firefox'], ['firefox', 'chromium']] as const) {
      const r = await runCall(lab!, fleet!, { a: { engine: a, host: 'sym' }, b: { engine: b, host: 'natted' }, ice: ['stun'], connectTimeoutMs: timeout }, join(dir, `fail-proven-${a}`));
      expect(r.expected.outcome).to.equal('fail');
      expect(r.verdict.status, r.verdict.reason).to.equal('pass');
      expect(r.verdict.reason).to.match(/^failed as predicted: every candidate the configuration allows was gathered/);
      expect(r.reason).to.match(new RegExp(`not connected after \\d+ ms, when the predicted failure's mechanism had held for ${FAIL_PROOF_MS} ms`));
      expect(r.timings.phases.connectMs!, 'connect wait').to.be.within(FAIL_PROOF_MS, timeout - 1000);
    }
  });

  /**
   * Makes `host`'s router behave as `nat` while the topology still says what it was built as: a
   * NAT that lets through more than the oracle predicts from. Returns the undo.
   */
  async function leak(host: string, nat: Partial<Nat>): Promise<() => Promise<void>> {
    const t = lab!.network.topology;
    const r = t.routers.find((x) => x.name === lab!.host(host).routers[0])!;
    const load = async (n: Nat) => {
      const res = await lab!.exec(r.name, ['nft', '-f', '-'], { input: `delete table ip icelab\n${renderRouterNft({ ...r, nat: n }, clientIps(r, t))}` });
      if (res.code !== 0) throw new Error(`nft on ${r.name}: ${res.stderr}`);
    };
    await load({ ...r.nat, ...nat });
    // Mappings made under the leaking rules would outlive them: the undo flushes them too.
    return async () => {
      await load(r.nat);
      await lab!.network.flushMappings(r.name);
    };
  }

  it('a NAT that lets through more than its topology says is caught: a call predicted to relay or to fail that finds the direct path, in the call or in its STUN-only retest, is unexpected', async () => {
    // The symmetric NAT maps like a restricted cone: its checks from the srflx port punch through.
    const undo = await leak('sym', { mapping: 'endpoint-independent', filtering: 'address-dependent' });
    try {
      // Firefox ↔ Firefox twice: it is the pair whose agents nominate the relay first most often.
      for (const [a, b] of [['firefox', 'firefox'], ['firefox', 'firefox'], ['firefox', 'chromium'], ['chromium', 'firefox']] as const) {
        for (const ice of [['stun', 'turn-udp'], ['stun']] as CallSpec['ice'][]) {
          const r = await runCall(lab!, fleet!, { a: { engine: a, host: 'sym' }, b: { engine: b, host: 'natted' }, ice }, join(dir, `leak-${a}-${b}-${ice.join('+')}-${performance.now()}`));
          const what = `${a} ↔ ${b} ${ice.join(',')}: expected ${r.expected.outcome}, ${r.verdict.status} ${r.verdict.result}: ${r.verdict.reason}`;
          expect(r.expected.outcome, what).to.equal(ice.length > 1 ? 'relay-udp' : 'fail');
          expect(r.verdict.status, what).to.equal('unexpected');
          expect(r.matches, what).to.equal(false);
          // Either a direct check was answered in this call, or the relay came first and the call
          // with STUN only (its retest) connected.
          const caught = r.verdict.directPath.state === 'succeeded' || /the same call with STUN only connected \(\w+\): a NAT or firewall let through/.test(r.verdict.reason);
          expect(caught, what).to.equal(true);
        }
      }
    } finally {
      await undo();
    }
  });

  it('ice-checks.json holds everything the verdict read: judging the file gives the result\'s verdict again', async () => {
    const r = await runCall(lab!, fleet!, spec('firefox', 'chromium'), join(dir, 'rejudge'));
    expect(r.verdict.status, r.verdict.reason).to.equal('pass');
    const recorded = JSON.parse(readFileSync(join(dir, 'rejudge', 'ice-checks.json'), 'utf8')) as VerdictInput;
    for (const side of ['a', 'b'] as const) {
      expect(recorded.checks[side].nominations.length, `${side}: a snapshot at the first nomination`).to.be.above(0);
      expect(recorded.checks[side].received.length, `${side}: the other side's candidates`).to.be.above(0);
    }
    expect(judgeCall(recorded)).to.deep.equal(r.verdict);
  });

  it('a remote candidate a peer could not add is in the result, makes matches false and is named in the reason', async () => {
    const tampered = new TamperedFleet(lab!, fleet!, 'two', REFUSE_HOST_CANDIDATES);
    const r = await runCall(lab!, tampered, spec('chromium', 'firefox'), join(dir, 'refused'));
    // B still learns A from A's checks (peer-reflexive): the class alone would pass.
    expect(r.outcome).to.equal('connected');
    expect(r.signalingErrors.length, JSON.stringify(r.signalingErrors)).to.be.above(0);
    for (const e of r.signalingErrors) expect(e).to.include({ peer: 'b' }).and.to.have.property('candidate').that.matches(/ typ host/);
    expect(r.signalingErrors[0]!.error).to.match(/OperationError: refused by the test/);
    expect(r.matches, `matches with ${r.signalingErrors.length} candidates not added`).to.equal(false);
    expect(r.reason).to.match(/^\d+ remote candidates? not added, .*B could not add A's candidate "candidate:.* typ host.*" \(OperationError: refused by the test\)/);
    const written = JSON.parse(readFileSync(join(dir, 'refused', 'result.json'), 'utf8')) as { signalingErrors: unknown[] };
    expect(written.signalingErrors).to.deep.equal(r.signalingErrors);
  });

  it('without trickle, a gathering that never completes fails after gatherTimeoutMs with ERR_ICE_GATHERING_TIMEOUT naming the peer and the last state', async () => {
    const tampered = new TamperedFleet(lab!, fleet!, 'one', GATHERING_NEVER_COMPLETES);
    await using call = await Call.open(lab!, tampered, spec('firefox', 'chromium', { trickle: false }), join(dir, 'gathering'));
    const t0 = performance.now();
    const err = await call.negotiate({ gatherTimeoutMs: 1500 }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(performance.now() - t0, 'it waits about gatherTimeoutMs').to.be.within(1400, 6000);
    expect(err).to.be.instanceOf(LabError);
    expect((err as LabError).code).to.equal('ERR_ICE_GATHERING_TIMEOUT');
    expect((err as Error).message).to.match(/^A \(firefox@one\): ICE gathering did not complete within 1[5-9]\d\d ms without trickle; last iceGatheringState "gathering", \d+ candidates gathered/);
  });
});
