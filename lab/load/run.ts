import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import type { BrowserContext, Page } from 'playwright';
import type { BrowserFleet } from '../browsers/fleet.ts';
import type { EngineName } from '../browsers/engines.ts';
import type { IceServer, IceTransport } from '../turn/coturn.ts';
import { readServer, serverSample, type ServerReading } from './server-stats.ts';
import { failuresByCode, lossPct, percentile, percentiles, round2, verdict, type BackgroundSample, type CallSummary, type FailureCode, type LoadSample, type Percentiles, type Thresholds, type Verdict } from './summary.ts';

export const LOAD_ICE = ['turn-udp', 'turn-tcp', 'turns-tcp'] as const satisfies readonly IceTransport[];
export type LoadIce = (typeof LOAD_ICE)[number];
export const TRAFFIC = ['data', 'audio', 'video'] as const;
export type Traffic = (typeof TRAFFIC)[number];

/** Probes per second each way: audio rate (20 ms packets) for data calls; media calls probe RTT only. */
const PROBE_RATE: Record<Traffic, number> = { data: 50, audio: 5, video: 5 };
/**
 * Peer connections one page creates in its lifetime. Chromium refuses the 501st of a tab's
 * lifetime (closing does not free slots); 100 stays far below and spreads calls over renderer processes.
 */
export const PCS_PER_PAGE = 100;
/** getStats calls per page per second: it costs milliseconds per connection, so connections take turns. */
const STATS_PER_TICK = 10;
const GATHER_TIMEOUT_MS = 5000;

export interface LoadSpec {
  calls: number;
  ice: LoadIce;
  traffic: Traffic;
  /** Seconds the calls are held once the last one has started. */
  durationS: number;
  /** Calls started per second. */
  ramp: number;
  engines: readonly EngineName[];
  /** Lab hosts the calls are spread over: call i runs from hosts[i] to hosts[i+1] (mod the count). */
  hosts: readonly string[];
  connectTimeoutMs: number;
  /** Calls in signaling (offer to accepted answer) at once, at most; 1 makes allocations come in call order. */
  signalingAtOnce: number;
  thresholds: Thresholds;
}

/** The TURN server the load goes through: its ICE servers, and its process for /proc readings. */
export interface TurnUnderTest {
  name: string;
  pid: number;
  relayIp: string;
  iceServers(transport: IceTransport): IceServer[];
}

/** A background load running beside the calls (allocations.js): its latest second, and a stop. */
export interface Background {
  latest(): BackgroundSample | null;
  stop(): Promise<BackgroundSample | null>;
}

export interface LoadResult {
  spec: LoadSpec;
  turn: string;
  startedAt: string;
  wallS: number;
  /** Stopped early (Ctrl-C): the figures cover what ran. */
  interrupted: boolean;
  calls: { started: number; connected: number; failed: number; failures: Partial<Record<FailureCode, number>> };
  connectMs: Percentiles;
  rttMs: { p50: number | null; p95: number | null };
  /** Probes lost (never echoed), over probes due; includes the skipped ones. */
  lossPct: number | null;
  /** Of the probes due, those the pages could not even send (their send buffer was full): the browsers, not the path. */
  skippedPct: number | null;
  worstCallLossPct: number | null;
  jitterMs: number | null;
  server: { cpuPctMax: number | null; cpuPctMean: number | null; rssMbMax: number | null; relayedPpsMax: number | null; allocationsMax: number | null; allocationCount: string };
  background: BackgroundSample | null;
  loadAverage: { before: number[]; max1m: number; after: number[] };
  verdict: Verdict;
  samples: LoadSample[];
  perCall: CallSummary[];
}

interface LoadPage {
  engine: EngineName;
  host: string;
  page: Page;
  context: BrowserContext;
}

