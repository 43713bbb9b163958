import type { ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright';
import type { StartedLab } from '../lab.ts';
import { type BrowserFleet, type LaunchedBrowser, type PeerPage } from '../browsers/fleet.ts';
import type { EngineName } from '../browsers/engines.ts';
import type { IceTransport } from '../turn/coturn.ts';
import type { Link } from '../topology/nat.ts';
import { LabError } from '../topology/errors.ts';
import { routersOf, type PlannedHost, type Topology, type TurnProviderName } from '../topology/topology.ts';
import { withIceStats } from './page-scripts.ts';
import { DIRECT_TESTED_MS, judgeCall, peerChecks, relayFirstPending, untestedDirectPath, withDirectRetest, type LocalCandidateStats, type PairSnapshot, type Verdict, type VerdictInput } from './verdict.ts';
import { classifyCall, predictOutcome, sameLan, type CandidateType, type IceConfig, type IceServerSpec, type OutcomeClass, type PairView, type PeerSide, type Prediction, type RelayProtocol } from './oracle.ts';
import { setTimeout as sleep } from 'node:timers/promises';

export type MediaKind = 'audio' | 'video' | 'data';
export interface PeerSpec {
  engine: EngineName;
  /** A LAN host of the lab (in the default topology hosts are named after their preset). */
  host: string;
}
/** One scripted call: two peers, the RTCConfiguration both use, and what flows. */
export interface CallSpec {
  a: PeerSpec;
  b: PeerSpec;
  /** Lab ICE servers both peers get; [] = none. */
  ice: readonly IceTransport[];
  policy?: 'all' | 'relay';
  bundlePolicy?: 'balanced' | 'max-bundle' | 'max-compat';
  /** Default: a data channel only. */
  media?: readonly MediaKind[];
  /** Trickle candidates (default) or send complete descriptions. */
  trickle?: boolean;
  /** How long ICE may take before the call counts as failed (default DEFAULT_CONNECT_TIMEOUT_MS). */
  connectTimeoutMs?: number;
  /** Capture the public segment (every router's WAN side and the TURN server) to wan.pcap. */
  pcap?: boolean;
}

export interface Candidate {
  type: CandidateType;
  protocol: string;
  relayProtocol: RelayProtocol | null;
  address: string | null;
  port: number | null;
  url?: string | null;
}
export interface SelectedPair {
  local: Candidate;
  remote: Candidate;
  currentRoundTripTime: number | null;
}
interface PairPoll {
  /** When the peer read its stats (its page's clock, epoch ms). */
  t: number;
  selected: (SelectedPair & { id: string; state: string }) | null;
  /** Pending pairs that outrank the selected one: a switch is still possible while one may succeed. */
  contenders: { id: string; requestsSent: number | null; responsesReceived: number }[];
  pairs: number;
}
export interface TimelineEntry {
  t: number;
  what: string;
  state: string;
}
interface AgentEvidence {
  timeline: TimelineEntry[];
  /** Remote candidates this peer's addIceCandidate() rejected. */
  addCandidateErrors: { t: number; candidate: string | null; error: string }[];
  candidates: { t: number; candidate: string; type: string; protocol: string; relayProtocol: RelayProtocol | null; address: string; port: number; url: string | null }[];
  remoteCandidates: { t: number; candidate: string; via: 'trickle' | 'sdp' }[];
  pairSnapshots: PairSnapshot[];
  candidateErrors: { t: number; errorCode: number; errorText: string; url: string; address: string | null; port: number | null }[];
  console: { t: number; level: string; text: string }[];
  created: number;
  signalingState?: string;
  connectionState?: string;
  iceConnectionState?: string;
}
/** What the agent's offer() and answer() return: the description, or the gathering that did not complete. */
type Described = { description: { type: string; sdp: string } } | { description: null; gatheringTimedOut: { waitedMs: number; state: string; candidates: number } };
type Flow = Partial<Record<'audio' | 'video', { flowing: boolean; packetsReceived: number; framesDecoded: number | null }>>;

export interface PeerReport {
  engine: EngineName;
  host: string;
  version: string;
  source: string;
  state: string;
  selectedPair: SelectedPair | null;
  candidatesByType: Record<string, number>;
  candidateErrors: AgentEvidence['candidateErrors'];
  media: Flow;
}
/** A remote candidate that did not reach a peer's ICE agent: the call was not the one the oracle judged. */
export interface SignalingError {
  /** The peer that could not add it. */
  peer: 'a' | 'b';
  /** The candidate line; null for end-of-candidates. */
  candidate: string | null;
  error: string;
}

export interface CallResult {
  /** connected = both peers reached connected; failed = not within the timeout; unavailable = an engine cannot run here. */
  outcome: 'connected' | 'failed' | 'unavailable';
  expected: Prediction;
  /** The class the settled pairs report; 'fail' when not connected, 'unknown' when connected but a pair could not be read. */
  observed: OutcomeClass | 'unknown';
  /** The evidence shows what the oracle predicted (`verdict`), and no signaling error happened. */
  matches: boolean;
  /** The prediction judged on the call's checks and candidates (ice-checks.json in the evidence). */
  verdict: Verdict;
  /** Candidates that could not be added; any makes `matches` false and is named in `reason`. */
  signalingErrors: SignalingError[];
  /** Selected pairs had stopped changing (and ICE checks had ended) when read. */
  settled: boolean;
  selectedPair: SelectedPair | null;
  peers: { a: PeerReport; b: PeerReport };
  timings: CallTimings;
  /** Why the call did not connect, or why it is not trusted (signaling errors). */
  reason?: string;
  evidence: string;
  command: string;
  /** The same call with STUN only, made when a relay was selected before the direct path was tested (runCall, relayFirstPending). */
  directRetest?: { verdict: Verdict; evidence: string; command: string };
}

/** Milliseconds from the first offer (connected, settled) and of the harness (wall, overhead, phases). */
export interface CallTimings {
  connectedMs: number | null;
  settledMs: number | null;
  wallMs: number;
  overheadMs: number | null;
  dataRttMs: number | null;
  phases: CallPhases;
}
/**
 * Harness wall time of each phase of a call, ms: open (pages leased, peer connections and tracks
 * made), negotiate (offer/answer exchanged), connect (answer accepted → both connected), settle
 * (connected → both selected pairs final; null when not connected), media (connected → flow
 * confirmed on both sides, concurrent with settle; null without audio/video or when not connected),
 * evidence (reading and writing every evidence file but result.json, which carries these numbers).
 */
export interface CallPhases {
  openMs: number;
  negotiateMs: number | null;
  connectMs: number | null;
  settleMs: number | null;
  mediaMs: number | null;
  evidenceMs: number | null;
}
/** Moments of a call, epoch ms; each peer's on its own page's clock. */
export interface CallMarks {
  /** The first offer. */
  offerAt: number;
  /** Each peer reaching connected in the first negotiation; null when it did not connect. */
  connectedAt: { a: number; b: number } | null;
  /** Each peer's last selected-pair read in settle(); null when there was none. */
  settledAt: { a: number; b: number } | null;
  /** The first negotiation as the harness timed it. */
  wallMs: number;
}

/**
 * Timings on one clock, from the first offer. A peer's settle read comes after its own connected
 * moment on the same page clock, so settledMs ≥ connectedMs.
 */
export function callTimings(m: CallMarks, dataRttMs: number | null, phases: CallPhases): CallTimings {
  const since = (t: { a: number; b: number } | null) => (t ? Math.round(Math.max(t.a, t.b) - m.offerAt) : null);
  const connectedMs = since(m.connectedAt);
  return { connectedMs, settledMs: since(m.settledAt), wallMs: Math.round(m.wallMs), overheadMs: connectedMs === null ? null : Math.round(m.wallMs) - connectedMs, dataRttMs, phases };
}

/** Bounds the wait for complete descriptions without trickle: Chromium with UDP blocked completes after 40 s (RFC 5389's 39.5 s STUN transaction timeout). */
export const GATHER_TIMEOUT_MS = 45_000;
/** Bounds the wait for media flow: the first RTP packets come within tens of ms of connecting; a kind that shows none by then does not flow. */
const MEDIA_WAIT_MS = 3000;

const AGENT = withIceStats(new URL('./peer-agent.js', import.meta.url));
/** The page that hosts calls (BrowserFleet.peerPage). */
export const PEER_PAGE = `<!doctype html><meta charset="utf-8"><title>icelab peer</title><script>${AGENT}</script>`;
const SPEC: Record<IceTransport, IceServerSpec> = {
  stun: { kind: 'stun', transport: 'udp', port: 3478 },
  'turn-udp': { kind: 'turn', transport: 'udp', port: 3478 },
  'turn-tcp': { kind: 'turn', transport: 'tcp', port: 443 },
  'turns-tcp': { kind: 'turn', transport: 'tls', port: 443 },
};

export const peerSide = (t: Topology, h: PlannedHost, engine: EngineName): PeerSide => ({ engine, routers: routersOf(t, h), firewall: h.ownFirewall });

/** What the oracle predicts a call from: both sides and the ICE configuration. */
export interface OracleInput {
  sides: { a: PeerSide; b: PeerSide };
  ice: IceConfig;
}
export function oracleInput(lab: Pick<StartedLab, 'host' | 'topology'>, spec: CallSpec): OracleInput {
  const side = (p: PeerSpec) => peerSide(lab.topology, lab.host(p.host), p.engine);
  return { sides: { a: side(spec.a), b: side(spec.b) }, ice: { servers: spec.ice.map((t) => SPEC[t]), policy: spec.policy ?? 'all' } };
}

/** The oracle's prediction for a call in a lab. */
export function expectedOutcome(lab: Pick<StartedLab, 'host' | 'topology'>, spec: CallSpec): Prediction {
  const { sides, ice } = oracleInput(lab, spec);
  return predictOutcome(sides.a, sides.b, ice);
}

/** `icelab connect`'s defaults: the reproducing command leaves out what equals them. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 8000;
const DEFAULT_MEDIA: readonly MediaKind[] = ['data'];

/** How the call's lab was made, for the command that reproduces the call. */
export interface ReproduceOptions {
  /** The file the lab's topology came from (`--topology`); null: hosts named after presets (the default and the suites' topology). */
  topologyFile: string | null;
  /** The lab's TURN provider (`--turn`). */
  turnProvider: TurnProviderName;
  /** The lab that is up the call ran in (`connect --lab`); null: a lab of the call's own. */
  lab: string | null;
}

/** Where a call's lab came from, for the command that reproduces it: a topology file, a lab that is up, or neither (presets). */
export type CallOrigin = { topology?: string; lab?: never } | { lab: string; topology?: never };

/** An argument as a POSIX shell reads it back. */
const shellWord = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** The `icelab connect` command line that reproduces a call: every setting that differs from connect's default. */
export function connectCommand(spec: CallSpec, lab: ReproduceOptions): string {
  const media = spec.media ?? DEFAULT_MEDIA;
  const timeout = spec.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  return [
    'npx icelab connect',
    `--a ${spec.a.engine}@${spec.a.host}`,
    `--b ${spec.b.engine}@${spec.b.host}`,
    `--ice ${spec.ice.length ? spec.ice.join(',') : 'none'}`,
    ...(spec.policy === 'relay' ? ['--policy relay'] : []),
    ...(spec.bundlePolicy && spec.bundlePolicy !== 'balanced' ? [`--bundle-policy ${spec.bundlePolicy}`] : []),
    ...(media.join(',') !== DEFAULT_MEDIA.join(',') ? [`--media ${media.join(',')}`] : []),
    ...(spec.trickle === false ? ['--no-trickle'] : []),
    ...(timeout !== DEFAULT_CONNECT_TIMEOUT_MS ? [`--timeout ${timeout}`] : []),
    ...(lab.lab ? [`--lab ${shellWord(lab.lab)}`] : []),
    ...(!lab.lab && lab.turnProvider !== 'process' ? [`--turn ${lab.turnProvider}`] : []),
    ...(!lab.lab && lab.topologyFile !== null ? [`--topology ${shellWord(lab.topologyFile)}`] : []),
    ...(spec.pcap ? ['--pcap'] : []),
  ].join(' ');
}

/** How a peer's connect wait ended: its state then (peer-agent.js waitConnected). */
type ConnectEnd = { state: string; t: number };
type AgentMessage = { id: string; type: string; candidate?: unknown };
/** Per page: the exposed binding (once) and the calls it routes the agent's messages to, by peer id. */
interface Route {
  bound: Promise<unknown>;
  to: Map<string, (msg: AgentMessage) => void>;
}
const routes = new WeakMap<Page, Route>();
function routeOf(page: Page): Route {
  const known = routes.get(page);
  if (known) return known;
  const to = new Map<string, (msg: AgentMessage) => void>();
  const r: Route = { to, bound: page.exposeBinding('icelabEmit', (_src, msg: AgentMessage) => to.get(msg.id)?.(msg)) };
  routes.set(page, r);
  return r;
}
let peerIds = 0;

/** One side of a call: its peer connection on a shared page, addressed by its id. */
class Peer {
  readonly name: 'a' | 'b';
  readonly spec: PeerSpec;
  readonly page: Page;
  readonly launched: LaunchedBrowser;
  /** The agent's key for this side's state on the page. */
  readonly id: string;
  readonly #leased: PeerPage;
  constructor(name: 'a' | 'b', spec: PeerSpec, leased: PeerPage) {
    this.name = name;
    this.spec = spec;
    this.page = leased.page;
    this.launched = leased.launched;
    this.#leased = leased;
    this.id = `${name}${++peerIds}`;
  }
  call<T>(method: string, ...args: unknown[]): Promise<T> {
    return this.page.evaluate(([m, id, a]) => (window as unknown as { icelab: Record<string, (...x: unknown[]) => unknown> }).icelab[m as string]!(id, ...(a as unknown[])), [method, this.id, args] as const) as Promise<T>;
  }
  /** Routes the agent's messages for this side to `on`. */
  async listen(on: (msg: AgentMessage) => void): Promise<void> {
    const r = routeOf(this.page);
    r.to.set(this.id, on);
    await r.bound;
  }
  /** Frees this side's state on the page and the lease. */
  async close(): Promise<void> {
    routes.get(this.page)?.to.delete(this.id);
    await this.call('close').catch(() => undefined);
    await this.#leased.release();
  }
}

const samePair = (x: PairPoll['selected'], y: PairPoll['selected']) => x?.id === y?.id && x?.local?.address === y?.local?.address && x?.remote?.address === y?.remote?.address;
const since = (t0: number) => Math.round(performance.now() - t0);

/**
 * How long an unanswered check holds settle up; peer-agent.js pairView says why each. `relay`: a
 * direct pair while a relay is selected, from its first check (DIRECT_TESTED_MS: how long the
 * verdict needs it checked to let the relay stand). `switch`: a pair that outranks a selected
 * direct pair, from when it appeared or the call connected (the later).
 */
export const CHECK_GRACE_MS = { relay: DIRECT_TESTED_MS, switch: 300 } as const;
/**
 * How long a side behind a NAT may hold the other side's trickled candidates for its own srflx
 * (peer-agent.js init, srflxFirstMs): the lab's STUN answer takes milliseconds; past this the STUN
 * server is not answering and the candidates go in.
 */
export const SRFLX_FIRST_MS = 300;

/**
 * How long a predicted failure's mechanism must hold before the call stops waiting for a
 * connection (Call.#failProven): every candidate gathered, checks sent, none answered, and no new
 * candidate or pair on either side meanwhile; besides, every pair that could carry a path must have
 * been checked that long, on both sides (untestedDirectPath, DIRECT_TESTED_MS: the rule a relay
 * stands on). In the lab a check that gets through is answered within milliseconds, and by then
 * both engines have re-sent an unanswered one (Firefox at 100 and 300 ms, Chromium every ≈ 50 ms
 * while no pair is writable). A call predicted to connect always waits the whole connect timeout.
 */
export const FAIL_PROOF_MS = DIRECT_TESTED_MS;
/** How long tcpdump may take to open the public segment's interface (--pcap). */
const PCAP_READY_MS = 10_000;
/** How often the proof reads both peers' evidence (about 20 ms of page calls each time). */
const FAIL_POLL_MS = 100;

/**
 * A call between two browsers in the lab, signaling relayed by the harness. Each side is a peer
 * connection on its engine's long-lived page in its host (BrowserFleet.peerPage), so many calls
 * share one page. Evidence is written to `dir` whatever happens; `result()` compares the settled
 * pair with the oracle.
 */
export class Call implements AsyncDisposable {
  readonly spec: CallSpec;
  readonly dir: string;
  readonly expected: Prediction;
  readonly #lab: StartedLab;
  readonly #peers: { a: Peer; b: Peer };
  readonly #turnLogFrom: number;
  readonly #sdp: { t: number; from: 'a' | 'b'; type: string; sdp: string }[] = [];
  /** Candidates the harness could not hand to a page at all (the agent records its own rejections). */
  readonly #relayErrors: SignalingError[] = [];
  #pcap: ChildProcess | null = null;
  /** The first negotiation's marks; null until negotiate() was called. */
  #first: Omit<CallMarks, 'settledAt'> | null = null;
  /** Phases measured so far (open, then the first negotiation's). */
  readonly #phases: CallPhases;
  /** negotiate() was called (a failed negotiation still gets a result). */
  #negotiated = false;
  /** When a predicted failure's mechanism was proven, ms after the answer was accepted; null: it was not (or not tried). */
  #failProvenMs: number | null = null;
  #closed = false;

  private constructor(lab: StartedLab, spec: CallSpec, dir: string, peers: { a: Peer; b: Peer }) {
    this.#lab = lab;
    this.spec = spec;
    this.dir = dir;
    this.#peers = peers;
    this.expected = expectedOutcome(lab, spec);
    this.#turnLogFrom = lab.turn.logSize();
    this.#phases = { openMs: 0, negotiateMs: null, connectMs: null, settleMs: null, mediaMs: null, evidenceMs: null };
  }

  /** Leases both pages (launching browsers on first use) and creates the peer connections. */
  static async open(lab: StartedLab, fleet: BrowserFleet, spec: CallSpec, dir: string): Promise<Call> {
    const t0 = performance.now();
    mkdirSync(dir, { recursive: true });
    lab.host(spec.a.host);
    lab.host(spec.b.host);
    const [oa, ob] = await Promise.allSettled([fleet.peerPage(spec.a.engine, spec.a.host, PEER_PAGE), fleet.peerPage(spec.b.engine, spec.b.host, PEER_PAGE)]);
    if (oa.status === 'rejected' || ob.status === 'rejected') {
      for (const o of [oa, ob]) if (o.status === 'fulfilled') await o.value.release();
      throw (oa.status === 'rejected' ? oa.reason : (ob as PromiseRejectedResult).reason) as Error;
    }
    const call = new Call(lab, spec, dir, { a: new Peer('a', spec.a, oa.value), b: new Peer('b', spec.b, ob.value) });
    try {
      await call.#init();
    } catch (e) {
      await call.close();
      throw e;
    }
    call.#phases.openMs = since(t0);
    return call;
  }

  /**
   * Remote addresses a side's checks can never reach: the other side's host address when that side
   * is behind a NAT on another LAN (the lab routes no private LAN to another). Their pairs never
   * hold settle up; the verdict ignores them likewise (couldCarry).
   */
  #unreachable(): { a: string[]; b: string[] } {
    const { sides } = oracleInput(this.#lab, this.spec);
    const lan = sameLan(sides.a, sides.b);
    const hidden = (p: PeerSpec) => (!lan && this.#lab.host(p.host).nat !== null ? [this.#lab.host(p.host).ip] : []);
    return { a: hidden(this.spec.b), b: hidden(this.spec.a) };
  }

  /**
   * A side whose srflx a public peer's answer can beat: it gathers a srflx (behind a NAT, all
   * candidates, a server that answers STUN over UDP) and the other side is public, so its first
   * checks are answered with no filter to open. Only there: behind two NATs the checks' own timing
   * (who opens a filter first) is part of what the call tests.
   */
  #srflxFirst(p: PeerSpec): boolean {
    const other = p === this.spec.a ? this.spec.b : this.spec.a;
    return (this.spec.policy ?? 'all') === 'all' && this.#lab.host(p.host).nat !== null && this.#lab.host(other.host).nat === null && this.spec.ice.some((t) => t === 'stun' || t === 'turn-udp');
  }

  async #init(): Promise<void> {
    const { a, b } = this.#peers;
    const trickle = this.spec.trickle ?? true;
    for (const [from, to] of [
      [a, b],
      [b, a],
    ] as const) {
      await from.listen((msg) => {
        if (msg.type !== 'candidate' || !trickle) return;
        const candidate = (msg.candidate as { candidate?: string } | null)?.candidate ?? null;
        to.call('addCandidate', msg.candidate).catch((e: Error) => this.#relayErrors.push({ peer: to.name, candidate, error: e.message.split('\n')[0]! }));
      });
    }
    const config = {
      iceServers: this.spec.ice.flatMap((t) => this.#lab.iceServers(t)),
      iceTransportPolicy: this.spec.policy ?? 'all',
      ...(this.spec.bundlePolicy ? { bundlePolicy: this.spec.bundlePolicy } : {}),
    };
    const media = this.spec.media ?? ['data'];
    if (this.spec.pcap) this.#pcap = await this.#startPcap();
    const unreachable = this.#unreachable();
    const init = (p: Peer, role: 'offerer' | 'answerer') => p.call('init', { config, media, role, unreachable: unreachable[p.name], switchGraceMs: CHECK_GRACE_MS.switch, relayGraceMs: CHECK_GRACE_MS.relay, srflxFirstMs: this.#srflxFirst(p.spec) ? SRFLX_FIRST_MS : 0 });
    await Promise.all([init(a, 'offerer'), init(b, 'answerer')]);
  }

  /**
   * Offer/answer (the first, an ICE restart, or a renegotiation) and wait until both peers are
   * connected or the connect timeout passes. Without trickle each side first waits for complete
   * gathering, at most `gatherTimeoutMs`. Resolves true when both are connected.
   */
  async negotiate({ iceRestart = false, gatherTimeoutMs = GATHER_TIMEOUT_MS } = {}): Promise<boolean> {
    const { a, b } = this.#peers;
    const trickle = this.spec.trickle ?? true;
    const t0 = performance.timeOrigin + performance.now();
    const wall0 = performance.now();
    this.#negotiated = true;
    const offered = await a.call<Described & { offeredAt: number | null }>('offer', { iceRestart, trickle, gatherTimeoutMs });
    const offer = this.#described(a, offered);
    this.#sdp.push({ t: Date.now(), from: 'a', ...offer });
    const answer = this.#described(b, await b.call<Described>('answer', offer, { trickle, gatherTimeoutMs }));
    this.#sdp.push({ t: Date.now(), from: 'b', ...answer });
    await a.call('accept', answer);
    const accepted = performance.now();
    const timeout = this.spec.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const ends = await this.#waitConnected(accepted, timeout);
    const ok = ends !== null && [ends.a, ends.b].every((c) => c.state === 'connected' || c.state === 'completed');
    if (!this.#first) {
      this.#first = { offerAt: Math.min(offered.offeredAt ?? t0, t0), connectedAt: ok ? { a: ends.a.t, b: ends.b.t } : null, wallMs: performance.now() - wall0 };
      this.#phases.negotiateMs = Math.round(accepted - wall0);
      this.#phases.connectMs = since(accepted);
    }
    return ok;
  }

  /** Both peers' connect waits; null when a predicted failure was proven first (#failProven). */
  async #waitConnected(accepted: number, timeout: number): Promise<{ a: ConnectEnd; b: ConnectEnd } | null> {
    const { a, b } = this.#peers;
    const waits = Promise.all([a.call<ConnectEnd>('waitConnected', timeout), b.call<ConnectEnd>('waitConnected', timeout)]).then(([ea, eb]) => ({ a: ea, b: eb }));
    if (this.expected.outcome !== 'fail' || this.#first) return waits;
    waits.catch(() => undefined); // left waiting when the failure is proven first: the pages' own bound (timeout) ends it
    return Promise.race([waits, this.#failProven(accepted, accepted + timeout).then((proven) => (proven ? null : waits))]);
  }

  /**
   * For a predicted failure: true once its mechanism has held for FAIL_PROOF_MS, judged on the
   * evidence as result() judges it (every candidate the configuration allows gathered, checks sent,
   * no pair answered), with no new candidate or pair on either side meanwhile; false at `until`.
   */
  async #failProven(from: number, until: number): Promise<boolean> {
    let seen = '';
    let quietFrom = performance.now();
    while (performance.now() + FAIL_POLL_MS < until) {
      await sleep(FAIL_POLL_MS);
      const checks = await this.#checksNow();
      const now = JSON.stringify([checks.a, checks.b].map((c) => [c.gathered.length, c.received.length, c.final.pairs.map((p) => p.id).sort()]));
      if (now !== seen) [seen, quietFrom] = [now, performance.now()];
      else if (performance.now() - quietFrom >= FAIL_PROOF_MS && this.#failsAsPredicted(checks)) {
        this.#failProvenMs = since(from);
        return true;
      }
    }
    return false;
  }

  /** Both peers' ICE evidence as it is now (the verdict's input), their current pairs as `final`. */
  async #checksNow(): Promise<VerdictInput['checks']> {
    const read = async (p: Peer) => {
      const [ev, pairs, stats] = await Promise.all([p.call<AgentEvidence>('evidence'), p.call<PairSnapshot>('pairsNow'), p.call<LocalCandidateStats[]>('stats')]);
      return peerChecks(ev, pairs, stats);
    };
    const [a, b] = await Promise.all([read(this.#peers.a), read(this.#peers.b)]);
    return { a, b };
  }

  /** The verdict on these checks, unconnected, is the predicted failure, on pairs each checked FAIL_PROOF_MS or more. */
  #failsAsPredicted(checks: VerdictInput['checks']): boolean {
    const input: VerdictInput = { expected: this.expected, connected: false, settled: false, checks, ...oracleInput(this.#lab, this.spec) };
    return judgeCall(input).status === 'pass' && untestedDirectPath(input) === null;
  }

  /** The description a peer made, or the gathering timeout it ran into. */
  #described(peer: Peer, d: Described): { type: string; sdp: string } {
    if (d.description) return d.description;
    const g = d.gatheringTimedOut;
    throw new LabError('ERR_ICE_GATHERING_TIMEOUT', `${peer.name.toUpperCase()} (${peer.spec.engine}@${peer.spec.host}): ICE gathering did not complete within ${g.waitedMs} ms without trickle; last iceGatheringState "${g.state}", ${g.candidates} candidates gathered`, {
      hint: 'a complete description waits for every ICE server to answer or time out: check that the ICE servers are reachable from the host, pass a larger gatherTimeoutMs to negotiate(), or trickle candidates (drop --no-trickle)',
      context: { peer: peer.name, host: peer.spec.host, engine: peer.spec.engine },
    });
  }

  /** An ICE restart: A offers new ICE credentials (negotiate({ iceRestart: true })); after the first negotiate() only. */
  async iceRestart(): Promise<boolean> {
    this.#requireNegotiated('iceRestart()');
    return this.negotiate({ iceRestart: true });
  }

  #requireNegotiated(what: string): void {
    if (this.#negotiated) return;
    throw new LabError('ERR_CALL_NOT_NEGOTIATED', `Call.${what} before any negotiate(): the peers have not exchanged an offer and answer yet`, {
      hint: 'await call.negotiate() after Call.open() first (runCall does open, negotiate and result in order)',
    });
  }

  /**
   * Waits until neither selected pair can change any more (Chromium may nominate a relay pair and
   * switch to a direct one later): each agent decides at its ICE events and stats samples that its
   * pair is selected and no check that could change it is live (CHECK_GRACE_MS, peer-agent.js
   * pairView); then both are read once more, and settle goes on if either changed meanwhile.
   */
  async settle(maxMs = 6000): Promise<{ settled: boolean; a: PairPoll; b: PairPoll; ms: number }> {
    const { a, b } = this.#peers;
    const start = performance.now();
    for (;;) {
      const left = Math.max(0, maxMs - (performance.now() - start));
      const [sa, sb] = await Promise.all([a.call<PairPoll & { settled: boolean }>('settle', left), b.call<PairPoll & { settled: boolean }>('settle', left)]);
      if (!sa.settled || !sb.settled) return { settled: false, a: sa, b: sb, ms: performance.now() - start };
      const [pa, pb] = await Promise.all([a.call<PairPoll>('pair'), b.call<PairPoll>('pair')]);
      const quiet = samePair(sa.selected, pa.selected) && samePair(sb.selected, pb.selected) && !pa.contenders.length && !pb.contenders.length;
      if (quiet) return { settled: true, a: pa, b: pb, ms: performance.now() - start };
    }
  }

  /** Inbound media per kind, confirmed by the first stats samples that show packets (and frames) rising. */
  async #mediaFlow(peer: Peer): Promise<Flow> {
    const kinds = (this.spec.media ?? []).filter((m): m is 'audio' | 'video' => m !== 'data');
    return kinds.length ? peer.call<Flow>('mediaFlow', kinds, { maxMs: MEDIA_WAIT_MS }) : {};
  }

  // Operations during a call.
  /** Renegotiation: A adds a track and offers again. */
  async addTrack(kind: 'audio' | 'video'): Promise<boolean> {
    await this.#peers.a.call('addTrack', kind);
    return this.negotiate();
  }
  flushMappings(router?: string): Promise<void> {
    return this.#lab.network.flushMappings(router);
  }
  setLink(node: string, link: Link | null): Promise<void> {
    return this.#lab.network.setLink(node, link);
  }
  restartTurn(): Promise<void> {
    return this.#lab.turn.restart();
  }
  /** Current connection state of each peer. */
  async states(): Promise<{ a: string; b: string }> {
    const [ea, eb] = await Promise.all([this.#peers.a.call<AgentEvidence>('evidence'), this.#peers.b.call<AgentEvidence>('evidence')]);
    return { a: ea.connectionState ?? ea.iceConnectionState ?? '?', b: eb.connectionState ?? eb.iceConnectionState ?? '?' };
  }
  /** Data-channel round trip in ms; null when no echo came back within `timeoutMs` (or no channel is open). */
  async dataRtt(timeoutMs = 2000): Promise<number | null> {
    const r = await this.#peers.a.call<number | null>('ping', timeoutMs);
    return r === null ? null : Math.round(r * 10) / 10;
  }

  /**
   * Settles, measures flow, writes every piece of evidence and compares with the oracle; after
   * negotiate() only. `topology`: the file the lab's topology came from, for the reproducing
   * command (absent: hosts named after presets).
   */
  async result(opts: CallOrigin = {}): Promise<CallResult> {
    const judged = await this.judge(opts);
    await judged.written;
    return judged.result;
  }

  /**
   * result() in two steps: the result as soon as it is known, and the evidence files being written
   * (`written`; result.json last). runCall closes the call while the files are written.
   */
  async judge(opts: CallOrigin = {}): Promise<{ result: CallResult; written: Promise<void> }> {
    this.#requireNegotiated('result()');
    const { a, b } = this.#peers;
    const states = await this.states();
    const connected = [states.a, states.b].every((s) => s === 'connected' || s === 'completed');
    const t0 = performance.now();
    // Settle and media run side by side: flow needs no settled pair, only a connected transport.
    const settling = (async () => {
      const settle = connected ? await this.settle() : null;
      const settleMs = connected ? since(t0) : null;
      // The pairs as they settled, before later reads give the agents time to change them.
      const [finalA, finalB] = await Promise.all([a.call<PairSnapshot>('pairsNow'), b.call<PairSnapshot>('pairsNow')]);
      return { settle, settleMs, finalA, finalB };
    })();
    const flowing = (async () => {
      const [flowA, flowB] = connected ? await Promise.all([this.#mediaFlow(a), this.#mediaFlow(b)]) : [{}, {}];
      return { flowA, flowB, mediaMs: connected && Object.keys(flowA).length ? since(t0) : null };
    })();
    const rtt = connected && (this.spec.media ?? ['data']).includes('data') ? this.dataRtt() : Promise.resolve(null);
    const [{ settle, settleMs, finalA, finalB }, { flowA, flowB, mediaMs }, dataRttMs] = await Promise.all([settling, flowing, rtt]);
    this.#phases.settleMs = settleMs;
    this.#phases.mediaMs = mediaMs;
    const e0 = performance.now();
    const pairs = settle ? { a: settle.a.selected, b: settle.b.selected } : { a: null, b: null };
    const [evA, evB, statsA, statsB] = await Promise.all([a.call<AgentEvidence>('evidence'), b.call<AgentEvidence>('evidence'), a.call<LocalCandidateStats[]>('stats'), b.call<LocalCandidateStats[]>('stats')]);
    const checks = { a: peerChecks(evA, finalA, statsA), b: peerChecks(evB, finalB, statsB) };
    const judged: VerdictInput = { expected: this.expected, connected, settled: settle?.settled ?? false, checks, ...oracleInput(this.#lab, this.spec) };
    const verdict = judgeCall(judged);
    const view = (p: SelectedPair | null): PairView[] =>
      p ? [{ local: { type: p.local.type, protocol: p.local.protocol, ...(p.local.relayProtocol ? { relayProtocol: p.local.relayProtocol } : {}) }, remote: { type: p.remote.type } }] : [];
    const observed = !connected ? 'fail' : pairs.a && pairs.b ? classifyCall(...view(pairs.a), ...view(pairs.b)) : 'unknown';
    const report = (p: Peer, ev: AgentEvidence, pair: SelectedPair | null, media: Flow): PeerReport => ({
      engine: p.spec.engine,
      host: p.spec.host,
      version: p.launched.version,
      source: p.launched.found.source,
      state: ev.connectionState ?? ev.iceConnectionState ?? '?',
      selectedPair: pair ? { local: pair.local, remote: pair.remote, currentRoundTripTime: pair.currentRoundTripTime } : null,
      candidatesByType: ev.candidates.reduce<Record<string, number>>((m, c) => ((m[c.type] = (m[c.type] ?? 0) + 1), m), {}),
      candidateErrors: ev.candidateErrors,
      media,
    });
    const command = connectCommand(this.spec, { topologyFile: opts.topology ?? null, turnProvider: this.#lab.topology.turn[0]!.provider, lab: opts.lab ?? null });
    const rejected = (peer: 'a' | 'b', ev: AgentEvidence): SignalingError[] => ev.addCandidateErrors.map((e) => ({ peer, candidate: e.candidate, error: e.error }));
    const signalingErrors = [...this.#relayErrors, ...rejected('a', evA), ...rejected('b', evB)];
    const reasons = [
      ...(connected ? [] : [this.#notConnected(states)]),
      ...(signalingErrors.length ? [signalingReason(signalingErrors)] : []),
      ...verdictReasons(verdict),
    ];
    const phases = this.#phases;
    const result: CallResult = {
      outcome: connected ? 'connected' : 'failed',
      expected: this.expected,
      observed,
      matches: verdict.status === 'pass' && signalingErrors.length === 0,
      verdict,
      signalingErrors,
      settled: settle?.settled ?? false,
      selectedPair: pairs.a ? { local: pairs.a.local, remote: pairs.a.remote, currentRoundTripTime: pairs.a.currentRoundTripTime } : null,
      peers: { a: report(a, evA, pairs.a, flowA), b: report(b, evB, pairs.b, flowB) },
      timings: this.#first ? callTimings({ ...this.#first, settledAt: settle ? { a: settle.a.t, b: settle.b.t } : null }, dataRttMs, phases) : { connectedMs: null, settledMs: null, wallMs: 0, overheadMs: null, dataRttMs, phases },
      ...(reasons.length ? { reason: reasons.join('; ') } : {}),
      evidence: this.dir,
      command,
    };
    this.#stopPcap();
    const written = (async () => {
      // Everything the verdict read: judgeCall() on ice-checks.json gives the verdict again.
      await Promise.all([this.#write({ a: evA, b: evB }, { a: statsA, b: statsB }), writeFile(join(this.dir, 'ice-checks.json'), JSON.stringify(judged, null, 2))]);
      phases.evidenceMs = since(e0);
      await writeFile(join(this.dir, 'result.json'), JSON.stringify(result, null, 2));
    })();
    return { result, written };
  }

  #notConnected(states: { a: string; b: string }): string {
    const end = this.#failProvenMs === null
      ? `within ${this.spec.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS} ms`
      : `after ${this.#failProvenMs} ms, when the predicted failure's mechanism had held for ${FAIL_PROOF_MS} ms with no new candidate or pair, every pair checked that long`;
    return `not connected ${end} (A ${states.a}, B ${states.b})`;
  }

  /**
   * tcpdump on the public segment, once it captures: it says "listening on br0" on stderr when the
   * interface is open. --immediate-mode: without it the kernel hands packets over in blocks, and a
   * call shorter than the block timeout ended with "0 packets captured, 139 received by filter".
   */
  async #startPcap(): Promise<ChildProcess> {
    const pcap = this.#lab.network.spawn('pub', ['tcpdump', '-i', 'br0', '--immediate-mode', '-U', '-n', '-w', join(this.dir, 'wan.pcap')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let said = '';
    const listening = new Promise<void>((resolve, reject) => {
      const fail = (why: string, hint: string) => reject(new LabError('ERR_PCAP', `tcpdump on the lab's public segment ${why}: ${said.trim() || 'no output'}`, { hint }));
      const timer = setTimeout(() => fail(`did not start capturing within ${PCAP_READY_MS} ms`, 'the machine may be overloaded: run the call again'), PCAP_READY_MS);
      pcap.stderr!.on('data', (d: Buffer) => {
        said += d.toString();
        if (!/listening on/.test(said)) return;
        clearTimeout(timer);
        resolve();
      });
      pcap.once('exit', (code) => {
        clearTimeout(timer);
        fail(`exited (${code}) before capturing`, 'is tcpdump installed (apt-get install tcpdump)?');
      });
    });
    try {
      await listening;
      return pcap;
    } catch (e) {
      pcap.kill('SIGKILL');
      throw e;
    }
  }

  #stopPcap(): void {
    this.#pcap?.kill('SIGINT');
    this.#pcap = null;
  }

  /** Every evidence file but result.json and ice-checks.json, written at once. */
  async #write(ev: { a: AgentEvidence; b: AgentEvidence }, stats: { a: unknown[]; b: unknown[] }): Promise<void> {
    const d = this.dir;
    const file = (name: string, body: string) => writeFile(join(d, name), body);
    await Promise.all([
      ...this.#sdp.map((s, i) => file(`sdp-${i}-${s.from}-${s.type}.sdp`, s.sdp)),
      ...(['a', 'b'] as const).flatMap((p) => [
        file(`candidates-${p}.json`, JSON.stringify({ candidates: ev[p].candidates, errors: ev[p].candidateErrors }, null, 2)),
        file(`getstats-${p}.json`, JSON.stringify(stats[p], null, 2)),
        file(`console-${p}.log`, ev[p].console.map((c) => `${new Date(c.t).toISOString()} ${c.level} ${c.text}`).join('\n')),
      ]),
      file('timeline.txt', timelineText(this.#first?.offerAt ?? ev.a.created, ev, this.#relayErrors)),
      file('turnserver.log', this.#lab.turn.log(this.#turnLogFrom)),
    ]);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopPcap();
    await Promise.all(Object.values(this.#peers).map((p) => p.close()));
  }
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** "B could not add A's candidate … (OperationError: …)" for the first few, then how many more. */
function signalingReason(errors: readonly SignalingError[]): string {
  const one = (e: SignalingError) => `${e.peer.toUpperCase()} could not add ${e.peer === 'a' ? "B's" : "A's"} ${e.candidate === null ? 'end-of-candidates' : `candidate "${e.candidate}"`} (${e.error})`;
  const more = errors.length > 3 ? `, and ${errors.length - 3} more` : '';
  return `${errors.length} remote candidate${errors.length === 1 ? '' : 's'} not added, so ICE did not have the candidates the prediction assumes: ${errors.slice(0, 3).map(one).join('; ')}${more}`;
}

/** Both peers' states and candidates on one clock, relative to the offer. */
function timelineText(t0: number, ev: { a: AgentEvidence; b: AgentEvidence }, errors: readonly SignalingError[]): string {
  const rows = (['a', 'b'] as const).flatMap((p) => [
    ...ev[p].timeline.map((e) => ({ t: e.t, line: `${p.toUpperCase()} ${e.what} → ${e.state}` })),
    ...ev[p].candidates.map((c) => ({ t: c.t, line: `${p.toUpperCase()} candidate ${c.type} ${c.protocol} ${c.address}:${c.port}` })),
    ...ev[p].candidateErrors.map((c) => ({ t: c.t, line: `${p.toUpperCase()} icecandidateerror ${c.errorCode} ${c.url} ${c.errorText}` })),
  ]);
  return [
    ...rows.sort((x, y) => x.t - y.t).map((r) => `${(r.t - t0).toFixed(1).padStart(8)} ms  ${r.line}`),
    ...errors.map((e) => `signaling error: ${e.peer.toUpperCase()} was not given ${e.candidate ?? 'end-of-candidates'}: ${e.error}`),
    '',
  ].join('\n');
}

/**
 * Runs one call start to finish: open, negotiate, result, close. The call closes while its evidence
 * is written; it returns once every file is (evidence is written even on failure). A relay
 * selected before the direct path was tested (nominated while a predicted direct path was being
 * checked, or a predicted relay on untested direct pairs) is decided by the same call with STUN
 * only (withDirectRetest), whose evidence is in `direct-retest/` of `dir`.
 */
export async function runCall(lab: StartedLab, fleet: BrowserFleet, spec: CallSpec, dir: string, opts: CallOrigin = {}): Promise<CallResult> {
  const r = await callOnce(lab, fleet, spec, dir, opts);
  if (!relayFirstPending(r.verdict) || r.signalingErrors.length) return r;
  const decided = decidedByRetest(r, await callOnce(lab, fleet, directOnly(spec), join(dir, 'direct-retest'), opts));
  await writeFile(join(dir, 'result.json'), JSON.stringify(decided, null, 2));
  return decided;
}

/** A relay-first call's result decided by its STUN-only retest (withDirectRetest), which goes with it. */
export function decidedByRetest(r: CallResult, retest: CallResult): CallResult {
  const verdict = withDirectRetest(r.verdict, r.expected, retest.verdict);
  // Connected without signaling errors (relayFirstPending), so the verdict was the only reason.
  const { reason: _first, ...rest } = r;
  const [reason] = verdictReasons(verdict);
  return {
    ...rest,
    verdict,
    matches: verdict.status === 'pass',
    ...(reason ? { reason } : {}),
    directRetest: { verdict: retest.verdict, evidence: retest.evidence, command: retest.command },
  };
}

/** What a verdict adds to a result's reason: nothing when it passed, else "<status>: <reason>". */
const verdictReasons = (v: Verdict): string[] => (v.status === 'pass' ? [] : [`${v.status}: ${v.reason}`]);

/** The call with its STUN server only, every other setting kept: what the NATs allow without a relay. */
export const directOnly = (spec: CallSpec): CallSpec => ({ ...spec, ice: spec.ice.filter((t) => t === 'stun'), policy: 'all' });

async function callOnce(lab: StartedLab, fleet: BrowserFleet, spec: CallSpec, dir: string, opts: CallOrigin): Promise<CallResult> {
  const call = await Call.open(lab, fleet, spec, dir);
  let written: Promise<void> = Promise.resolve();
  try {
    await call.negotiate();
    const judged = await call.judge(opts);
    written = judged.written;
    return judged.result;
  } finally {
    await Promise.all([call.close(), written]);
  }
}
