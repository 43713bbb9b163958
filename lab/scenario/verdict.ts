import { LabError } from '../topology/errors.ts';
import { classifyCall, hasStun, outcomeMatches, sameLan, tcpOk, tieContradiction, toInternet, udpOk, type CandidateType, type RelayCandidateStats, type IceConfig, type OutcomeClass, type PairView, type Peer, type PeerSide, type Prediction, type RelayProtocol } from './oracle.ts';

/**
 * The verdict on a call: whether its evidence shows what the oracle predicted, not only whether
 * the settled pair's class reads the same. Pure: it reads the candidates and the candidate-pair
 * stats both peers recorded (`PeerChecks`) and says pass, unexpected or unknown, with why.
 *
 * - A peer-reflexive candidate is a trickle race only when its transport address is a candidate
 *   the other side did signal to this peer; any other prflx is a NAT mapping of its own.
 * - A direct prediction that settles on a relay passes when a direct pair's check succeeded on
 *   either side (the NAT allowed the direct path; the agent nominated what answered first). When
 *   none did but some were still running as the relay was nominated, the direct path was never
 *   tested: the result says so (RELAY_FIRST_PENDING) and only a listed deviation accepts it.
 * - A relay prediction with a direct pair that succeeded is unexpected: a NAT or firewall leaks.
 * - A failure passes only by its mechanism: every candidate the configuration allows was
 *   gathered, checks were sent and no pair succeeded. Otherwise the call proves nothing about the
 *   NATs and the verdict is unknown, as it is for a connected call whose pair cannot be read or
 *   whose pairs had not settled.
 */

/** A candidate as a peer's getStats reports it (RTCIceCandidateStats). */
export interface StatsCandidate {
  type: CandidateType;
  protocol: string;
  relayProtocol: RelayProtocol | null;
  /** Chromium hides a remote peer-reflexive candidate's address (empty). */
  address: string | null;
  port: number | null;
}
/** One candidate pair and its connectivity checks (RTCIceCandidatePairStats). */
export interface PairStats {
  id: string;
  state: string;
  nominated: boolean;
  /** Firefox leaves requestsSent and requestsReceived out. */
  requestsSent: number | null;
  responsesReceived: number | null;
  requestsReceived: number | null;
  local: StatsCandidate | null;
  remote: StatsCandidate | null;
}
/** Every pair of one peer at one moment, and which one was selected then. */
export interface PairSnapshot {
  t: number;
  selectedId: string | null;
  pairs: PairStats[];
}
/** A candidate from its candidate line (RFC 8839 section 5.1). */
export interface CandidateLine {
  type: CandidateType;
  protocol: string;
  address: string;
  port: number;
  priority: number;
}

/** One peer's ICE evidence. */
export interface PeerChecks {
  /** What this peer gathered (icecandidate), with the relay's transport to its TURN server. */
  gathered: (CandidateLine & { relayProtocol: RelayProtocol | null })[];
  /** The other side's candidates that signaling delivered to this peer (trickled and added, or in a description). */
  received: CandidateLine[];
  /** The pairs each time the selected pair first appeared or changed: [0] is the first nomination. */
  nominations: PairSnapshot[];
  /** The pairs when the selected pairs had settled (or, without a connection, the last poll that saw any). */
  final: PairSnapshot;
  /**
   * Per pair id: when it appeared, was first checked, first answered and ended (epoch ms, at the
   * peer agent's samples). Absent where nothing tracked them (the app recorder, evidence recorded before
   * 2026-12-01): the verdict then cannot say how long a direct path was tested.
   */
  checkTimes?: Record<string, PairTimes>;
}
/** When a candidate pair appeared, was first seen checked (in progress, succeeded or failed), first answered, and failed or was cancelled; null: not yet. */
export interface PairTimes {
  seen: number;
  checked: number | null;
  answered: number | null;
  ended: number | null;
}

/** Everything the verdict reads. `sides` and `ice` are what the oracle predicted from. */
export interface VerdictInput {
  expected: Prediction;
  connected: boolean;
  settled: boolean;
  checks: { a: PeerChecks; b: PeerChecks };
  sides: { a: PeerSide; b: PeerSide };
  ice: IceConfig;
}