/** Pages of one engine in one host; a page takes PCS_PER_PAGE connections, then the next one opens. */
class PagePool {
  readonly pages: Promise<LoadPage>[] = [];
  /** Pages open so far: the sampler reads these and never waits for one still opening. */
  readonly ready: LoadPage[] = [];
  #reserved = PCS_PER_PAGE;
  constructor(
    readonly fleet: BrowserFleet,
    readonly engine: EngineName,
    readonly host: string,
    readonly traffic: Traffic,
  ) {}
  /** Reserves a slot at once (calls start concurrently), opening a page when the current one is full. */
  take(): Promise<LoadPage> {
    if (this.#reserved >= PCS_PER_PAGE) {
      this.#reserved = 0;
      const opened = this.fleet.page(this.engine, this.host, PAGE_HTML).then(async ({ page, context }) => {
        // The fake devices start once per page, not in the first call's connect time.
        await page.evaluate((t) => (window as unknown as LoadWindow).icelabLoad.prepare(t), this.traffic).catch(async (e: unknown) => {
          await context.close().catch(() => undefined);
          throw e;
        });
        const p = { engine: this.engine, host: this.host, page, context };
        this.ready.push(p);
        return p;
      });
      this.pages.push(opened);
    }
    this.#reserved++;
    return this.pages.at(-1)!;
  }
}

const PAGE_HTML = `<!doctype html><meta charset="utf-8"><title>icelab load</title><script>${readFileSync(new URL('./load-page.js', import.meta.url), 'utf8')}</script>`;

interface PageCall {
  id: string;
  role: 'offer' | 'answer';
  state: string;
  t0: number;
  connectedAt: number | null;
  errors: number[];
  sent: number;
  /** Probes due but not sent: the channel's send buffer was full (the browser fell behind). */
  skipped: number;
  echoed: number;
  rtt: number[];
  stats: { pairRttMs: number | null; jitterMs: number | null; rtpReceived: number; rtpLost: number } | null;
}
interface Described {
  sdp: string;
  relays: number;
  errors: number[];
  error?: string;
}
interface LoadApi {
  offers(list: { id: string; o: PageOptions }[]): Promise<Described[]>;
  answers(list: { id: string; sdp: string; o: PageOptions }[]): Promise<Described[]>;
  accept(list: { id: string; sdp: string }[]): Promise<(string | null)[]>;
  tick(statsPerTick: number): Promise<{ created: number; calls: PageCall[] }>;
  stopSending(): void;
  close(ids?: string[]): void;
  prepare(traffic: Traffic): Promise<void>;
}
interface PageOptions {
  iceServers: IceServer[];
  traffic: Traffic;
  probeRate: number;
  gatherTimeoutMs: number;
}
/** The page's global, as the functions passed to page.evaluate (serialised, run in the page) see it. */
interface LoadWindow {
  icelabLoad: LoadApi;
}

/** One call as the harness follows it. */
class CallRecord {
  outcome: 'pending' | 'connected' | 'failed' = 'pending';
  failure: FailureCode | null = null;
  connectMs: number | null = null;
  t0: number | null = null;
  connectedAt: { a: number | null; b: number | null } = { a: null, b: null };
  errors = new Set<number>();
  /** Probes due: sent, or skipped because the send buffer was full (both count; a skipped one is lost). */
  due = 0;
  skipped = 0;
  echoed = 0;
  rtt: number[] = [];
  rtp = new Map<'offer' | 'answer', { received: number; lost: number }>();
  constructor(
    readonly id: string,
    readonly engine: EngineName,
    readonly a: string,
    readonly b: string,
    readonly startedAt: number,
  ) {}
  fail(code: FailureCode): void {
    if (this.outcome === 'failed') return;
    this.outcome = 'failed';
    this.failure = code;
  }
  /** The code a failure carries: a server's answer (486, 508, 401...) over the browsers' own 701 (no answer). */
  code(): FailureCode {
    const codes = [...this.errors];
    const c = codes.find((x) => x !== 701) ?? codes[0];
    return c === undefined ? 'timeout' : `${c}`;
  }
  summary(): CallSummary {
    return {
      id: this.id,
      engine: this.engine,
      a: this.a,
      b: this.b,
      outcome: this.outcome === 'connected' ? 'connected' : 'failed',
      failure: this.outcome === 'connected' ? null : (this.failure ?? 'timeout'),
      connectMs: this.connectMs,
      rttMs: { p50: percentile(this.rtt, 50), p95: percentile(this.rtt, 95) },
      lossPct: this.outcome === 'connected' ? lossPct(this.due, this.echoed) : null,
      due: this.due,
      skipped: this.skipped,
      echoed: this.echoed,
    };
  }
}

