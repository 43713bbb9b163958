import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as allure from 'allure-js-commons';
import type { PageReport, PeerConnectionReport } from './app-peer.ts';

/** The report of one app peer connection in a few lines: what was predicted, what settled, the verdict, the evidence. */
export function peerConnectionStory(peer: string, r: PeerConnectionReport): string {
  const side = (c: NonNullable<PeerConnectionReport['selectedPair']>['local']) => `${c.type}${c.relayProtocol ? ` (TURN over ${c.relayProtocol})` : ''} ${c.protocol} ${c.address}:${c.port}`;
  const remote = r.remote ? ('host' in r.remote ? `lab host ${r.remote.host}` : `service ${r.remote.service}`) : 'not a lab address';
  const media = Object.entries(r.media).map(([k, v]) => ('flowing' in v ? `${k} ${v.flowing ? 'flowing' : 'NOT flowing'} (${v.packetsReceived} packets)` : `${k} ${v.open}/${v.channels} channels open`));
  return [
    `${peer} ${r.id}: ${r.state}, class ${r.class} ${r.matches ? '✓ as predicted' : '✗ NOT as predicted'}`,
    `  other end: ${remote}${r.bothEnds ? ' (both ends recorded)' : ''}`,
    `  expected:  ${r.expected ? `${r.expected.outcome}${r.expected.alsoAccept?.length ? ` or ${r.expected.alsoAccept.join('/')}` : ''} (${r.expected.reason})` : 'nothing (no known far end)'}`,
    `  verdict:   ${r.verdict.status}: ${r.verdict.reason}`,
    `  pair:      ${r.selectedPair ? `${side(r.selectedPair.local)}  ↔  ${side(r.selectedPair.remote)}` : 'none'}`,
    `  ICE:       ${r.iceServers.mapped.servers.map((s) => `${s.kind.toUpperCase()}/${s.transport.toUpperCase()}:${s.port}`).join(', ') || 'no lab server'}${r.iceServers.ignored.length ? `; not lab servers (unreachable): ${r.iceServers.ignored.join(', ')}` : ''}${r.iceServers.mapped.policy === 'relay' ? ', relay only' : ''}`,
    `  media:     ${media.join(', ') || 'none'}`,
    `  timings:   created ${r.timings.createdMs} ms, connected ${r.timings.connectedMs ?? '—'} ms after the page was opened`,
    `  evidence:  ${r.evidence}`,
  ].join('\n');
}

const TYPES: Record<string, string> = { json: 'application/json', sdp: 'text/plain', log: 'text/plain', txt: 'text/plain', zip: 'application/zip' };

/**
 * For a Mocha test with allure-mocha (as the suites use it): labels each peer connection the way
 * harness calls are labelled (engine, host, verdict, directPath), the story as the description,
 * the verdict as parameters, and every evidence file as an attachment.
 */
export async function reportPeerConnections(pages: readonly PageReport[]): Promise<void> {
  const all = pages.flatMap(({ peer, peerConnections }) => peerConnections.map((r) => ({ peer, r })));
  await allure.labels(...pages.flatMap(({ peer }) => [{ name: 'engine', value: peer.engine }, { name: 'host', value: peer.host }]), ...all.flatMap(({ r }) => [{ name: 'verdict', value: r.verdict.status }, { name: 'directPath', value: r.verdict.directPath.state }]));
  await allure.description(all.map(({ peer, r }) => peerConnectionStory(peer.name, r)).join('\n\n'));
  for (const { peer, r } of all) {
    await allure.parameter(`${peer.name} ${r.id}`, `expected ${r.expected?.outcome ?? 'nothing'}, settled ${r.class}, verdict ${r.verdict.status}: ${r.verdict.result}`);
    await attachDir(r.evidence, `${peer.name} ${r.id} `);
  }
  for (const { peer } of pages) await attachDir(peer.evidence, `${peer.name} `);
}

async function attachDir(dir: string, prefix: string): Promise<void> {
  if (!existsSync(dir)) return;
  for (const f of readdirSync(dir).sort()) {
    const path = join(dir, f);
    if (!statSync(path).isFile()) continue;
    await allure.attachment(`${prefix}${f}`, readFileSync(path), TYPES[f.split('.').pop() ?? ''] ?? 'text/plain');
  }
}
