/**
 * icelab's public API: `import { startLab, AppSession } from 'icelab'`. Everything else is internal.
 *
 *   await using lab = await startLab({ hosts: [{ name: 'alice', nat: 'symmetric' }, { name: 'bob', nat: 'full-cone' }],
 *                                      services: [{ name: 'web', command: 'node server.js', port: 8080, tls: true }] });
 *   await using app = new AppSession(lab);
 *   const alice = await app.openPeer('chromium@alice', 'https://web.lab.test/room/1');
 *   const bob = await app.openPeer('firefox@bob', 'https://web.lab.test/room/1');
 *   await alice.page.click('#join');                       // a Playwright Page
 *   const [pc] = await alice.report();                     // each RTCPeerConnection the app made, judged
 *   // pc.class, pc.expected?.outcome, pc.matches, pc.remote, pc.media, pc.evidence
 */
export { startLab, startPlannedLab, type LabOptions, type StartedLab, type LabSummary } from './lab.ts';
export type { TopologyInput, Topology } from './topology/topology.ts';
export { LabError, TopologyError } from './topology/errors.ts';
export { BrowserFleet, EngineUnavailableError, type FleetOptions } from './browsers/fleet.ts';
export type { EngineName } from './browsers/engines.ts';
export { AppSession, AppPeer, parsePeerName, DEFAULT_APP_TIMEOUT_MS, type AppSessionOptions, type PageReport, type PeerConnectionReport, type MediaFlow, type PeerName, type WaitOptions } from './app/app-peer.ts';
export type { RemoteEnd } from './app/judge.ts';
export type { Prediction, OutcomeClass } from './scenario/oracle.ts';
export type { Verdict } from './scenario/verdict.ts';
export { reportPeerConnections, peerConnectionStory } from './app/allure.ts';