export interface RunLoadOptions {
  signal?: AbortSignal;
  log?: (s: string) => void;
  background?: Background;
  /** Called once the run began, with a synchronous summary of it so far (for a signal handler, where nothing async runs any more). */
  onStart?: (snapshot: () => LoadResult) => void;
}

/**
 * Runs `spec.calls` relay-only calls (two peer connections each) through `turn`, started at
 * `spec.ramp` per second and held `spec.durationS` seconds, sampling every second. Bounded: it
 * ends after ramp + hold + connect timeout + 5 s at most, or at once when `signal` aborts.
 */
export async function runLoad(fleet: BrowserFleet, turn: TurnUnderTest, spec: LoadSpec, opts: RunLoadOptions = {}): Promise<LoadResult> {
  const log = opts.log ?? (() => undefined);
  const signal = opts.signal ?? new AbortController().signal;
  // Browsers start before the clock does: a launch (seconds) is not part of any call's connect time.
  if (spec.calls) await Promise.all(spec.engines.flatMap((e) => spec.hosts.map((h) => fleet.browser(e, h))));
  const t0 = Date.now();
  const loadBefore = loadavg();
  const pools = new Map<string, PagePool>();
  const pool = (engine: EngineName, host: string) => {
    const key = `${engine}@${host}`;
    if (!pools.has(key)) pools.set(key, new PagePool(fleet, engine, host, spec.traffic));
    return pools.get(key)!;
  };
  const pageOptions: PageOptions = { iceServers: turn.iceServers(spec.ice), traffic: spec.traffic, probeRate: PROBE_RATE[spec.traffic], gatherTimeoutMs: GATHER_TIMEOUT_MS };
  const records: CallRecord[] = [];
  const signaling: Promise<void>[] = [];
  const samples: LoadSample[] = [];
  const sampler = new Sampler(turn, records, spec, opts.background ?? null, t0);
  opts.onStart?.(() => summarise({ spec, turn: turn.name, t0, interrupted: true, records, samples, background: opts.background?.latest() ?? null, loadBefore }));

  const rampMs = (spec.calls / spec.ramp) * 1000;
  // The hold begins when the last call has started; starting may lag the ramp (signaling is
  // bounded by signalingAtOnce), but never by more than every call's two gatherings timing out.
  const startBy = t0 + rampMs + (Math.ceil(spec.calls / spec.signalingAtOnce) * 2 * GATHER_TIMEOUT_MS);
  let endAt = spec.calls ? startBy + spec.durationS * 1000 : t0 + spec.durationS * 1000;
  let nextTick = t0 + 1000;
  let inSignaling = 0;
  // One loop for starting calls and ticking: bounded by the end time and by the call count.
  while (!signal.aborted && Date.now() < endAt) {
    const due = Math.min(spec.calls, Math.floor(((Date.now() - t0) / 1000) * spec.ramp) + 1);
    while (records.length < due && inSignaling < spec.signalingAtOnce) {
      const i = records.length;
      const engine = spec.engines[i % spec.engines.length]!;
      const a = spec.hosts[i % spec.hosts.length]!;
      const b = spec.hosts[(i + 1) % spec.hosts.length]!;
      const r = new CallRecord(`c${i + 1}`, engine, a, b, Date.now());
      records.push(r);
      inSignaling++;
      if (records.length === spec.calls) endAt = Math.min(endAt, Date.now() + spec.durationS * 1000);
      signaling.push(signal_(r, pool(engine, a).take(), pool(engine, b).take(), pageOptions).finally(() => inSignaling--));
    }
    if (Date.now() >= nextTick) {
      const s = await sampler.tick([...pools.values()], false);
      samples.push(s);
      log(progressLine(s, spec.calls));
      // A slow tick is not made up with a burst of ticks: the next one is a second after this one.
      nextTick = Math.max(nextTick + 1000, Date.now() + 500);
    }
    await sleep(Math.max(5, Math.min(nextTick, t0 + ((records.length + 1) / spec.ramp) * 1000) - Date.now()), signal);
  }
  const interrupted = signal.aborted;
  // Stop the probes, let the echoes in flight come back, then the last reading.
  await Promise.race([Promise.allSettled(signaling), sleep(interrupted ? 0 : 2000)]);
  const pages = await openedPages(pools);
  await Promise.all(pages.map((p) => p.page.evaluate(() => (window as unknown as LoadWindow).icelabLoad.stopSending()).catch(() => undefined)));
  if (!interrupted) await sleep(1000);
  samples.push(await sampler.tick([...pools.values()], true).catch(() => samples.at(-1)!));
  const background = (await opts.background?.stop()) ?? null;
  await hangUp(pages, turn);
  return summarise({ spec, turn: turn.name, t0, interrupted, records, samples, background, loadBefore });
}

