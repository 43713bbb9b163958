import * as allure from 'allure-js-commons';
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BrowserFleet } from '../browsers/fleet.ts';
import { startLab, type StartedLab } from '../lab.ts';
import { labTurn } from '../cli/load.ts';
import { writeLoadReport } from './report.ts';
import { runLoad, type LoadResult, type LoadSpec } from './run.ts';

// The tool checked against servers limited on purpose: it must report exactly the limit put in.
const HOSTS = ['port-restricted-cone', 'symmetric'] as const;
const spec = (o: Partial<LoadSpec>): LoadSpec => ({
  calls: 4,
  ice: 'turn-udp',
  traffic: 'data',
  durationS: 3,
  // 4 calls/s: each call's offer and answer have gathered (its two allocations exist) before the next starts.
  ramp: 4,
  engines: ['chromium'],
  hosts: HOSTS,
  connectTimeoutMs: 8000,
  thresholds: { maxLossPct: 1, maxConnectP95Ms: 2000 },
  ...o,
});

async function loadThrough(extraConfig: string[], s: LoadSpec): Promise<LoadResult> {
  let lab: StartedLab | undefined;
  try {
    lab = await startLab({ hosts: HOSTS.map((name) => ({ name, nat: name })) }, { coturn: { extraConfig } });
    await using fleet = new BrowserFleet(lab);
    const r = await runLoad(fleet, labTurn(lab), s);
    const files = writeLoadReport(r, join(lab.dir, 'load'));
    await allure.attachment('load chart', readFileSync(files.svg), 'image/svg+xml');
    await allure.attachment('load summary', readFileSync(files.html), 'text/html');
    return r;
  } finally {
    await lab?.stop();
  }
}

describe('icelab load against a deliberately limited coturn @integration', function () {
  this.timeout(180_000);

  it('total-quota 50: the calls past the quota fail, each with 486, and none before it', async () => {
    // A relay-only call holds two allocations (one per peer connection): 25 calls fill a quota of 50.
    const r = await loadThrough(['total-quota=50'], spec({ calls: 30 }));
    const outcome = r.perCall.map((c) => `${c.id} ${c.outcome}${c.failure ? ` ${c.failure}` : ''}`);
    const expected = r.perCall.map((c, i) => `${c.id} ${i < 25 ? 'connected' : 'failed 486'}`);
    expect(outcome, `calls (allocations on the server: ${r.server.allocationsMax})`).to.deep.equal(expected);
    expect(r.calls.failures).to.deep.equal({ 486: 5 });
    expect(r.server.allocationsMax, 'allocations the server held at most').to.equal(50);
    expect(r.verdict.pass).to.equal(false);
  });

  it('max-bps 4000 (bytes/s per session, below the 50 × 160 B/s of a call): the loss it causes is reported', async () => {
    const unlimited = await loadThrough([], spec({}));
    const limited = await loadThrough(['max-bps=4000'], spec({}));
    expect(unlimited.calls.connected, 'calls connected without a limit').to.equal(4);
    expect(unlimited.lossPct!, 'loss without a limit').to.be.below(1);
    expect(limited.calls.connected, 'calls connected with the limit').to.equal(4);
    expect(limited.lossPct!, 'loss with max-bps=4000').to.be.above(20);
    expect(limited.verdict.reasons.join('; ')).to.match(/loss .* > --max-loss 1%/);
  });
});
