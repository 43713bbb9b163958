import type { CandidateType, IceConfig, PeerSide, Prediction, RelayProtocol } from './oracle.ts';

/**
 * A call's ICE evidence, as both peers recorded it: what each gathered and was given by signaling,
 * and every candidate pair with its checks when the selected pair first appeared or changed, and
 * when the result was taken. The verdict on a call is read from it.
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

/** "candidate:1 1 udp 2122260223 10.0.1.2 54321 typ host …" → its type, transport and address; null when unreadable. */
export function parseCandidate(line: string): CandidateLine | null {
  const f = line.replace(/^a=/, '').split(/\s+/);
  const port = Number(f[5]);
  if (!f[0]?.startsWith('candidate:') || f[6] !== 'typ' || !Number.isInteger(port)) return null;
  return { type: f[7] as CandidateType, protocol: f[2]!.toLowerCase(), address: f[4]!, port };
}