/** Offer, answer, accept, as one page's API calls each: a side that gathered no relay candidate ends the call with its error code. */
async function signal_(r: CallRecord, pa: Promise<LoadPage>, pb: Promise<LoadPage>, o: PageOptions): Promise<void> {
  try {
    const [a, b] = await Promise.all([pa, pb]);
    const [off] = await a.page.evaluate((x) => (window as unknown as LoadWindow).icelabLoad.offers([x]), { id: r.id, o });
    if (!off || off.error) return r.fail('error');
    for (const e of off.errors) r.errors.add(e);
    if (!off.relays) return r.fail(r.code());
    const [ans] = await b.page.evaluate((x) => (window as unknown as LoadWindow).icelabLoad.answers([x]), { id: r.id, sdp: off.sdp, o });
    for (const e of ans?.errors ?? []) r.errors.add(e);
    if (!ans || ans.error || !ans.relays) {
      r.fail(ans && !ans.error ? r.code() : 'error');
      // Hung up, as an app would: the offerer's allocation is released (its pages go on with the other calls).
      await Promise.all([a, b].map((p) => p.page.evaluate((id) => (window as unknown as LoadWindow).icelabLoad.close([id]), r.id).catch(() => undefined)));
      return;
    }
    const [err] = await a.page.evaluate((x) => (window as unknown as LoadWindow).icelabLoad.accept([x]), { id: r.id, sdp: ans.sdp });
    if (err) r.fail('error');
  } catch {
    r.fail('error');
  }
}

/** How long the hang-up waits for the server to free the calls' allocations (the refreshes take a round trip). */
const RELEASE_MS = 3000;

/**
 * Closes every call, then the pages. A page closed with its connections open releases nothing: its
 * allocations would stay on the server until they expire (10 min), and the next run would count them.
 */
async function hangUp(pages: LoadPage[], turn: TurnUnderTest): Promise<void> {
  const allocations = () => serverReading(turn)?.allocations ?? 0;
  await Promise.all(pages.map((p) => p.page.evaluate(() => (window as unknown as LoadWindow).icelabLoad.close()).catch(() => undefined)));
  // Bounded: another client of the server (an app's, a background load still stopping) may keep the count up.
  for (const end = Date.now() + RELEASE_MS; Date.now() < end && allocations() > 0; ) await sleep(100);
  await Promise.all(pages.map((p) => p.context.close().catch(() => undefined)));
}

/** The TURN server's /proc reading now; null once its process is gone. */
function serverReading(turn: TurnUnderTest): ServerReading | null {
  try {
    return readServer(turn.pid, turn.relayIp);
  } catch {
    return null;
  }
}

async function openedPages(pools: Map<string, PagePool>): Promise<LoadPage[]> {
  const all = await Promise.allSettled([...pools.values()].flatMap((p) => p.pages));
  return all.flatMap((x) => (x.status === 'fulfilled' ? [x.value] : []));
}

