import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { findEngine } from '../browsers/engines.ts';
import { leftovers } from '../network/network.ts';
import { testDir } from '../testing/temp-dir.ts';

const BIN = new URL('../../bin/icelab.js', import.meta.url).pathname;

function icelab(args: string[], cwd?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 90_000, ...(cwd ? { cwd } : {}) }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

/** `icelab connect` end to end: real lab, real browsers, the JSON and the evidence an engineer gets. */
describe('icelab connect @integration', function () {
  this.timeout(120_000);
  before(function () {
    // The project's tests need both browsers (scripts/setup installs them): a missing one fails here, with the fix.
    for (const e of ['chromium', 'firefox'] as const) {
      const f = findEngine(e);
      if (!f.available) throw new Error(`${f.reason}; to fix: ${f.fix}`);
    }
  });

  it('Firefox behind a symmetric NAT reaches Chromium behind a full cone directly, with the evidence and a packet capture (exit 0)', async () => {
    const r = await icelab(['connect', '--a', 'firefox@symmetric', '--b', 'chromium@full-cone', '--ice', 'stun', '--media', 'data,audio', '--pcap', '--json']);
    expect(r.code, r.stderr).to.equal(0);
    const out = JSON.parse(r.stdout) as { outcome: string; expected: string; observed: string; matches: boolean; selectedPair: { local: { type: string } }; timings: { connectedMs: number }; peers: { a: { media: { audio: { flowing: boolean } } } }; evidence: string };
    expect(out).to.include({ outcome: 'connected', expected: 'prflx', observed: 'prflx', matches: true });
    expect(out.timings.connectedMs).to.be.above(0);
    // Where the time went: each phase measured, each browser's launch.
    const phases = (JSON.parse(r.stdout) as { phases: Record<string, unknown> }).phases;
    expect(phases, r.stdout).to.have.all.keys('networkMs', 'turnReadyMs', 'browsersMs', 'callMs', 'downMs', 'launchMs');
    expect(Object.keys(phases.launchMs as object).sort()).to.deep.equal(['chromium@full-cone', 'firefox@symmetric']);
    expect(out.peers.a.media.audio.flowing).to.equal(true);
    const files = readdirSync(out.evidence);
    for (const f of ['result.json', 'timeline.txt', 'candidates-a.json', 'getstats-b.json', 'console-a.log', 'turnserver.log', 'wan.pcap']) expect(files, f).to.include(f);
    expect(files.some((f) => f.endsWith('-offer.sdp'))).to.equal(true);
    // tcpdump's pcap header (little-endian magic) and more than the header: packets were captured.
    const pcap = readFileSync(join(out.evidence, 'wan.pcap'));
    expect(pcap.readUInt32LE(0)).to.equal(0xa1b2c3d4);
    expect(pcap.length).to.be.above(24);
  });

  it('a call that fails ICE as predicted still writes its evidence and exits 0 (the outcome matches)', async () => {
    const r = await icelab(['connect', '--a', 'chromium@symmetric', '--b', 'chromium@port-restricted-cone', '--ice', 'stun', '--timeout', '3000', '--json']);
    expect(r.code, r.stderr).to.equal(0);
    const out = JSON.parse(r.stdout) as { outcome: string; expected: string; selectedPair: unknown; evidence: string };
    expect(out).to.include({ outcome: 'failed', expected: 'fail', selectedPair: null });
    expect(existsSync(join(out.evidence, 'timeline.txt'))).to.equal(true);
    expect(readFileSync(join(out.evidence, 'timeline.txt'), 'utf8')).to.match(/candidate srflx/);
  });

  it('--topology <file> run from an app\'s directory: the file\'s hosts and NATs, evidence under that directory (exit 0)', async () => {
    // Both were broken: the planned file was validated again as input, and reports went into the package.
    const app = testDir('app');
    try {
      writeFileSync(join(app, 'lab.yaml'), ['hosts:', '  - name: alice', '    nat: { mapping: address-and-port-dependent, filtering: address-and-port-dependent, hairpinning: false }', '  - name: bob', '    nat: full-cone', ''].join('\n'));
      const r = await icelab(['connect', '--a', 'chromium@alice', '--b', 'chromium@bob', '--ice', 'stun', '--topology', 'lab.yaml', '--json'], app);
      expect(r.code, r.stderr).to.equal(0);
      const out = JSON.parse(r.stdout) as { outcome: string; expected: string; matches: boolean; evidence: string; peers: { a: { host: string } } };
      expect(out).to.include({ outcome: 'connected', expected: 'prflx', matches: true });
      expect(out.peers.a.host).to.equal('alice');
      expect(realpathSync(out.evidence).startsWith(`${realpathSync(app)}/reports/evidence/connect-`), out.evidence).to.equal(true);
      expect(readdirSync(out.evidence)).to.include('result.json');
    } finally {
      rmSync(app, { recursive: true, force: true });
    }
  });

  it('the command a result carries reproduces the call: every non-default setting in it, the same class again', async () => {
    // It left out the connect timeout, --turn container and the topology: the "same" call ran differently.
    const app = testDir('repro');
    try {
      writeFileSync(join(app, 'pair.yaml'), 'hosts:\n  - name: left\n    nat: symmetric\n  - name: right\n    nat: port-restricted-cone\n');
      const first = await icelab(['connect', '--a', 'firefox@left', '--b', 'chromium@right', '--ice', 'stun,turn-udp', '--policy', 'relay', '--timeout', '6000', '--topology', 'pair.yaml', '--json'], app);
      expect(first.code, first.stderr).to.equal(0);
      const a = JSON.parse(first.stdout) as { observed: string; command: string };
      for (const flag of ['--policy relay', '--timeout 6000', '--topology pair.yaml']) expect(a.command, flag).to.include(flag);
      const argv = a.command.replace(/^npx icelab /, '').split(' ');
      const again = await icelab([...argv, '--json'], app);
      expect(again.code, again.stderr).to.equal(0);
      expect((JSON.parse(again.stdout) as { observed: string }).observed).to.equal(a.observed).and.to.equal('relay-udp');
    } finally {
      rmSync(app, { recursive: true, force: true });
    }
  });

  it('--lab: calls in a lab that is up run in its call server, the second on the browsers the first launched; down removes it all', async () => {
    const name = `cl${process.pid % 10_000}`;
    const up = await icelab(['up', '--name', name, '--topology', 'full-cone,symmetric', '--json']);
    expect(up.code, up.stderr).to.equal(0);
    try {
      const call = async () => {
        const r = await icelab(['connect', '--lab', name, '--a', 'chromium@full-cone', '--b', 'firefox@symmetric', '--ice', 'stun', '--json']);
        expect(r.code, r.stderr).to.equal(0);
        return JSON.parse(r.stdout) as { observed: string; expected: string; matches: boolean; command: string; evidence: string; phases: { launchMs: Record<string, number> } };
      };
      const first = await call();
      const second = await call();
      for (const r of [first, second]) {
        expect(r).to.include({ observed: 'prflx', expected: 'prflx', matches: true });
        expect(r.command).to.include(`--lab ${name}`);
        const files = readdirSync(r.evidence);
        for (const f of ['result.json', 'timeline.txt', 'candidates-b.json', 'getstats-a.json', 'console-b.log', 'ice-checks.json', 'turnserver.log']) expect(files, f).to.include(f);
      }
      // The first call launched Firefox (seconds); the second found both browsers running.
      expect(first.phases.launchMs['firefox@symmetric']).to.be.above(500);
      expect(Math.max(...Object.values(second.phases.launchMs))).to.be.below(100);
    } finally {
      const down = await icelab(['down', '--name', name]);
      expect(down.code, down.stderr).to.equal(0);
    }
    expect(await leftovers(name)).to.deep.equal([]);
  });

  it('bad input exits 2 naming the option, before any lab starts', async () => {
    const r = await icelab(['connect', '--a', 'safari@symmetric', '--b', 'chromium@open', '--ice', 'stun']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/--a: unknown browser engine "safari"[\s\S]*chromium, firefox, webkit/);
  });
});