/**
 * Whether the NAT allowed a direct (non-relayed) path, from the pairs' checks on either side:
 * succeeded, a check got its answer; pending, none did but some that could carry the path were
 * still running when a relay pair was selected; failed, every such check ended unanswered; none,
 * no pair could carry one.
 */
export interface DirectPath {
  state: 'succeeded' | 'pending' | 'failed' | 'none';
  /** The pair that shows it, e.g. "B host/udp 10.2.0.10:48231 ↔ srflx/udp 198.18.2.1:47138 (in-progress)". */
  pair: string | null;
  /** The class of the direct path that answered (succeeded only). */
  class: OutcomeClass | null;
}

export interface Verdict {
  status: 'pass' | 'unexpected' | 'unknown';
  /** What the gate compares with the predicted class: the prediction when the evidence backs it, else what was seen. */
  result: string;
  /** The settled pairs' class with each trickle race's prflx read as the candidate it was; null when not connected or unreadable. */
  settledClass: OutcomeClass | null;
  reason: string;
  directPath: DirectPath;
  /** The class of the pair each agent selected first; null when none was seen. */
  nominated: { a: OutcomeClass | null; b: OutcomeClass | null };
  /** Either agent's selected pair changed after its first. */
  switched: boolean;
}

/** The result of a relay settled while direct checks were still running: the direct path was never tested. */
export const RELAY_FIRST_PENDING = 'nominated while direct checks were pending';
/**
 * How long a direct pair must have been checked, unanswered, before the pairs were read for a relay
 * to stand where the oracle predicts one: in the lab a check that gets through is answered within
 * milliseconds, and by then both engines have re-sent it (Firefox at 100 and 300 ms, Chromium every
 * ≈ 50 ms while no pair is writable). The peer agent's settle waits this long for such a pair
 * (CHECK_GRACE_MS.relay); a pair never checked (cancelled first) makes the call re-tested instead.
 */
export const DIRECT_TESTED_MS = 500;

/** A connected call whose pair cannot be judged: a harness or engine problem, reported as broken, never as failed. */
export class VerdictUnknownError extends LabError {
  constructor(id: string, reason: string, evidence: string) {
    super('ERR_VERDICT_UNKNOWN', `${id}: the call's evidence cannot be judged: ${reason}`, {
      hint: `read ice-checks.json and timeline.txt in ${evidence}; rerun the call with the command in the report`,
      context: { id, evidence },
    });
  }
}

/** "candidate:1 1 udp 2122260223 10.0.1.2 54321 typ host …" → its type, transport and address; null when unreadable. */
/** A gathered candidate as both in-page scripts (peer agent, app recorder) record it. */
export interface GatheredCandidate {
  candidate: string;
  type: string;
  address: string;
  port: number;
  relayProtocol: RelayProtocol | null;
  url: string | null;
}
/** What one peer's script recorded of ICE: gathered and received candidates, and each nomination. */
export interface IceRecord {
  candidates: readonly GatheredCandidate[];
  remoteCandidates: readonly { candidate: string }[];
  pairSnapshots: PairSnapshot[];
  pairTimes?: Record<string, PairTimes>;
}
/** getStats local-candidate entries, for a relay's transport where the candidate does not say it. */
export type LocalCandidateStats = { type: string; address?: string; ip?: string; port?: number; relayProtocol?: RelayProtocol };

/**
 * A relay candidate's transport to its TURN server: RTCIceCandidate.relayProtocol, else its
 * local-candidate stats (Firefox's icecandidate has neither relayProtocol nor url), else the URL's.
 */
function relayOf(c: GatheredCandidate, stats: readonly LocalCandidateStats[]): RelayProtocol | null {
  if (c.type !== 'relay') return null;
  const local = stats.find((s) => s.type === 'local-candidate' && (s.address ?? s.ip) === c.address && s.port === c.port);
  const fromUrl = c.url ? (c.url.startsWith('turns:') ? 'tls' : /transport=tcp/.test(c.url) ? 'tcp' : 'udp') : null;
  return c.relayProtocol ?? local?.relayProtocol ?? fromUrl;
}

/** One peer's ICE evidence as the verdict reads it, from its script's record and its last getStats. */
export function peerChecks(rec: IceRecord, final: PairSnapshot, stats: readonly LocalCandidateStats[]): PeerChecks {
  const gathered = rec.candidates.flatMap((c) => {
    const line = parseCandidate(c.candidate);
    return line ? [{ ...line, relayProtocol: relayOf(c, stats) }] : [];
  });
  const received = rec.remoteCandidates.map((c) => parseCandidate(c.candidate)).filter((c): c is CandidateLine => c !== null);
  return { gathered, received, nominations: rec.pairSnapshots, final, ...(rec.pairTimes ? { checkTimes: rec.pairTimes } : {}) };
}