/** Reads every page, the server and the background load once a second, and folds them into a sample. */
class Sampler {
  #server: ServerReading | null;
  #lastSent = 0;
  #lastEchoed = 0;
  #lastSkipped = 0;
  constructor(
    readonly turn: TurnUnderTest,
    readonly records: CallRecord[],
    readonly spec: LoadSpec,
    readonly background: Background | null,
    readonly t0: number,
  ) {
    this.#server = serverReading(turn);
  }
  async tick(pools: PagePool[], final: boolean): Promise<LoadSample> {
    const byId = new Map(this.records.map((r) => [r.id, r]));
    const pages = pools.flatMap((p) => p.ready);
    const ticks = await Promise.all(pages.map((p) => p.page.evaluate((n) => (window as unknown as LoadWindow).icelabLoad.tick(n), STATS_PER_TICK).catch(() => null)));
    const rtts: number[] = [];
    const jitters: number[] = [];
    let rtpLost = 0;
    let rtpExpected = 0;
    for (const c of ticks.flatMap((t) => t?.calls ?? [])) {
      const r = byId.get(c.id);
      if (!r) continue;
      for (const e of c.errors) r.errors.add(e);
      if (c.role === 'offer') {
        r.t0 = c.t0;
        r.connectedAt.a = c.connectedAt;
        r.due = c.sent + c.skipped;
        r.skipped = c.skipped;
        r.echoed = c.echoed;
        r.rtt.push(...c.rtt);
        rtts.push(...c.rtt);
      } else r.connectedAt.b = c.connectedAt;
      if (c.stats) {
        if (c.stats.jitterMs !== null) jitters.push(c.stats.jitterMs);
        const prev = r.rtp.get(c.role) ?? { received: 0, lost: 0 };
        rtpLost += Math.max(0, c.stats.rtpLost - prev.lost);
        rtpExpected += Math.max(0, c.stats.rtpReceived - prev.received) + Math.max(0, c.stats.rtpLost - prev.lost);
        r.rtp.set(c.role, { received: c.stats.rtpReceived, lost: c.stats.rtpLost });
      }
      this.#judge(r, c.state);
    }
    const now = Date.now();
    for (const r of this.records) if (r.outcome === 'pending' && now - r.startedAt > this.spec.connectTimeoutMs) r.fail(r.code());
    const connected = this.records.filter((r) => r.outcome === 'connected');
    const sent = connected.reduce((s, r) => s + r.due, 0);
    const echoed = connected.reduce((s, r) => s + r.echoed, 0);
    const skipped = connected.reduce((s, r) => s + r.skipped, 0);
    // The last tick comes after the probes stopped and their echoes returned: it closes the books.
    const windowLoss = final ? lossPct(sent, echoed) : lossPct(sent - this.#lastSent, echoed - this.#lastEchoed);
    const skippedPct = sent - this.#lastSent > 0 ? round2(((skipped - this.#lastSkipped) / (sent - this.#lastSent)) * 100) : null;
    this.#lastSent = sent;
    this.#lastEchoed = echoed;
    this.#lastSkipped = skipped;
    const reading = serverReading(this.turn);
    const server = this.#server && reading ? serverSample(this.#server, reading) : null;
    if (reading) this.#server = reading;
    const failedCalls = this.records.filter((r) => r.outcome === 'failed');
    return {
      t: round2((now - this.t0) / 1000),
      started: this.records.length,
      connected: connected.length,
      failed: failedCalls.length,
      failures: failuresByCode(failedCalls.map((r) => ({ failure: r.failure }))),
      connectMs: percentiles(connected.flatMap((r) => (r.connectMs === null ? [] : [r.connectMs]))),
      rttMs: { p50: percentile(rtts, 50), p95: percentile(rtts, 95) },
      lossPct: windowLoss,
      skippedPct,
      jitterMs: jitters.length ? round2(Math.max(...jitters)) : null,
      rtpLossPct: rtpExpected > 0 ? round2((rtpLost / rtpExpected) * 100) : null,
      server,
      background: this.background?.latest() ?? null,
      loadAverage: round2(loadavg()[0]!),
    };
  }
  /** Connected once both peers were; a call that connected and then failed counts as failed (dropped). */
  #judge(r: CallRecord, state: string): void {
    const { a, b } = r.connectedAt;
    if (r.outcome === 'pending' && a !== null && b !== null && r.t0 !== null) {
      r.outcome = 'connected';
      r.connectMs = Math.round(Math.max(a, b) - r.t0);
    }
    if (state === 'failed' || state === 'closed') r.fail(r.outcome === 'connected' ? 'error' : r.code());
  }
}

