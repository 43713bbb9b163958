import type { ServerSample } from './server-stats.ts';

/** Why a call did not connect: the STUN error code its icecandidateerror carried, or how it ended without one. */
export type FailureCode = `${number}` | 'timeout' | 'error';

/** One second of a run, as the chart draws it. */
export interface LoadSample {
  /** Seconds since the run began. */
  t: number;
  started: number;
  /** Calls connected now (both peers). */
  connected: number;
  /** Calls that failed so far (never connected, or dropped after connecting). */
  failed: number;
  failures: Partial<Record<FailureCode, number>>;
  /** Connect time of every call connected so far, ms. */
  connectMs: Percentiles;
  /** Echo RTT of the probes that came back in this second, ms. */
  rttMs: { p50: number | null; p95: number | null };
  /** Probes sent in this second minus echoes back, over probes sent (round trip), percent. */
  lossPct: number | null;
  /** Of the probes due this second, those skipped because the page's send buffer was full, percent. */
  skippedPct: number | null;
  /** Largest inbound RTP jitter among the connections sampled this second (media traffic only), ms. */
  jitterMs: number | null;
  /** RTP packets lost over expected, among the connections sampled this second, percent. */
  rtpLossPct: number | null;
  server: ServerSample | null;
  background: BackgroundSample | null;
  loadAverage: number;
}

/** What the background allocation client (allocations.js) prints each second. */
export interface BackgroundSample {
  active: number;
  failed: Record<string, number>;
  sentPps: number;
  lossPct: number | null;
}

export interface Percentiles {
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export interface CallSummary {
  id: string;
  engine: string;
  a: string;
  b: string;
  outcome: 'connected' | 'failed';
  failure: FailureCode | null;
  connectMs: number | null;
  rttMs: { p50: number | null; p95: number | null };
  lossPct: number | null;
  /** Probes due (sent or skipped), skipped (send buffer full: counted as lost), echoed back. */
  due: number;
  skipped: number;
  echoed: number;
}

export interface Thresholds {
  maxLossPct: number;
  maxConnectP95Ms: number;
}

export interface Verdict {
  pass: boolean;
  reasons: string[];
}

/** Nearest-rank percentile of unsorted values; null for none. */
export function percentile(values: readonly number[], p: number): number | null {
  if (!values.length) return null;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export const percentiles = (values: readonly number[]): Percentiles => ({ p50: percentile(values, 50), p95: percentile(values, 95), p99: percentile(values, 99) });

/** Round-trip loss of probes: what did not come back, over what was sent; null when nothing was sent. */
export function lossPct(sent: number, echoed: number): number | null {
  return sent > 0 ? round2(Math.max(0, (1 - echoed / sent) * 100)) : null;
}

/** Failures by code, counted over failed calls. */
export function failuresByCode(calls: readonly Pick<CallSummary, 'failure'>[]): Partial<Record<FailureCode, number>> {
  const out: Partial<Record<FailureCode, number>> = {};
  for (const c of calls) if (c.failure) out[c.failure] = (out[c.failure] ?? 0) + 1;
  return out;
}

/** Pass = every call connected, loss within --max-loss and p95 connect within --max-connect-p95. */
export function verdict(r: { calls: number; failed: number; lossPct: number | null; connectP95Ms: number | null }, t: Thresholds): Verdict {
  const reasons: string[] = [];
  if (r.failed > 0) reasons.push(`${r.failed} of ${r.calls} calls did not connect or dropped`);
  if (r.lossPct !== null && r.lossPct > t.maxLossPct) reasons.push(`loss ${r.lossPct}% > --max-loss ${t.maxLossPct}%`);
  if (r.connectP95Ms !== null && r.connectP95Ms > t.maxConnectP95Ms) reasons.push(`connect p95 ${r.connectP95Ms} ms > --max-connect-p95 ${t.maxConnectP95Ms} ms`);
  if (r.calls > 0 && r.connectP95Ms === null) reasons.push('no call connected');
  return { pass: reasons.length === 0, reasons };
}

export const round2 = (x: number) => Math.round(x * 100) / 100;
