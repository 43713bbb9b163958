import * as allure from 'allure-js-commons';
import type { CallResult, CallSpec } from '../scenario/call.ts';
import { SETTLED_PARAMETER } from './results.ts';

/**
 * Labels a call's Allure test the way teams filter reports: engine and version of each side, NAT
 * presets, ICE transport and policy; the reproducing command goes into the description.
 */
export async function labelCall(spec: CallSpec, natA: string, natB: string, iceName: string, versions: { a?: string; b?: string } = {}): Promise<void> {
  await allure.labels(
    { name: 'engineA', value: spec.a.engine },
    { name: 'engineB', value: spec.b.engine },
    { name: 'natA', value: natA },
    { name: 'natB', value: natB },
    { name: 'iceTransport', value: iceName },
    { name: 'policy', value: spec.policy ?? 'all' },
    { name: 'enginePair', value: `${spec.a.engine}→${spec.b.engine}` },
    { name: 'natPair', value: `${natA}↔${natB}` },
  );
  if (versions.a) await allure.parameter('engine A', `${spec.a.engine} ${versions.a}`);
  if (versions.b) await allure.parameter('engine B', `${spec.b.engine} ${versions.b}`);
}

/**
 * The verdict's evidence as Allure parameters and labels: the class read, whether the NAT allowed
 * the direct path (a direct pair's check succeeded) apart from what each agent nominated first.
 */
export async function reportVerdict(r: CallResult): Promise<void> {
  const v = r.verdict;
  const read = v.settledClass !== null && v.settledClass !== r.observed ? ` (read as ${v.settledClass})` : '';
  await allure.parameter(SETTLED_PARAMETER, `${r.observed}${read}${r.outcome === 'connected' && !r.settled ? ', not settled' : ''}`);
  await allure.parameter('verdict', `${v.status}: ${v.result}`);
  await allure.parameter('direct path', `${v.directPath.state}${v.directPath.class ? ` (${v.directPath.class})` : ''}${v.directPath.pair ? `: ${v.directPath.pair}` : ''}`);
  await allure.parameter('nominated first', nominationText(v));
  await allure.labels({ name: 'verdict', value: v.status }, { name: 'directPath', value: v.directPath.state });
}

const nominationText = (v: CallResult['verdict']): string => `A ${v.nominated.a ?? 'none'}, B ${v.nominated.b ?? 'none'}${v.switched ? ', then switched' : ''}`;

/** The story of a call for the report: what was expected, what happened, how to reproduce it. */
export function callStory(r: CallResult): string {
  const pair = (p: CallResult['selectedPair']) =>
    p ? `${p.local.type}/${p.local.protocol}${p.local.relayProtocol ? ` via TURN/${p.local.relayProtocol}` : ''} ${p.local.address}:${p.local.port} ↔ ${p.remote.type} ${p.remote.address}:${p.remote.port}` : 'none';
  const flow = (side: 'a' | 'b') =>
    Object.entries(r.peers[side].media)
      .map(([k, v]) => `${k} ${v.flowing ? 'flowing' : 'NOT flowing'} (${v.packetsReceived} packets)`)
      .join(', ') || 'no media';
  const retest = r.directRetest;
  return [
    `**Expected:** ${r.expected.outcome}${r.expected.alsoAccept?.length ? ` (or ${r.expected.alsoAccept.join('/')})` : ''} — ${r.expected.reason}`,
    `**Observed:** ${r.observed} (${r.outcome}${r.reason ? `: ${r.reason}` : ''})`,
    `**Verdict:** ${r.verdict.status} — ${r.verdict.reason}`,
    `**Direct path:** ${r.verdict.directPath.state}${r.verdict.directPath.pair ? ` (${r.verdict.directPath.pair})` : ''}; **nominated first:** ${nominationText(r.verdict)}`,
    ...(retest ? [`**Direct path re-tested with STUN only:** ${retest.verdict.status} — ${retest.verdict.reason} (evidence in direct-retest/; \`${retest.command}\`)`] : []),
    `**Selected pair (A):** ${pair(r.selectedPair)}${r.settled ? '' : ' — not settled'}`,
    `**Timings:** connected ${r.timings.connectedMs ?? '—'} ms, settled ${r.timings.settledMs ?? '—'} ms after the offer, data RTT ${r.timings.dataRttMs ?? '—'} ms`,
    `**Media at A:** ${flow('a')}; **at B:** ${flow('b')}`,
    `**Candidates:** A ${JSON.stringify(r.peers.a.candidatesByType)}, B ${JSON.stringify(r.peers.b.candidatesByType)}; icecandidateerror A ${r.peers.a.candidateErrors.length}, B ${r.peers.b.candidateErrors.length}`,
    '',
    'Reproduce (as root):',
    '',
    '```',
    r.command,
    '```',
  ].join('\n\n');
}

/** "data:ok audio:ok video:ok" for the flow gate, from both sides. */
export function flowSummary(r: CallResult, media: readonly string[]): string {
  return media
    .map((k) => {
      const ok = k === 'data' ? r.timings.dataRttMs !== null : (['a', 'b'] as const).every((s) => r.peers[s].media[k as 'audio' | 'video']?.flowing);
      return `${k}:${ok ? 'ok' : 'none'}`;
    })
    .join(' ');
}
