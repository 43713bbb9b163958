import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Page } from 'playwright';
import { startPlannedLab } from '../lab.ts';
import { AppSession, parsePeerName, type AppPeer, type PageReport, type PeerName } from '../app/app-peer.ts';
import { peerConnectionStory } from '../app/allure.ts';
import { checkLabUrl } from '../app/lab-names.ts';
import { PRESET_NAMES, type PresetName } from '../topology/nat.ts';
import { planTopology, type Topology } from '../topology/topology.ts';
import { usage } from './usage.ts';
import { reportsDir } from '../report/results.ts';
import type { TopologyArg } from './topology-file.ts';

export interface OpenOptions {
  url?: string | undefined;
  peers?: string | undefined;
  /** `--topology`, read and planned; default: a host per preset named in --peers. */
  topology?: TopologyArg | undefined;
  run?: string | undefined;
  headed: boolean;
  json: boolean;
  timeoutMs?: number;
}

/** What `--run <module>` exports: called once per peer after every page is open. */
export type RunModule = (page: Page, peer: { name: string; engine: string; host: string; index: number; url: string }) => Promise<void>;

export interface OpenPlan {
  url: string;
  peers: PeerName[];
  topology: Topology;
}

/** `{peer}` → `chromium-home` (usable as a room name or PeerJS id), `{index}` → the peer's place in --peers. */
export const peerUrl = (template: string, p: PeerName, index: number): string => template.replaceAll('{peer}', `${p.engine}-${p.host}`).replaceAll('{index}', String(index));

/** Validates every option (the URL against the lab's names) before anything starts. */
export function planOpen(o: OpenOptions): OpenPlan {
  if (!o.url) throw usage('open: the app URL is missing', 'icelab open https://<service>.lab.test/room/{peer} --peers chromium@<host>,firefox@<host>');
  if (!o.peers) throw usage('--peers is required', 'a comma-separated list of <engine>@<host>, e.g. --peers chromium@symmetric,firefox@full-cone');
  const peers = o.peers.split(',').map((s) => parsePeerName(s, '--peers'));
  if (!o.topology) {
    const unknown = peers.filter((p) => !(PRESET_NAMES as string[]).includes(p.host));
    if (unknown.length) throw usage(`--peers: unknown host ${unknown.map((p) => `"${p.host}"`).join(', ')}`, `use NAT presets as hosts (${PRESET_NAMES.join(', ')}), or give --topology <file> with the app's services and hosts`);
  }
  const topology = o.topology?.topology ?? planTopology({ hosts: [...new Set(peers.map((p) => p.host))].map((name) => ({ name, nat: name as PresetName })) });
  for (const p of peers) {
    if (!topology.hosts.some((h) => h.name === p.host)) throw usage(`--peers: the topology has no host "${p.host}"`, `hosts: ${topology.hosts.map((h) => h.name).join(', ')}`);
  }
  peers.forEach((p, i) => checkLabUrl({ topology }, peerUrl(o.url!, p, i)));
  if (o.headed && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) throw usage('--headed: no display to show the browsers on (DISPLAY is not set)', 'run it under a display, e.g. xvfb-run -a npx icelab open … --headed, or leave out --headed');
  return { url: o.url, peers, topology };
}

/** The report `--json` prints: exactly the fields issue 12 names. */
export const jsonReport = (all: readonly PageReport[]) => ({
  peers: all.map(({ peer, peerConnections }) => ({
    peer: peer.name,
    peerConnections: peerConnections.map((r) => ({ state: r.state, selectedPair: r.selectedPair, class: r.class, remote: r.remote, expected: r.expected?.outcome ?? null, matches: r.matches, media: r.media })),
  })),
});

async function loadRun(path: string): Promise<RunModule> {
  const mod = (await import(pathToFileURL(resolve(path)).href)) as { default?: unknown };
  if (typeof mod.default !== 'function') throw usage(`--run: ${path} has no default export function`, 'export default async (page, peer) => { await page.click("#join"); }');
  return mod.default as RunModule;
}

/** One run's evidence folder, under the reports directory (ICELAB_REPORTS_DIR, else ./reports) as the suites' is. */
export const openEvidenceDir = (at: Date, env: NodeJS.ProcessEnv = process.env): string =>
  join(reportsDir(env), 'evidence', `open-${at.toISOString().replace(/[:.]/g, '-')}`);

/**
 * `icelab open`: the lab and its services up, the URL in each peer, the --run module per page, the
 * peer connections settled and judged. Exit 0 when every one settled as predicted.
 */
export async function openCommand(plan: OpenPlan, o: OpenOptions): Promise<number> {
  const log = (s: string) => o.json || process.stderr.write(`${s}\n`);
  const run = o.run ? await loadRun(o.run) : null;
  const dir = openEvidenceDir(new Date());
  mkdirSync(dir, { recursive: true });
  const t0 = performance.now();
  log(`starting a lab: ${plan.topology.hosts.map((h) => h.name).join(', ')}…`);
  const lab = await startPlannedLab(plan.topology);
  try {
    log(`lab ${lab.id} up in ${Math.round(performance.now() - t0)} ms`);
    const app = new AppSession(lab, { headed: o.headed, evidenceDir: dir, trace: true });
    try {
      const pages: AppPeer[] = [];
      for (const [i, p] of plan.peers.entries()) {
        const url = peerUrl(plan.url, p, i);
        log(`${p.engine}@${p.host}: opening ${url}`);
        pages.push(await app.openPeer(p, url));
      }
      if (run) await Promise.all(pages.map((page) => run(page.page, { name: page.name, engine: page.engine, host: page.host, index: page.index, url: page.url })));
      const all = await app.reports(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {});
      writeFileSync(join(dir, 'open.json'), JSON.stringify(jsonReport(all), null, 2));
      if (o.json) console.log(JSON.stringify(jsonReport(all), null, 2));
      else console.log(all.flatMap(({ peer, peerConnections }) => peerConnections.map((r) => peerConnectionStory(peer.name, r))).join('\n\n'));
      log(`evidence: ${dir}`);
      if (o.headed) await keepOpen(pages, log);
      return all.every((p) => p.peerConnections.length > 0 && p.peerConnections.every((r) => r.matches)) ? 0 : 1;
    } finally {
      await app.close();
    }
  } finally {
    await lab.stop();
  }
}

/** `--headed`: each browser's WebRTC internals in a tab of the page's context, until Ctrl-C. */
async function keepOpen(pages: readonly AppPeer[], log: (s: string) => void): Promise<void> {
  for (const p of pages) {
    const internals = p.engine === 'firefox' ? 'about:webrtc' : 'chrome://webrtc-internals';
    const tab = await p.context.newPage();
    await tab.goto(internals).catch((e: Error) => log(`${p.name}: open ${internals} in its window by hand (${e.message.split('\n')[0]})`));
  }
  log('the browsers stay open (WebRTC internals in a tab of each): press Ctrl-C to take the lab down');
  await new Promise<void>((done) => process.once('SIGINT', () => done()));
}
