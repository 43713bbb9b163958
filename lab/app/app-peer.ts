import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Frame, Page } from 'playwright';
import type { StartedLab } from '../lab.ts';
import { BrowserFleet, type LaunchedBrowser } from '../browsers/fleet.ts';
import { parseEngine, type EngineName } from '../browsers/engines.ts';
import { LabError } from '../topology/errors.ts';
import { reportsDir } from '../report/results.ts';
import { peerSide, type SelectedPair } from '../scenario/call.ts';
import { predictOutcome, type IceConfig, type OutcomeClass, type PeerSide, type Prediction } from '../scenario/oracle.ts';
import { peerChecks, type PairSnapshot, type Verdict } from '../scenario/verdict.ts';
import { announcementsOf, judgePeerConnection, predictFromAnnouncements, publicAddressesOf, mapIceServers, remoteEndOf, SERVICE_ENGINE, ufragOf, type FarAnnouncements, type MappedIce, type RemoteEnd } from './judge.ts';
import { RECORDER, recorder, type PairPoll, type RecordedPeerConnection } from './recording.ts';
import { checkLabUrl, labServices } from './lab-names.ts';
import { logMarks, writeServiceLogs, type LogMarks } from '../services/services.ts';
import { setTimeout as sleep } from 'node:timers/promises';

/** A browser in a lab host: `chromium@home`. */
export interface PeerName {
  engine: EngineName;
  host: string;
}
export function parsePeerName(s: string, field = 'peer'): PeerName {
  const m = /^([a-z]+)@([a-z0-9-]+)$/.exec(s.trim());
  if (!m) throw new LabError('ERR_USAGE', `${field}: expected <engine>@<host>, got "${s}"`, { hint: 'e.g. chromium@port-restricted (engines: chromium, firefox, webkit; hosts: the lab topology\'s)' });
  return { engine: parseEngine(m[1]!, field), host: m[2]! };
}

/** Media seen arriving on a peer connection, sampled twice. */
export type MediaFlow = Partial<Record<'audio' | 'video', { flowing: boolean; packetsReceived: number; framesDecoded: number | null }>> & { data?: { channels: number; open: number } };

/** One peer connection of an app page, judged. */
export interface PeerConnectionReport {
  /** `pc-0`, `pc-1`… in creation order (child frames after the main frame's). */
  id: string;
  state: string;
  selectedPair: SelectedPair | null;
  /** The settled pair's class as this end reads it; 'fail' when not connected, 'unknown' when unreadable. */
  class: OutcomeClass | 'unknown';
  /** The lab host (or service) whose addresses the other side's candidates carry; null when none is a lab address. */
  remote: RemoteEnd | null;
  /** The oracle's prediction from both ends' NATs and the ICE servers the app configured; null without a known remote. */
  expected: Prediction | null;
  /** The verdict passed (the evidence shows the prediction). */
  matches: boolean;
  verdict: Verdict;
  media: MediaFlow;
  /** The app's iceServers as the lab's servers, and URLs that name none (unreachable in the lab). */
  iceServers: { mapped: MappedIce['ice']; ignored: string[] };
  /** The peer connection at the other end was recorded too (another page of this session). */
  bothEnds: boolean;
  /** Milliseconds from the page's navigation (epoch clock, as the page's): the app creating it, and it first connected. */
  timings: { createdMs: number; connectedMs: number | null };
  evidence: string;
}

/** A page and its peer connections, judged. */
export interface PageReport {
  peer: AppPeer;
  peerConnections: PeerConnectionReport[];
}

export interface AppSessionOptions {
  /** Browsers to use; default: a fleet of the session's own, closed with it. */
  fleet?: BrowserFleet;
  headed?: boolean;
  /** Where evidence goes; default <reports>/evidence/app-<time>. */
  evidenceDir?: string;
  /** Record a Playwright trace per page (trace.zip in its evidence). */
  trace?: boolean;
}

export interface WaitOptions {
  /** How long the app may take to create its peer connections and connect them (default 20 s). */
  timeoutMs?: number;
}
export const DEFAULT_APP_TIMEOUT_MS = 20_000;