export function parseCandidate(line: string): CandidateLine | null {
  const f = line.replace(/^a=/, '').split(/\s+/);
  const port = Number(f[5]);
  if (!f[0]?.startsWith('candidate:') || f[6] !== 'typ' || !Number.isInteger(port)) return null;
  return { type: f[7] as CandidateType, protocol: f[2]!.toLowerCase(), address: f[4]!, port, priority: Number(f[3]) };
}

interface Side {
  name: 'A' | 'B';
  checks: PeerChecks;
  other: PeerChecks;
  /** The side toward the internet (its NATs and firewalls combined), and the other's. */
  peer: Peer;
  otherPeer: Peer;
  /** Both hosts on one LAN: no NAT between them. */
  sameLan: boolean;
}
/** A pair as the verdict reads it: the remote prflx resolved where it was a trickle race. */
interface ReadPair {
  pair: PairStats;
  view: PairView;
  direct: boolean;
  text: string;
  /** "198.18.2.1:40000": a remote prflx that is no candidate the other side signalled. */
  mapped: string | null;
}

const addressOf = (c: { address: string | null; port: number | null }): string => `${c.address || '(address hidden)'}:${c.port}`;
const candText = (c: StatsCandidate): string => `${c.type}/${c.protocol}${c.relayProtocol ? ` via TURN/${c.relayProtocol.toUpperCase()}` : ''} ${addressOf(c)}`;
const isRelayClass = (c: OutcomeClass): boolean => c.startsWith('relay-');
const answered = (p: PairStats): boolean => p.state === 'succeeded' || (p.responsesReceived ?? 0) > 0;
/** Checks sent: Chromium counts them; Firefox only has the state (in-progress, failed or succeeded once one was sent). */
const checked = (p: PairStats): boolean => (p.requestsSent === null ? ['in-progress', 'succeeded', 'failed'].includes(p.state) : p.requestsSent > 0);
const UNFINISHED = ['frozen', 'waiting', 'in-progress', 'cancelled'];

// With the address hidden only the port is known; a check can come from a public candidate, not
// from a host candidate on another LAN, so those rank first.
const HIDDEN_RANK: CandidateType[] = ['srflx', 'relay', 'prflx', 'host'];

const byHiddenRank = (x: CandidateLine, y: CandidateLine): number => HIDDEN_RANK.indexOf(x.type) - HIDDEN_RANK.indexOf(y.type);
const sameTransport = (c: StatsCandidate) => (l: CandidateLine) => l.port === c.port && l.protocol === c.protocol && (!c.address || l.address === c.address);

/**
 * What a remote peer-reflexive candidate really is: a candidate the other side signalled to this
 * peer (a trickle race), or the other side's relay whose candidate had not arrived; else nothing
 * (a mapping of the other side's NAT that nobody advertised).
 */
function knownAs(c: StatsCandidate, s: Side): CandidateLine | undefined {
  const signalled = s.checks.received.filter(sameTransport(c)).sort(byHiddenRank)[0];
  return signalled ?? s.other.gathered.find((g) => g.type === 'relay' && sameTransport(c)(g));
}

function readPair(p: PairStats, s: Side): ReadPair | null {
  const { local, remote } = p;
  if (!local || !remote) return null;
  const known = remote.type === 'prflx' ? knownAs(remote, s) : undefined;
  const type = known?.type ?? remote.type;
  // The same race on this side: a check's answer named this peer's own mapped address before its
  // STUN server did (RFC 8445 §7.2.5.3.1), so the local candidate reads prflx; it is the srflx it gathered.
  const ownSrflx = local.type === 'prflx' && s.checks.gathered.some((g) => g.type === 'srflx' && g.address === local.address && g.port === local.port);
  const localType = ownSrflx ? 'srflx' : local.type;
  const addr = known ? { address: known.address, port: known.port } : remote;
  const relayProtocol = s.other.gathered.find((g) => g.type === 'relay' && g.address === addr.address && g.port === addr.port)?.relayProtocol;
  const view: PairView = {
    local: { type: localType, protocol: local.protocol, ...(local.relayProtocol ? { relayProtocol: local.relayProtocol } : {}) },
    remote: { type },
    ...(relayProtocol ? { remoteRelayProtocol: relayProtocol } : {}),
  };
  const raced = known ? ` (read as prflx: ${s.name === 'A' ? "B's" : "A's"} ${known.type} candidate)` : '';
  const text = `${s.name} ${candText(local)}${ownSrflx ? ' (read as prflx: its own srflx candidate)' : ''} ↔ ${candText({ ...remote, type })}${raced} (${p.state})`;
  return { pair: p, view, direct: local.type !== 'relay' && type !== 'relay', text, mapped: type === 'prflx' ? addressOf(remote) : null };
}

