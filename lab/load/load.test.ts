import * as allure from 'allure-js-commons';
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { run } from '../network/run.ts';
import { BrowserFleet } from '../browsers/fleet.ts';
import { startLab, type StartedLab } from '../lab.ts';
import { coturnService, serviceTurn } from './service-turn.ts';
import { summaryLine, writeLoadReport } from './report.ts';
import { runLoad, type LoadResult, type LoadSpec } from './run.ts';
import { readServer } from './server-stats.ts';
import { testDir } from '../testing/temp-dir.ts';

// The tool checked against servers limited on purpose: it must report exactly the limit put in.
const HOSTS = ['port-restricted-cone', 'symmetric'] as const;
const spec = (o: Partial<LoadSpec>): LoadSpec => ({
  calls: 4,
  ice: 'turn-udp',
  traffic: 'data',
  durationS: 3,
  ramp: 4,
  engines: ['chromium'],
  hosts: HOSTS,
  connectTimeoutMs: 8000,
  signalingAtOnce: 16,
  thresholds: { maxLossPct: 1, maxConnectP95Ms: 2000 },
  ...o,
});

/** The load through a coturn of the team's own, run as a lab service with `flags`; `allocationsAfter`: what the server still holds once the run ended. */
async function loadThrough(flags: string[], s: LoadSpec): Promise<LoadResult & { allocationsAfter: number }> {
  let lab: StartedLab | undefined;
  try {
    lab = await startLab({ hosts: HOSTS.map((name) => ({ name, nat: name })), services: [coturnService('myturn', flags)] });
    await using fleet = new BrowserFleet(lab);
    const turn = serviceTurn(lab, 'myturn');
    const r = await runLoad(fleet, turn, s);
    const allocationsAfter = readServer(turn.pid, turn.relayIp).allocations;
    const files = writeLoadReport(r, join(lab.dir, 'load'));
    await allure.attachment('load chart', readFileSync(files.svg), 'image/svg+xml');
    await allure.attachment('load summary', readFileSync(files.html), 'text/html');
    return { ...r, allocationsAfter };
  } finally {
    await lab?.stop();
  }
}

describe('icelab load against a deliberately limited coturn service @integration', function () {
  this.timeout(180_000);

  it('total-quota 50: the calls past the quota fail, each with 486, and none before it', async () => {
    // A relay-only call holds two allocations (one per peer connection): 25 calls fill a quota of 50.
    // One call in signaling at a time: its two allocations are made before the next call's (a busy machine slows gathering).
    const r = await loadThrough(['--total-quota=50'], spec({ calls: 30, ramp: 10, signalingAtOnce: 1 }));
    const outcome = r.perCall.map((c) => `${c.id} ${c.outcome}${c.failure ? ` ${c.failure}` : ''}`);
    const expected = Array.from({ length: 30 }, (_, i) => `c${i + 1} ${i < 25 ? 'connected' : 'failed 486'}`);
    expect(outcome, `calls (allocations on the server: ${r.server.allocationsMax})`).to.deep.equal(expected);
    expect(r.calls.failures, summaryLine(r)).to.deep.equal({ 486: 5 });
    expect(r.server.allocationsMax, 'allocations the server held at most').to.equal(50);
    // The run hung up its calls: a page closed with its connections open would leave them for 10 minutes.
    expect(r.allocationsAfter, 'allocations left on the server after the run').to.equal(0);
    expect(r.verdict.pass).to.equal(false);
  });

  it('max-bps 4000 (bytes/s per session, below the 50 × 160 B/s of a call): the loss it causes is reported', async () => {
    const unlimited = await loadThrough([], spec({}));
    const limited = await loadThrough(['--max-bps=4000'], spec({}));
    expect(unlimited.calls.connected, `calls connected without a limit: ${summaryLine(unlimited)}`).to.equal(4);
    // On a machine short of CPU the browsers themselves drop a little (skipped probes): the control
    // bounds that, and the limit must cost far more than it.
    expect(unlimited.lossPct!, `loss without a limit: ${summaryLine(unlimited)}`).to.be.below(10);
    expect(limited.calls.connected, `calls connected with the limit: ${summaryLine(limited)}`).to.equal(4);
    expect(limited.lossPct!, `loss with max-bps=4000: ${summaryLine(limited)}`).to.be.above(20).and.above(unlimited.lossPct! + 15);
    expect(limited.verdict.reasons.join('; ')).to.match(/loss .* > --max-loss 1%/);
  });
});

describe('icelab load, stopped with Ctrl-C @integration', function () {
  this.timeout(120_000);

  it('writes the report so far, exits 130 and leaves no namespace behind', async () => {
    const cwd = testDir('load');
    try {
      const main = fileURLToPath(new URL('../cli/main.ts', import.meta.url));
      const child = spawn(process.execPath, ['--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href, main, 'load', '--calls', '2', '--ramp', '2', '--duration', '60'], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      const exited = new Promise<number | null>((r) => child.once('exit', (code, sig) => r(code ?? (sig ? 128 + 2 : null))));
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        // Three samples with both calls up: then Ctrl-C.
        if ((stderr.match(/calls 2\/2\//g) ?? []).length === 3) child.kill('SIGINT');
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
      const code = await exited;
      clearTimeout(timer);
      expect(code, stderr).to.equal(130);
      const id = /lab (\w+) up/.exec(stderr)![1]!;
      const file = /report: (\S+)/.exec(stderr)?.[1];
      expect(file, `a report path on stderr:\n${stderr}`).to.be.a('string');
      const r = JSON.parse(readFileSync(file!, 'utf8')) as LoadResult;
      expect(r.interrupted).to.equal(true);
      expect(r.calls.connected, 'the two calls, connected before Ctrl-C').to.equal(2);
      expect(r.samples.length, 'samples up to the interrupt').to.be.at.least(3);
      expect(existsSync(file!.replace(/json$/, 'svg')), 'the chart so far').to.equal(true);
      const ns = await run(['ip', 'netns', 'list']);
      expect(ns.stdout.split('\n').filter((l) => l.includes(id)), `namespaces of lab ${id} left`).to.deep.equal([]);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
