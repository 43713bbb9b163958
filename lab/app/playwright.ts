import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test as base, type TestInfo } from '@playwright/test';
import { startLab, type StartedLab } from '../lab.ts';
import { BrowserFleet } from '../browsers/fleet.ts';
import { defaultTopology, type TopologyInput } from '../topology/topology.ts';
import { AppSession, type AppPeer, type PeerName } from './app-peer.ts';

/**
 * `import { test, expect } from 'icelab/playwright'`: Playwright Test with a lab per worker and
 * `openPeer(engine@host, url)` per test. Every page's evidence (its peer connections' reports,
 * SDP, candidates, getStats, console, service logs) and a Playwright trace are attached.
 *
 *   test.use({ labTopology: { hosts: [...], services: [...] } });
 *   test('call', async ({ openPeer }) => {
 *     const a = await openPeer('chromium@alice', 'https://web.lab.test/room/1');
 *     const [pc] = await a.report();
 *     expect(pc.matches).toBe(true);
 *   });
 */
export interface IcelabWorkerOptions {
  /** The lab each worker starts (default: one host per NAT preset, no services). */
  labTopology: TopologyInput;
}
export interface IcelabWorkerFixtures {
  lab: StartedLab;
  fleet: BrowserFleet;
}
export interface IcelabTestFixtures {
  /** This test's pages; closed, and their evidence attached, after the test. */
  app: AppSession;
  openPeer: (peer: string | PeerName, url: string) => Promise<AppPeer>;
}

const CONTENT_TYPES: Record<string, string> = { json: 'application/json', zip: 'application/zip', log: 'text/plain', txt: 'text/plain', sdp: 'application/sdp' };

/** Each evidence file as an attachment; `trace.zip` as a Playwright trace (the HTML report opens it). */
async function attachEvidence(info: TestInfo, peer: AppPeer): Promise<void> {
  const walk = async (dir: string, prefix: string): Promise<void> => {
    if (!existsSync(dir)) return;
    for (const f of readdirSync(dir).sort()) {
      const path = join(dir, f);
      if (statSync(path).isDirectory()) await walk(path, `${prefix}${f}/`);
      else await info.attach(f === 'trace.zip' ? 'trace' : `${prefix}${f}`, { path, contentType: CONTENT_TYPES[f.split('.').pop() ?? ''] ?? 'text/plain' });
    }
  };
  await walk(peer.evidence, `${peer.name}/`);
}

export const test = base.extend<IcelabTestFixtures, IcelabWorkerOptions & IcelabWorkerFixtures>({
  labTopology: [defaultTopology(), { scope: 'worker', option: true }],
  lab: [
    async ({ labTopology }, use) => {
      const lab = await startLab(labTopology);
      try {
        await use(lab);
      } finally {
        await lab.stop();
      }
    },
    { scope: 'worker', timeout: 120_000 },
  ],
  fleet: [
    async ({ lab }, use) => {
      const fleet = new BrowserFleet(lab);
      try {
        await use(fleet);
      } finally {
        await fleet.close();
      }
    },
    { scope: 'worker' },
  ],
  app: async ({ lab, fleet }, use, info) => {
    const app = new AppSession(lab, { fleet, evidenceDir: info.outputPath('icelab'), trace: true });
    try {
      await use(app);
    } finally {
      await app.close();
      for (const p of app.peers) await attachEvidence(info, p);
    }
  },
  openPeer: async ({ app }, use) => {
    await use((peer, url) => app.openPeer(peer, url));
  },
});

export { expect } from '@playwright/test';