const pairsOf = (snap: PairSnapshot, s: Side): ReadPair[] => snap.pairs.map((p) => readPair(p, s)).filter((r): r is ReadPair => r !== null);
const selectedOf = (snap: PairSnapshot, s: Side): ReadPair | null => pairsOf(snap, s).find((r) => r.pair.id === snap.selectedId) ?? null;
const snapshots = (s: Side): PairSnapshot[] => [...s.checks.nominations, s.checks.final];

/** A host candidate's checks leave through its NAT, so a direct pair from behind one is at least srflx. */
function pathView(r: ReadPair, s: Side): PairView {
  const behindNat = s.peer.nat !== null && !s.sameLan;
  return behindNat && r.view.local.type === 'host' ? { ...r.view, local: { type: 'srflx', protocol: r.view.local.protocol } } : r.view;
}

/** Could this direct pair carry the predicted path? A host candidate behind another LAN's NAT cannot be reached. */
function couldCarry(r: ReadPair, s: Side, expected: Prediction): boolean {
  return r.view.remote.type !== 'host' || expected.outcome === 'host' || s.otherPeer.nat === null;
}

function directPath(sides: readonly Side[], expected: Prediction): DirectPath {
  // Answered in a snapshot, or at an agent sample after the last one (checkTimes).
  const answeredOn = (s: Side, r: ReadPair) => answered(r.pair) || typeof s.checks.checkTimes?.[r.pair.id]?.answered === 'number';
  const ok = sides.flatMap((s) => snapshots(s).flatMap((snap) => pairsOf(snap, s).filter((r) => r.direct && answeredOn(s, r)).map((r) => ({ r, s }))));
  if (ok.length) return { state: 'succeeded', pair: ok[0]!.r.text, class: classifyCall(...ok.map(({ r, s }) => pathView(r, s))) };
  for (const s of sides) {
    // The pairs when this agent first selected a relayed pair.
    const atRelay = snapshots(s).find((snap) => selectedOf(snap, s)?.direct === false);
    const running = atRelay && pairsOf(atRelay, s).find((r) => r.direct && UNFINISHED.includes(r.pair.state) && couldCarry(r, s, expected));
    if (running) return { state: 'pending', pair: running.text, class: null };
  }
  const ended = sides.flatMap((s) => pairsOf(s.checks.final, s).filter((r) => r.direct && couldCarry(r, s, expected)));
  return ended.length ? { state: 'failed', pair: ended[0]!.text, class: null } : { state: 'none', pair: null, class: null };
}

/** How long a pair was checked by `readAt`: from its first check until it failed or was cancelled, else until `readAt`. */
const checkedMs = (t: PairTimes | undefined, readAt: number): number => (t?.checked && t.checked < readAt ? Math.round(Math.min(t.ended ?? readAt, readAt) - t.checked) : 0);

/**
 * Where the direct path of a relayed call was not tested long enough to rule it out: on either
 * side, a direct pair that could carry it checked for less than DIRECT_TESTED_MS (or never) and
 * not failed by the engine's own retries, or no such pair at all although the other side gathered
 * an address this side could check (a path through two NATs opens only once both sides have sent).
 * Null when it was tested, or when either side's check times were not recorded.
 */
