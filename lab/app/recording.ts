import type { Frame } from 'playwright';
import type { RelayProtocol } from '../scenario/oracle.ts';
import { withIceStats } from '../scenario/page-scripts.ts';
import type { PairSnapshot } from '../scenario/verdict.ts';

/** The init script that records every peer connection a page creates (recorder.js). */
export const RECORDER = withIceStats(new URL('./recorder.js', import.meta.url));

export interface RecordedCandidate {
  t: number;
  candidate: string;
  type: string;
  protocol: string;
  relayProtocol: RelayProtocol | null;
  address: string;
  port: number;
  url: string | null;
}
/** One RTCPeerConnection the app created, as recorder.js keeps it. */
export interface RecordedPeerConnection {
  /** Its index among the frame's peer connections, in creation order. */
  id: number;
  created: number;
  /** The RTCConfiguration the app passed (credentials left out). */
  config: { iceServers: { urls: string[]; username: string | null; hasCredential: boolean }[]; iceTransportPolicy: string; bundlePolicy: string | null };
  configChanges: { t: number; config: RecordedPeerConnection['config'] }[];
  descriptions: { t: number; which: 'local' | 'remote'; type: string; sdp: string }[];
  candidates: RecordedCandidate[];
  remoteCandidates: { t: number; candidate: string; via: 'trickle' | 'sdp' }[];
  addCandidateErrors: { t: number; candidate: string | null; error: string }[];
  candidateErrors: { t: number; errorCode: number; errorText: string; url: string; address: string | null; port: number | null }[];
  timeline: { t: number; what: string; state: string }[];
  pairSnapshots: PairSnapshot[];
  lastPairs: PairSnapshot | null;
  /** getStats a second: RTP counters and the selected pair's bytes. */
  samples: { t: number; rtp: { type: string; kind: string; packets: number; bytes: number; framesDecoded: number | null }[]; selected: { bytesSent: number | null; bytesReceived: number | null; currentRoundTripTime: number | null } | null }[];
  dataChannels: { label: string; opened: number | null; closed: number | null }[];
  signalingState: string;
  connectionState: string | null;
  iceConnectionState: string;
  iceGatheringState: string;
}

export interface RecordedCandidateStats {
  type: CandidateTypeName;
  protocol: string;
  relayProtocol: RelayProtocol | null;
  address: string | null;
  port: number | null;
  url: string | null;
}
type CandidateTypeName = 'host' | 'srflx' | 'prflx' | 'relay';
/** What recorder.js's pair() returns. */
export interface PairPoll {
  t: number;
  state: string;
  selected: { id: string; state: string; local: RecordedCandidateStats | null; remote: RecordedCandidateStats | null; currentRoundTripTime: number | null } | null;
  contenders: { id: string; requestsSent: number | null; responsesReceived: number }[];
}

type Recorder = {
  records(): RecordedPeerConnection[];
  pair(id: number): Promise<PairPoll>;
  pairsNow(id: number): Promise<PairSnapshot>;
  stats(id: number): Promise<Record<string, unknown>[]>;
};
type Method = keyof Recorder;
type Result<M extends Method> = Awaited<ReturnType<Recorder[M]>>;

/** Calls recorder.js in a frame. */
export function recorder<M extends Method>(frame: Frame, method: M, ...args: Parameters<Recorder[M]>): Promise<Result<M>> {
  return frame.evaluate(
    ([m, a]) => {
      const r = (window as unknown as { __icelabRecorder?: Record<string, (...x: unknown[]) => unknown> }).__icelabRecorder;
      return r ? r[m as string]!(...(a as unknown[])) : m === 'records' ? [] : null;
    },
    [method, args] as const,
  ) as Promise<Result<M>>;
}
