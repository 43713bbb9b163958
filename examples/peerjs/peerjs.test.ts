// The PeerJS example (examples/peerjs): PeerJS's client and its PeerServer, neither written here,
// with two browsers behind different NATs calling each other, through the library and through
// `icelab open` as a person reproducing it would run it.
import { spawn } from 'node:child_process';
import { expect } from 'chai';
import type { EngineName } from '../../lab/index.ts';
import { reportsDir } from '../../lab/report/results.ts';
import { unavailable } from '../../suites/support/fixture.ts';
import { ExampleLab, exampleDir, missingEvidence, story } from '../support.ts';

const ENGINE_PAIRS: [EngineName, EngineName][] = [['chromium', 'firefox'], ['firefox', 'chromium']];
/** laptop is behind a port-restricted cone, office behind a symmetric NAT: only TURN joins them. */
const CLS = 'relay-udp';
const ICELAB = new URL('../../bin/icelab.js', import.meta.url).pathname;

/** `icelab open … --json` as a person runs it: its exit code and what it printed. */
function icelabOpen(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((done, fail) => {
    // From the example's folder, as its README says: the topology's `cwd: .` is that folder, and
    // the evidence still goes to this run's reports directory.
    const env = { ...process.env, ICELAB_REPORTS_DIR: reportsDir() };
    const child = spawn(process.execPath, [ICELAB, 'open', ...args], { cwd: exampleDir('peerjs'), env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr, ms: Math.round(performance.now() - t0) }));
  });
}

/** The part of `icelab open --json` this test reads (issue 12 item 4). */
interface OpenReport {
  peers: { peer: string; peerConnections: { state: string; class: string; expected: string | null; matches: boolean; remote: { host: string } | { service: string } | null }[] }[];
}

describe('examples/peerjs: PeerJS and its PeerServer behind the lab\'s NATs @integration', function () {
  this.timeout(300_000);
  let ex: ExampleLab;
  before(async () => {
    ex = await ExampleLab.start('peerjs');
  });
  after(async () => {
    if (!ex) return;
    console.log(`      timings: ${ex.summary()}`);
    await ex[Symbol.asyncDispose]();
  });

  for (const [ea, eb] of ENGINE_PAIRS) {
    const title = `${ea}@laptop answers ${eb}@office's call: both connected, ${CLS} as predicted, audio and video flowing`;
    it(title, async function () {
      const room = `${ea}-${eb}`;
      await ex.launch(`${ea}@laptop`, `${eb}@office`).catch((e: unknown) => unavailable(this, e));
      await using app = ex.session(title);
      await Promise.all([
        app.openPeer(`${ea}@laptop`, `https://peerjs.lab.test/?room=${room}&me=0`),
        app.openPeer(`${eb}@office`, `https://peerjs.lab.test/?room=${room}&me=1`),
      ]).catch((e: unknown) => unavailable(this, e));
      const all = await app.reports();
      for (const { peer, peerConnections } of all) {
        const msg = `${peer.name}:\n${story(peerConnections)}`;
        // PeerJS also makes a probe (util.supports: created and closed as the script loads), never described: not judged.
        expect((await peer.recordings()).length, msg).to.equal(2);
        expect(peerConnections, msg).to.have.length(1);
        const [pc] = peerConnections;
        ex.timings.push({ call: `${peer.name} (${ea}@laptop ↔ ${eb}@office)`, openToConnectedMs: [pc!.timings.connectedMs] });
        expect(pc!.remote, msg).to.deep.equal({ host: peer.host === 'laptop' ? 'office' : 'laptop' });
        expect(pc!.bothEnds, msg).to.equal(true);
        expect(pc!.expected?.outcome, msg).to.equal(CLS);
        expect(pc!.matches, msg).to.equal(true);
        expect(pc!.media.audio?.flowing, msg).to.equal(true);
        expect(pc!.media.video?.flowing, msg).to.equal(true);
        expect(await peer.page.locator('#status').textContent(), msg).to.equal('in call');
      }
      await app.close();
      for (const { peer, peerConnections } of all) expect(missingEvidence(peer, peerConnections, ['peerjs']), peer.name).to.deep.equal([]);
    });
  }

  it(`icelab open <peerjs page> --peers chromium@laptop,firefox@office --json: a connected, predicted report for each peer`, async () => {
    const r = await icelabOpen([
      'https://peerjs.lab.test/?room=cli&me={index}',
      '--peers', 'chromium@laptop,firefox@office',
      '--topology', 'topology.yaml',
      '--json',
    ]);
    const msg = `exit ${r.code} after ${r.ms} ms\nstdout: ${r.stdout}\nstderr: ${r.stderr.slice(-3000)}`;
    ex.timings.push({ call: `icelab open (lab up, both pages, down) ${r.ms} ms`, openToConnectedMs: [] });
    expect(r.code, msg).to.equal(0);
    const report = JSON.parse(r.stdout) as OpenReport;
    expect(report.peers.map((p) => p.peer), msg).to.deep.equal(['chromium@laptop', 'firefox@office']);
    for (const p of report.peers) {
      expect(p.peerConnections, msg).to.have.length(1);
      const [pc] = p.peerConnections;
      expect(pc!.state, msg).to.equal('connected');
      expect(pc!.expected, msg).to.equal(CLS);
      expect(pc!.class, msg).to.equal(CLS);
      expect(pc!.matches, msg).to.equal(true);
      expect(pc!.remote, msg).to.deep.equal({ host: p.peer.endsWith('@laptop') ? 'office' : 'laptop' });
    }
  });
});