function untestedDirect(sides: readonly Side[], expected: Prediction): string | null {
  if (sides.some((s) => !s.checks.checkTimes)) return null;
  for (const s of sides) {
    const times = s.checks.checkTimes!;
    const readAt = s.checks.final.t;
    const pairs = pairsOf(s.checks.final, s).filter((x) => x.direct && couldCarry(x, s, expected));
    const short = pairs.find((r) => r.pair.state !== 'failed' && checkedMs(times[r.pair.id], readAt) < DIRECT_TESTED_MS);
    if (short) {
      const t = times[short.pair.id];
      const ms = checkedMs(t, readAt);
      return ms ? `${short.text} was checked for ${ms} ms${t?.ended ? ', then ended' : ' when the pairs were read'} (< ${DIRECT_TESTED_MS} ms)` : `${short.text} was never checked`;
    }
    const other = s.name === 'A' ? 'B' : 'A';
    const target = s.other.gathered.find((c) => c.protocol === 'udp' && (c.type === 'srflx' || (c.type === 'host' && s.otherPeer.nat === null)));
    if (target && !pairs.length) return `${s.name} checked no direct pair, though ${other} gathered ${target.type} ${target.address}:${target.port}`;
  }
  return null;
}

/** untestedDirect on a call's evidence: where its direct path was not tested long enough; null when it was. */
export const untestedDirectPath = (input: VerdictInput): string | null => untestedDirect(sidesOf(input), input.expected);

const sidesOf = (input: VerdictInput): [Side, Side] => {
  const { checks, sides } = input;
  return [
    { name: 'A', checks: checks.a, other: checks.b, peer: toInternet(sides.a, 'A'), otherPeer: toInternet(sides.b, 'B'), sameLan: sameLan(sides.a, sides.b) },
    { name: 'B', checks: checks.b, other: checks.a, peer: toInternet(sides.b, 'B'), otherPeer: toInternet(sides.a, 'A'), sameLan: sameLan(sides.a, sides.b) },
  ];
};

/** Judges a call from its evidence. */
export function judgeCall(input: VerdictInput): Verdict {
  const sides = sidesOf(input);
  const first = sides.map((s) => (s.checks.nominations[0] ? selectedOf(s.checks.nominations[0], s) : null));
  const common = {
    directPath: directPath(sides, input.expected),
    nominated: { a: first[0] ? classifyCall(first[0].view) : null, b: first[1] ? classifyCall(first[1].view) : null },
    switched: sides.some((s) => s.checks.nominations.length > 1 || (!!s.checks.nominations[0] && s.checks.nominations[0].selectedId !== s.checks.final.selectedId)),
  };
  const v = input.connected ? connectedVerdict(input, sides, common.directPath) : failedVerdict(input, sides);
  return { ...v, ...common };
}

type Core = Pick<Verdict, 'status' | 'result' | 'settledClass' | 'reason'>;
const unknown = (reason: string, settledClass: OutcomeClass | null = null): Core => ({ status: 'unknown', result: 'unknown', settledClass, reason });

