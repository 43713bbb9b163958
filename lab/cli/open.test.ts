import { execFile } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { openEvidenceDir } from './open.ts';
import { testDir } from '../testing/temp-dir.ts';

const BIN = new URL('../../bin/icelab.js', import.meta.url).pathname;
const APP = new URL('../app/fixtures/tiny-app.mjs', import.meta.url).pathname;

function icelab(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 240_000, cwd }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

/** An app's repo: a topology with the app's server as a service, hosts behind two NATs. */
function appDir(): string {
  const dir = testDir('open');
  writeFileSync(
    join(dir, 'lab.yaml'),
    `hosts:\n  - { name: alice, nat: full-cone }\n  - { name: bob, nat: symmetric }\nservices:\n  - { name: web, command: "${process.execPath} ${APP} 8080", port: 8080, tls: true }\n`,
  );
  return dir;
}

describe('icelab open: where evidence goes', () => {
  it('under ICELAB_REPORTS_DIR when set (as the suites write theirs), else ./reports', () => {
    const at = new Date('2026-12-01T14:05:06.789Z');
    expect(openEvidenceDir(at, { ICELAB_REPORTS_DIR: '/tmp/r' })).to.equal('/tmp/r/evidence/open-2026-12-01T14-05-06-789Z');
    expect(openEvidenceDir(at, {})).to.equal(join(process.cwd(), 'reports', 'evidence', 'open-2026-12-01T14-05-06-789Z'));
  });
});

describe('icelab open @integration', function () {
  this.timeout(300_000);

  it('opens the app in Chromium and Firefox behind two NATs, runs --run per page, prints the JSON report and exits 0 when all settled as predicted', async () => {
    const dir = appDir();
    writeFileSync(join(dir, 'join.mjs'), `export default async (page, peer) => { await page.waitForSelector('#state'); console.error('joined ' + peer.name + ' #' + peer.index); };\n`);
    const r = await icelab(['open', 'https://web.lab.test/?room=r&me={index}&ice=stun', '--peers', 'chromium@alice,firefox@bob', '--topology', 'lab.yaml', '--run', 'join.mjs', '--json'], dir);
    expect(r.code, `${r.stdout}\n${r.stderr}`).to.equal(0);
    expect(r.stderr).to.include('joined chromium@alice #0').and.include('joined firefox@bob #1');
    const out = JSON.parse(r.stdout) as { peers: { peer: string; peerConnections: Record<string, unknown>[] }[] };
    expect(out.peers.map((p) => p.peer)).to.deep.equal(['chromium@alice', 'firefox@bob']);
    for (const [i, p] of out.peers.entries()) {
      expect(p.peerConnections).to.have.length(1);
      const pc = p.peerConnections[0]!;
      expect(Object.keys(pc)).to.deep.equal(['state', 'selectedPair', 'class', 'remote', 'expected', 'matches', 'media']);
      expect(pc).to.deep.include({ state: 'connected', expected: 'prflx', matches: true, remote: { host: i === 0 ? 'bob' : 'alice' } });
    }
    // Evidence under the working directory: per page its trace and console, per peer connection the call's files.
    const evidence = join(dir, 'reports', 'evidence');
    const [run] = readdirSync(evidence);
    expect(readdirSync(join(evidence, run!))).to.include.members(['open.json', '0-chromium@alice', '1-firefox@bob']);
    expect(existsSync(join(evidence, run!, '0-chromium@alice', 'trace.zip'))).to.equal(true);
    expect(existsSync(join(evidence, run!, '1-firefox@bob', 'pc-0', 'result.json'))).to.equal(true);
  });

  it('an app page that makes no peer connection fails naming the URL and what to do (exit 1)', async () => {
    const r = await icelab(['open', 'https://web.lab.test/blank', '--peers', 'chromium@alice', '--topology', 'lab.yaml', '--timeout', '1500'], appDir());
    expect(r.code, r.stderr).to.equal(1);
    expect(r.stderr).to.match(/chromium@alice: https:\/\/web\.lab\.test\/blank created no RTCPeerConnection in a call within 1500 ms[\s\S]*To fix: drive the page to its call/);
  });

  it('a URL whose host is not a lab name is refused before a lab starts (exit 2)', async () => {
    const r = await icelab(['open', 'https://app.example.com/', '--peers', 'chromium@alice', '--topology', 'lab.yaml'], appDir());
    expect(r.code, r.stderr).to.equal(2);
    expect(r.stderr).to.include('https://app.example.com/: "app.example.com" is not a lab name').and.include('To fix: use a service\'s name: web.lab.test');
  });
});