const safe = (s: string) => s.replace(/[^a-zA-Z0-9._@-]+/g, '_');
const settledState = (s: string) => ['connected', 'completed', 'failed', 'closed'].includes(s);
const stateOf = (r: RecordedPeerConnection) => r.connectionState ?? r.iceConnectionState;
const connected = (s: string) => s === 'connected' || s === 'completed';

/**
 * An app's pages in a lab: each `openPeer` opens a URL in a browser inside a lab host, with every
 * RTCPeerConnection the app creates recorded. Close it before the lab.
 */
export class AppSession implements AsyncDisposable {
  readonly lab: StartedLab;
  readonly evidenceDir: string;
  readonly #fleet: BrowserFleet;
  readonly #ownFleet: boolean;
  readonly #opts: AppSessionOptions;
  readonly #peers: AppPeer[] = [];
  readonly #opening = new Map<string, Promise<unknown>>();
  constructor(lab: StartedLab, opts: AppSessionOptions = {}) {
    this.lab = lab;
    this.#opts = opts;
    this.#fleet = opts.fleet ?? new BrowserFleet(lab, { headed: opts.headed ?? false });
    this.#ownFleet = !opts.fleet;
    this.evidenceDir = opts.evidenceDir ?? join(reportsDir(), 'evidence', `app-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  }

  get peers(): readonly AppPeer[] {
    return this.#peers;
  }

  /** Opens `url` in `engine@host` (launching that browser on first use) and returns its page. */
  async openPeer(peer: string | PeerName, url: string): Promise<AppPeer> {
    const name = typeof peer === 'string' ? parsePeerName(peer) : peer;
    this.lab.host(name.host);
    checkLabUrl(this.lab, url);
    const launched = await this.#fleet.browser(name.engine, name.host);
    const context = await this.#newContext(launched);
    const index = this.#peers.length;
    const dir = join(this.evidenceDir, `${index}-${safe(`${name.engine}@${name.host}`)}`);
    mkdirSync(dir, { recursive: true });
    const app = new AppPeer(this, { ...name, index, url, dir, context, launched, turnLogFrom: this.lab.turn.logSize(), serviceLogFrom: logMarks(this.lab.services) });
    this.#peers.push(app);
    await app.open(this.#opts.trace ?? false);
    return app;
  }

  /** Firefox's BiDi fails when two contexts open their first page at once: one at a time per browser. */
  async #newContext(launched: LaunchedBrowser): Promise<BrowserContext> {
    const key = `${launched.engine}@${launched.host}`;
    const opened = (this.#opening.get(key) ?? Promise.resolve()).then(async () => {
      // The lab CA is trusted by each engine (fleet.ts): a lab service's certificate is checked as in production.
      const context = await launched.browser.newContext({ ignoreHTTPSErrors: false });
      await context.addInitScript({ content: RECORDER });
      await context.newPage().catch(async (e: unknown) => {
        await context.close().catch(() => undefined);
        throw e;
      });
      return context;
    });
    this.#opening.set(key, opened.catch(() => undefined));
    return opened;
  }

  /** Every open page's peer connections, waited for and judged (see AppPeer.report). */
  async reports(opts: WaitOptions = {}): Promise<PageReport[]> {
    await Promise.all(this.#peers.map((p) => p.waitForPeerConnections(opts)));
    await Promise.all(this.#peers.map((p) => p.waitForConnections(opts)));
    const out: PageReport[] = [];
    for (const p of this.#peers) out.push({ peer: p, peerConnections: await p.report({ ...opts, waited: true }) });
    return out;
  }

  /** The recorded connection whose ICE credentials pair with `ufrags`, on another page of this session. */
  async far(self: AppPeer, ufrags: { local: string | null; remote: string | null }): Promise<{ peer: AppPeer; frame: Frame; rec: RecordedPeerConnection } | null> {
    if (!ufrags.local || !ufrags.remote) return null;
    for (const p of this.#peers) {
      if (p === self) continue;
      for (const { frame, rec } of await p.recordings()) {
        const u = ufragsOf(rec);
        if (u.local === ufrags.remote && u.remote === ufrags.local) return { peer: p, frame, rec };
      }
    }
    return null;
  }

  /** A page of this session in `host`: the engine at the other end when its connection was not matched. */
  engineIn(host: string): EngineName | null {
    return this.#peers.find((p) => p.host === host)?.engine ?? null;
  }

  async close(): Promise<void> {
    await Promise.all(this.#peers.map((p) => p.close()));
    if (this.#ownFleet) await this.#fleet.close();
  }
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

const lastSdp = (rec: RecordedPeerConnection, which: 'local' | 'remote') => rec.descriptions.filter((d) => d.which === which).at(-1)?.sdp;
const ufragsOf = (rec: RecordedPeerConnection) => ({ local: ufragOf(lastSdp(rec, 'local')), remote: ufragOf(lastSdp(rec, 'remote')) });

interface AppPeerInit extends PeerName {
  index: number;
  url: string;
  dir: string;
  context: BrowserContext;
  launched: LaunchedBrowser;
  turnLogFrom: number;
  serviceLogFrom: LogMarks;
}

/** One app page in a lab host. Drive `page` with Playwright; `report()` judges its peer connections. */
export class AppPeer {
  readonly engine: EngineName;
  readonly host: string;
  /** Its place in the session, from 0 (`{index}` in `icelab open`'s URL). */
  readonly index: number;
  readonly url: string;
  readonly context: BrowserContext;
  readonly evidence: string;
  readonly version: string;
  readonly #session: AppSession;
  readonly #turnLogFrom: number;
  readonly #serviceLogFrom: LogMarks;
  readonly #console: string[] = [];
  #trace = false;
  #openedAt = 0;
  #page: Page | null = null;
  #closed = false;
  constructor(session: AppSession, o: AppPeerInit) {
    this.#session = session;
    this.engine = o.engine;
    this.host = o.host;
    this.index = o.index;
    this.url = o.url;
    this.context = o.context;
    this.evidence = o.dir;
    this.version = o.launched.version;
    this.#turnLogFrom = o.turnLogFrom;
    this.#serviceLogFrom = o.serviceLogFrom;
  }
  /** `chromium@home`. */
  get name(): string {
    return `${this.engine}@${this.host}`;
  }
  get page(): Page {
    return this.#page!;
  }

  async open(trace: boolean): Promise<void> {
    if (trace) {
      await this.context.tracing.start({ screenshots: true, snapshots: true });
      this.#trace = true;
    }
    const page = this.context.pages()[0]!;
    this.#page = page;
    const at = () => new Date().toISOString();
    page.on('console', (m) => this.#console.push(`${at()} ${m.type()} ${m.text()}`));
    page.on('pageerror', (e) => this.#console.push(`${at()} pageerror ${e.message}`));
    this.#openedAt = Date.now();
    try {
      await page.goto(this.url);
    } catch (e) {
      throw new LabError('ERR_APP_PAGE_LOAD', `${this.name}: could not load ${this.url}: ${(e as Error).message.split('\n')[0]}`, {
        cause: e,
        hint: 'check that the service serving it is up and ready (its log is in the evidence), that the URL names it (<name>.lab.test) and its scheme and port are the ones it listens on',
        context: { peer: this.name, url: this.url },
      });
    }
  }

  /** Every peer connection the app created, in every frame, in creation order. */
  async recordings(): Promise<{ frame: Frame; rec: RecordedPeerConnection }[]> {
    const out: { frame: Frame; rec: RecordedPeerConnection }[] = [];
    for (const frame of this.page.frames()) {
      const recs = await recorder(frame, 'records').catch(() => []);
      out.push(...recs.map((rec) => ({ frame, rec })));
    }
    return out;
  }

  /**
   * The peer connections that take part in a call: those with a description. One the app made and
   * never described is a probe (PeerJS's util.supports makes one when it loads) and is not judged.
   */
  async calls(): Promise<{ frame: Frame; rec: RecordedPeerConnection }[]> {
    return (await this.recordings()).filter(({ rec }) => rec.descriptions.length > 0);
  }

  /** Resolves once the app has `count` peer connections in a call; throws ERR_NO_PEER_CONNECTION after the timeout. */
  async waitForPeerConnections(opts: WaitOptions & { count?: number } = {}): Promise<void> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_APP_TIMEOUT_MS;
    const count = opts.count ?? 1;
    const t0 = performance.now();
    for (;;) {
      const n = (await this.calls()).length;
      if (n >= count) return;
      if (performance.now() - t0 > timeoutMs) {
        const made = (await this.recordings()).length;
        const what = n === 0 ? `no RTCPeerConnection in a call${made ? ` (${made} made, none given a description)` : ''}` : `${n} of ${count} RTCPeerConnections in a call`;
        throw new LabError('ERR_NO_PEER_CONNECTION', `${this.name}: ${this.page.url()} created ${what} within ${timeoutMs} ms (opened as ${this.url})`, {
          hint: 'drive the page to its call (click "join", fill the room: --run <module> with icelab open, or the Page in a test), check its console log in the evidence for errors, or give it more time (--timeout)',
          context: { peer: this.name, url: this.url },
        });
      }
      await sleep(200);
    }
  }

  /** Resolves once every peer connection is connected, failed or closed, or the timeout passed. */
  async waitForConnections(opts: WaitOptions = {}): Promise<void> {
    const t0 = performance.now();
    while (performance.now() - t0 < (opts.timeoutMs ?? DEFAULT_APP_TIMEOUT_MS)) {
      if ((await this.calls()).every(({ rec }) => settledState(stateOf(rec)))) return;
      await sleep(200);
    }
  }

  /**
   * Waits for the app's peer connections to connect and their selected pairs to settle, judges each
   * against the oracle and writes its evidence. `waited`: the session already waited for them.
   */
  async report(opts: WaitOptions & { waited?: boolean } = {}): Promise<PeerConnectionReport[]> {
    if (!opts.waited) {
      await this.waitForPeerConnections(opts);
      await this.waitForConnections(opts);
    }
    const recs = await this.calls();
    const out: PeerConnectionReport[] = [];
    for (const [i, { frame, rec }] of recs.entries()) out.push(await this.#judge(`pc-${i}`, frame, rec));
    this.#writePage();
    return out;
  }

  async #judge(id: string, frame: Frame, first: RecordedPeerConnection): Promise<PeerConnectionReport> {
    const lab = this.#session.lab;
    const isUp = connected(stateOf(first));
    const settle = isUp ? await settlePair(frame, first.id) : null;
    const final = await recorder(frame, 'pairsNow', first.id);
    const media = isUp ? await mediaFlow(frame, first.id) : {};
    const stats = (await recorder(frame, 'stats', first.id)) as { type: string }[];
    const rec = (await recorder(frame, 'records')).find((r) => r.id === first.id)!;
    const mapped = mapIceServers(rec.configChanges.at(-1)?.config ?? rec.config, lab.topology);
    const here = peerSide(lab.topology, lab.host(this.host), this.engine);
    const far = await this.#session.far(this, ufragsOf(rec));
    const addresses = [...rec.remoteCandidates.map((c) => c.candidate.split(/\s+/)[4] ?? ''), settle?.selected?.remote?.address ?? ''].filter(Boolean);
    const remote = far ? { host: far.peer.host } : remoteEndOf(lab.topology, addresses, labServices(lab));
    const remoteHost = remote && ('host' in remote ? remote.host : serviceHost(lab, remote.service));
    const there: PeerSide | null = remoteHost ? peerSide(lab.topology, lab.host(remoteHost), far?.peer.engine ?? this.#session.engineIn(remoteHost) ?? SERVICE_ENGINE) : null;
    const checks = peerChecks(rec, final, stats);
    const expected = there ? predict(here, there, mapped.ice, remote !== null && 'service' in remote ? announcementsOf(checks.received, publicAddressesOf(lab.topology)) : null) : null;
    const farChecks = far ? peerChecks(far.rec, await recorder(far.frame, 'pairsNow', far.rec.id), (await recorder(far.frame, 'stats', far.rec.id)) as { type: string }[]) : null;
    const verdict: Verdict = expected && there
      ? judgePeerConnection({ expected, connected: isUp, settled: settle?.settled ?? false, ice: mapped.ice, here: { side: here, checks }, there: { side: there, checks: farChecks }, publicNatAddresses: lab.topology.routers.filter((r) => r.upstream === null).map((r) => r.wanIp) })
      : noRemoteVerdict(addresses);
    const sel = settle?.selected ?? null;
    const selectedPair: SelectedPair | null = sel?.local && sel.remote ? { local: sel.local, remote: sel.remote, currentRoundTripTime: sel.currentRoundTripTime } : null;
    const report: PeerConnectionReport = {
      id,
      state: stateOf(rec),
      selectedPair,
      class: !isUp ? 'fail' : (verdict.settledClass ?? 'unknown'),
      remote,
      expected,
      matches: verdict.status === 'pass',
      verdict,
      media,
      iceServers: { mapped: mapped.ice, ignored: mapped.ignored },
      bothEnds: far !== null,
      timings: { createdMs: Math.round(rec.created - this.#openedAt), connectedMs: connectedAt(rec) === null ? null : Math.round(connectedAt(rec)! - this.#openedAt) },
      evidence: join(this.evidence, id),
    };
    writeEvidence(report, rec, stats, final, lab.turn.log(this.#turnLogFrom));
    return report;
  }

  /** The page's console, what it is, and each service's log while it was open. */
  #writePage(): void {
    writeServiceLogs(this.evidence, this.#session.lab.services, this.#serviceLogFrom);
    writeFileSync(join(this.evidence, 'console.log'), `${this.#console.join('\n')}\n`);
    writeFileSync(join(this.evidence, 'page.json'), JSON.stringify({ peer: this.name, engine: this.engine, version: this.version, host: this.host, url: this.url, finalUrl: this.#page?.url() ?? null }, null, 2));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#trace) await this.context.tracing.stop({ path: join(this.evidence, 'trace.zip') }).catch(() => undefined);
    this.#writePage();
    await this.context.close().catch(() => undefined);
  }
}

const connectedAt = (rec: RecordedPeerConnection): number | null => rec.timeline.find((e) => (e.what === 'connectionState' || e.what === 'iceConnectionState') && connected(e.state))?.t ?? null;

/** A service far end is predicted from what it announced; a browser from how browsers gather with the app's servers. */
const predict = (here: PeerSide, there: PeerSide, ice: IceConfig, service: FarAnnouncements | null): Prediction =>
  service ? predictFromAnnouncements(here, there, ice, service) : predictOutcome(here, there, ice);

const serviceHost = (lab: StartedLab, service: string): string | null => [...labServices(lab)].find(([, s]) => s === service)?.[0] ?? null;

function noRemoteVerdict(addresses: readonly string[]): Verdict {
  return {
    status: 'unknown',
    result: 'unknown',
    settledClass: null,
    reason: `the other end is no lab host: none of its addresses (${[...new Set(addresses)].join(', ') || 'none signalled'}) is a lab host's, a router's or a service's, so nothing can be predicted`,
    directPath: { state: 'none', pair: null, class: null },
    nominated: { a: null, b: null },
    switched: false,
  };
}

/** Polls the selected pair until it stops changing and no better pair is still being checked for `graceMs` (the app's own pages: no check times are recorded there, so this waits a fixed grace). */
async function settlePair(frame: Frame, id: number, maxMs = 6000, graceMs = 1200): Promise<{ settled: boolean; selected: PairPoll['selected'] }> {
  const start = performance.now();
  let prev: PairPoll | null = null;
  for (;;) {
    const cur = await recorder(frame, 'pair', id);
    const ms = performance.now() - start;
    const quiet = !!cur.selected && cur.contenders.every((c) => ms > (c.responsesReceived ? 2 * graceMs : graceMs));
    const same = prev?.selected?.id === cur.selected?.id && prev?.selected?.remote?.address === cur.selected?.remote?.address;
    if ((prev && quiet && same) || ms > maxMs) return { settled: ms <= maxMs, selected: cur.selected };
    prev = cur;
    await sleep(150);
  }
}

/** Inbound RTP sampled twice: a kind flows when its packet count rises (video: frames decoded too). */
async function mediaFlow(frame: Frame, id: number): Promise<MediaFlow> {
  type Rtp = { type: string; kind?: string; mediaType?: string; packetsReceived?: number; framesDecoded?: number };
  const inbound = async () => ((await recorder(frame, 'stats', id)) as Rtp[]).filter((s) => s.type === 'inbound-rtp');
  const first = await inbound();
  const rec = (await recorder(frame, 'records')).find((r) => r.id === id);
  const data = rec?.dataChannels.length ? { data: { channels: rec.dataChannels.length, open: rec.dataChannels.filter((d) => d.opened !== null && d.closed === null).length } } : {};
  if (!first.length) return data;
  await sleep(600);
  const second = await inbound();
  const flow: MediaFlow = { ...data };
  for (const kind of ['audio', 'video'] as const) {
    const sum = (list: Rtp[], k: 'packetsReceived' | 'framesDecoded') => list.filter((s) => (s.kind ?? s.mediaType) === kind).reduce((n, s) => n + (s[k] ?? 0), 0);
    if (!second.some((s) => (s.kind ?? s.mediaType) === kind)) continue;
    const packets = sum(second, 'packetsReceived');
    const frames = sum(second, 'framesDecoded');
    flow[kind] = { flowing: packets > sum(first, 'packetsReceived') && (kind === 'audio' || frames > sum(first, 'framesDecoded')), packetsReceived: packets, framesDecoded: kind === 'video' ? frames : null };
  }
  return flow;
}

/** The files a harness call writes, per peer connection (call.ts): result, SDP, candidates, getStats, timeline, turnserver.log. */
function writeEvidence(report: PeerConnectionReport, rec: RecordedPeerConnection, stats: unknown[], final: PairSnapshot, turnLog: string): void {
  const d = report.evidence;
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'result.json'), JSON.stringify(report, null, 2));
  rec.descriptions.forEach((s, i) => writeFileSync(join(d, `sdp-${i}-${s.which}-${s.type}.sdp`), s.sdp));
  writeFileSync(join(d, 'config.json'), JSON.stringify({ config: rec.config, configChanges: rec.configChanges }, null, 2));
  writeFileSync(join(d, 'candidates.json'), JSON.stringify({ local: rec.candidates, remote: rec.remoteCandidates, errors: rec.candidateErrors, addCandidateErrors: rec.addCandidateErrors }, null, 2));
  writeFileSync(join(d, 'getstats.json'), JSON.stringify(stats, null, 2));
  writeFileSync(join(d, 'getstats-samples.json'), JSON.stringify(rec.samples, null, 2));
  writeFileSync(join(d, 'ice-checks.json'), JSON.stringify({ nominations: rec.pairSnapshots, final }, null, 2));
  writeFileSync(join(d, 'timeline.txt'), timelineText(rec));
  writeFileSync(join(d, 'turnserver.log'), turnLog);
}

function timelineText(rec: RecordedPeerConnection): string {
  const rows = [
    ...rec.timeline.map((e) => ({ t: e.t, line: `${e.what} → ${e.state}` })),
    ...rec.descriptions.map((e) => ({ t: e.t, line: `${e.which} description ${e.type}` })),
    ...rec.candidates.map((c) => ({ t: c.t, line: `candidate ${c.type} ${c.protocol} ${c.address}:${c.port}` })),
    ...rec.remoteCandidates.map((c) => ({ t: c.t, line: `remote candidate (${c.via}) ${c.candidate}` })),
    ...rec.candidateErrors.map((c) => ({ t: c.t, line: `icecandidateerror ${c.errorCode} ${c.url} ${c.errorText}` })),
    ...rec.addCandidateErrors.map((c) => ({ t: c.t, line: `addIceCandidate failed: ${c.error} (${c.candidate ?? 'end-of-candidates'})` })),
  ];
  return `${rows.sort((x, y) => x.t - y.t).map((r) => `${(r.t - rec.created).toFixed(1).padStart(8)} ms  ${r.line}`).join('\n')}\n`;
}