function connectedVerdict(input: VerdictInput, sides: readonly Side[], direct: DirectPath): Core {
  const { expected } = input;
  const selected = sides.map((s) => selectedOf(s.checks.final, s));
  const unread = sides.filter((_, i) => !selected[i]);
  if (unread.length) return unknown(`connected, but ${unread.map((s) => s.name).join(' and ')}'s selected candidate pair could not be read from getStats`);
  const seen = selected as ReadPair[];
  // A local prflx is the side's own srflx only when that srflx was gathered; without it (its STUN
  // answer came after the checks' and the engine dropped the duplicate) the evidence cannot tell
  // the race from a NAT that maps per destination (which matters only where prflx was not predicted).
  const unmatched = expected.outcome !== 'prflx' && sides.find((s, i) => seen[i]!.view.local.type === 'prflx' && needs(s.peer, input.ice).some((n) => n.type === 'srflx') && !s.checks.gathered.some((g) => g.type === 'srflx'));
  if (unmatched) return unknown(`${unmatched.name}'s local candidate is peer-reflexive and it gathered no srflx candidate to compare it with (its STUN answer came after its checks'): a trickle race cannot be told from a NAT that maps per destination`);
  const cls = classifyCall(...seen.map((r) => r.view));
  const at = `settled on ${seen.map((r) => r.text).join('; ')}`;
  const bad = (result: string, why: string): Core => ({ status: 'unexpected', result, settledClass: cls, reason: `${why}; ${at}` });
  if (expected.outcome === 'fail') return bad(cls, `connected (${cls}) where the oracle predicted no path: ${expected.reason}`);
  if (isRelayClass(expected.outcome) && direct.state === 'succeeded') {
    return bad(`${cls}, though a direct check succeeded`, `a direct pair's check succeeded (${direct.pair}): a NAT or firewall let through a direct path the oracle rules out (${expected.reason})`);
  }
  // Another relay class accepted because the engines rank both alike: only when the gathered priorities show the tie.
  const tie = cls !== expected.outcome && outcomeMatches(expected, cls) ? tieContradiction(expected, relayPriorities(input)) : null;
  if (tie) return bad(cls, `${cls} is accepted for ${expected.outcome} only on equally ranked relay candidates: ${tie}`);
  if (outcomeMatches(expected, cls)) {
    if (!input.settled) return unknown(`not settled: the selected pairs were still changing or a better pair was still being checked when read; ${at}`, cls);
    const untested = isRelayClass(expected.outcome) ? untestedDirect(sides, expected) : null;
    if (untested) return bad(`${cls}, ${RELAY_FIRST_PENDING}`, `the relay was selected before the direct path was tested: ${untested}`);
    return { status: 'pass', result: expected.outcome, settledClass: cls, reason: `${at}, as predicted` };
  }
  if (isRelayClass(cls) && !isRelayClass(expected.outcome)) return relayFirst(expected, cls, direct, at);
  const mapped = seen.find((r) => r.mapped);
  if (cls === 'prflx' && mapped) return bad(cls, `${mapped.mapped} is peer-reflexive and no candidate the other side signalled: its NAT mapped a new address for this peer, where the oracle predicted ${expected.outcome} (${expected.reason})`);
  return bad(cls, `the oracle predicted ${expected.outcome}: ${expected.reason}`);
}

/** Each side's gathered relay candidates with their priorities, for a tie the prediction rests on. */
const relayPriorities = (input: VerdictInput): Record<'A' | 'B', RelayCandidateStats[]> => {
  const of = (c: PeerChecks) => c.gathered.flatMap((g) => (g.type === 'relay' && g.relayProtocol ? [{ relayProtocol: g.relayProtocol, priority: g.priority }] : []));
  return { A: of(input.checks.a), B: of(input.checks.b) };
};

/** A direct prediction settled on a relay: gate on whether the NAT allowed the direct path, not on what the agent nominated. */
function relayFirst(expected: Prediction, cls: OutcomeClass, direct: DirectPath, at: string): Core {
  const core = (status: Core['status'], result: string, reason: string): Core => ({ status, result, settledClass: cls, reason: `${reason}; ${at}` });
  if (direct.state === 'succeeded' && direct.class && outcomeMatches(expected, direct.class)) {
    return core('pass', expected.outcome, `the NAT allowed the predicted ${expected.outcome} path (${direct.pair}); the agents nominated the relay that answered first`);
  }
  if (direct.state === 'succeeded') return core('unexpected', cls, `the direct path that answered is ${direct.class} (${direct.pair}), where the oracle predicted ${expected.outcome}: ${expected.reason}`);
  if (direct.state === 'pending') return core('unexpected', `${cls}, ${RELAY_FIRST_PENDING}`, `the relay was nominated while ${direct.pair} was still being checked: the direct path was never tested`);
  const why = direct.state === 'failed' ? `every direct check ended unanswered (e.g. ${direct.pair})` : 'no pair could carry a direct path';
  return core('unexpected', cls, `no direct check succeeded and none was pending when the relay was nominated: ${why}, where the oracle predicted ${expected.outcome} (${expected.reason})`);
}

/** A relay whose direct path was never tested: nominated while the predicted direct path was being checked (relayFirst), or a predicted relay on untested direct pairs (untestedDirect). */
export const relayFirstPending = (v: Verdict): boolean => v.status === 'unexpected' && v.result.endsWith(RELAY_FIRST_PENDING);

/**
 * A relay-first call (relayFirstPending) decided by the call that tests its direct path alone: the
 * same hosts and engines with STUN only. The NATs allowed the predicted path when that call
 * settled a class the prediction accepts, as its own verdict passed; this call's agents then only
 * nominated the relay that answered first, and the verdict says both. Otherwise it stays unexpected.
 */