function summarise(o: { spec: LoadSpec; turn: string; t0: number; interrupted: boolean; records: CallRecord[]; samples: LoadSample[]; background: BackgroundSample | null; loadBefore: number[] }): LoadResult {
  const perCall = o.records.map((r) => r.summary());
  const connected = perCall.filter((c) => c.outcome === 'connected');
  const failed = perCall.filter((c) => c.outcome === 'failed');
  const allRtt = o.records.flatMap((r) => r.rtt);
  const sent = connected.reduce((s, c) => s + c.due, 0);
  const echoed = connected.reduce((s, c) => s + c.echoed, 0);
  const skipped = connected.reduce((s, c) => s + c.skipped, 0);
  const servers = o.samples.flatMap((s) => (s.server ? [s.server] : []));
  const max = (xs: number[]) => (xs.length ? Math.max(...xs) : null);
  const connectMs = percentiles(connected.flatMap((c) => (c.connectMs === null ? [] : [c.connectMs])));
  const loss = lossPct(sent, echoed);
  const jitters = o.samples.flatMap((s) => (s.jitterMs === null ? [] : [s.jitterMs]));
  return {
    spec: o.spec,
    turn: o.turn,
    startedAt: new Date(o.t0).toISOString(),
    wallS: round2((Date.now() - o.t0) / 1000),
    interrupted: o.interrupted,
    calls: { started: perCall.length, connected: connected.length, failed: failed.length, failures: failuresByCode(failed) },
    connectMs,
    rttMs: { p50: percentile(allRtt, 50), p95: percentile(allRtt, 95) },
    lossPct: loss,
    skippedPct: sent > 0 ? round2((skipped / sent) * 100) : null,
    worstCallLossPct: max(connected.flatMap((c) => (c.lossPct === null ? [] : [c.lossPct]))),
    jitterMs: percentile(jitters, 95),
    server: {
      cpuPctMax: max(servers.map((s) => s.cpuPct)),
      cpuPctMean: servers.length ? round2(servers.reduce((s, x) => s + x.cpuPct, 0) / servers.length) : null,
      rssMbMax: max(servers.map((s) => s.rssMb)),
      relayedPpsMax: max(servers.map((s) => s.relayedPps)),
      allocationsMax: max(servers.map((s) => s.allocations)),
      allocationCount: 'UDP sockets of the server on its relay address in ports 49152-65535 (/proc/<pid>/net/udp): one per allocation',
    },
    background: o.background,
    loadAverage: { before: o.loadBefore.map(round2), max1m: max(o.samples.map((s) => s.loadAverage)) ?? round2(loadavg()[0]!), after: loadavg().map(round2) },
    verdict: verdict({ calls: perCall.length, failed: failed.length, lossPct: loss, connectP95Ms: connectMs.p95 }, o.spec.thresholds),
    samples: o.samples,
    perCall,
  };
}

function progressLine(s: LoadSample, calls: number): string {
  const f = Object.entries(s.failures).map(([k, v]) => `${k}×${v}`).join(' ');
  return `t=${s.t.toFixed(0)}s calls ${s.connected}/${s.started}/${calls} connected/started/all, failed ${s.failed}${f ? ` (${f})` : ''}, connect p95 ${s.connectMs.p95 ?? '—'} ms, rtt p95 ${s.rttMs.p95 ?? '—'} ms, loss ${s.lossPct ?? '—'}%${s.server ? `, turn ${s.server.cpuPct}% cpu ${s.server.allocations} allocations ${s.server.relayedPps} pps` : ''}${s.background ? `, background ${s.background.active} allocations` : ''}, load ${s.loadAverage}`;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, Math.max(0, ms));
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