export function withDirectRetest(first: Verdict, expected: Prediction, retest: Verdict): Verdict {
  if (isRelayClass(expected.outcome)) return relayRetested(first, expected, retest);
  const cls = retest.settledClass;
  if (retest.status === 'pass' && cls !== null && outcomeMatches(expected, cls)) {
    const reason = `the NAT allowed the predicted ${expected.outcome} path: the same call with STUN only ${retest.reason}; in this call the agents nominated the relay that answered first (${first.reason})`;
    return { ...first, status: 'pass', result: expected.outcome, reason };
  }
  return { ...first, reason: `${first.reason}; the same call with STUN only did not show the ${expected.outcome} path either: ${retest.status}, ${retest.reason}` };
}

/** A predicted relay whose direct path was not tested: it stands when the STUN-only call failed as the oracle predicts. */
function relayRetested(first: Verdict, expected: Prediction, retest: Verdict): Verdict {
  if (retest.status === 'pass' && retest.result === 'fail') {
    return { ...first, status: 'pass', result: expected.outcome, reason: `the direct path is blocked as predicted: the same call with STUN only ${retest.reason}; in this call ${first.reason}` };
  }
  if (retest.settledClass) {
    return { ...first, reason: `${first.reason}; the same call with STUN only connected (${retest.settledClass}): a NAT or firewall let through a direct path the oracle rules out` };
  }
  // A retest that could not be judged (a lost STUN answer, no checks) proves nothing either way.
  const status = retest.status === 'unknown' ? 'unknown' : first.status;
  return { ...first, status, reason: `${first.reason}; the same call with STUN only was ${retest.status}: ${retest.reason}` };
}

/** What a side's configuration lets it gather: each must be there for a failure to mean anything. */
function needs(p: Peer, ice: IceConfig): { type: CandidateType; relayProtocol: RelayProtocol | null }[] {
  const all = ice.policy === 'all';
  return [
    ...(all ? [{ type: 'host' as const, relayProtocol: null }] : []),
    ...(all && p.nat !== null && udpOk(p) && hasStun(ice) ? [{ type: 'srflx' as const, relayProtocol: null }] : []),
    ...ice.servers.filter((s) => s.kind === 'turn' && (s.transport === 'udp' ? udpOk(p) : tcpOk(p, s.port))).map((s) => ({ type: 'relay' as const, relayProtocol: s.transport })),
  ];
}

function missingCandidates(input: VerdictInput, sides: readonly Side[]): string[] {
  return sides.flatMap((s) =>
    needs(s.peer, input.ice)
      .filter((n) => !s.checks.gathered.some((g) => g.type === n.type && (n.relayProtocol === null || g.relayProtocol === null || g.relayProtocol === n.relayProtocol)))
      .map((n) => `${s.name} gathered no ${n.type}${n.relayProtocol ? ` candidate over TURN/${n.relayProtocol.toUpperCase()}` : ' candidate'}`),
  );
}

function failedVerdict(input: VerdictInput, sides: readonly Side[]): Core {
  const { expected } = input;
  const core = (status: Core['status'], result: string, reason: string): Core => ({ status, result, settledClass: null, reason });
  const answeredPair = sides.flatMap((s) => pairsOf(s.checks.final, s).filter((r) => answered(r.pair)))[0];
  if (answeredPair) return core('unexpected', 'fail, though a pair\'s check succeeded', `not connected, but ${answeredPair.text} was answered: a path exists and the call failed for another reason`);
  // A side checks when both ends have candidates: one whose peer gathered nothing (as predicted) has no pair to check.
  const owesChecks = (s: Side) => s.checks.gathered.length > 0 && s.other.gathered.length > 0;
  const silent = sides.filter((s) => owesChecks(s) && !s.checks.final.pairs.some(checked)).map((s) => `${s.name} sent no connectivity check`);
  const broken = [...missingCandidates(input, sides), ...silent];
  if (broken.length) return core('unknown', 'unknown', `not connected, and not by the NATs: ${broken.join('; ')}`);
  const counts = sides.map((s) => `${s.name} checked ${s.checks.final.pairs.filter(checked).length} pairs`).join(', ');
  const mechanism = `every candidate the configuration allows was gathered, ${counts}, no pair succeeded`;
  return expected.outcome === 'fail' ? core('pass', 'fail', `failed as predicted: ${mechanism} (${expected.reason})`) : core('unexpected', 'fail', `not connected: ${mechanism}, where the oracle predicted ${expected.outcome} (${expected.reason})`);
}
