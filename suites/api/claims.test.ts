import { join } from 'node:path';
import * as allure from 'allure-js-commons';
import type { Context } from 'mocha';
import { ENGINES, type EngineName } from '../../lab/browsers/engines.ts';
import { writeClaims, type ClaimsFile, type ClaimVerdict } from '../../lab/report/claims-table.ts';
import { runCall } from '../../lab/scenario/call.ts';
import { twinHost } from '../../lab/topology/topology.ts';
import { apiPage, evidenceRoot, gate, suiteEngines, suiteEnv, unavailable } from '../support/fixture.ts';
import { API_HTML, API_PAGES, labServers, openApi, runCheck, type Observation } from './api-page.ts';
import { CLAIMS, GUIDE_EXAMPLE, type Claim } from './claims.ts';
import { setTimeout as sleep } from 'node:timers/promises';

const engines = suiteEngines();
const verdicts = new Map<string, Partial<Record<EngineName, ClaimVerdict>>>();
const versions: Partial<Record<EngineName, string>> = {};

/** The guide's example as written, in a fresh page: what it logs within `ms`. */
async function runExample(ctx: Context, engine: EngineName, claim: Claim & { check: { kind: 'example' } }): Promise<Observation> {
  const { page, version, close } = await apiPage(ctx, engine);
  versions[engine] = version;
  try {
    const logs: string[] = [];
    page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => logs.push(`uncaught: ${e.name}: ${e.message}`));
    await page.addScriptTag({ content: GUIDE_EXAMPLE });
    // The example logs success or failure once the offer is set; candidates would follow within
    // milliseconds (a local host candidate), so 2 s after that is plenty.
    const t0 = Date.now();
    while (Date.now() - t0 < 5000 && !logs.some((l) => /successfully|Error|uncaught/.test(l))) await sleep(50);
    if (claim.check.expect === 'logs-candidates') await sleep(2000);
    const success = logs.some((l) => l.startsWith('log: Local description set successfully.'));
    const errors = logs.filter((l) => l.startsWith('error:') || l.startsWith('uncaught:'));
    const candidates = logs.filter((l) => l.startsWith('log: New ICE candidate:')).length;
    const ok = claim.check.expect === 'runs' ? success && !errors.length : candidates > 0;
    const summary = `console: ${logs.length ? logs.map((l) => l.slice(0, 100)).join(' | ') : 'nothing'}`;
    const why = claim.check.expect === 'logs-candidates' && !candidates && success ? ' — the offer has no media or data section, so there is nothing to gather candidates for' : '';
    return { observed: ok ? 'true' : 'false', detail: `${candidates} candidate(s) logged; ${summary}${why}` };
  } finally {
    await close();
  }
}

/** Two browsers of the engine behind symmetric NATs: STUN alone should fail, TURN should rescue. */
async function natCall(ctx: Context, engine: EngineName): Promise<Observation> {
  const { lab, fleet } = await suiteEnv();
  const peers = { a: { engine, host: 'symmetric' }, b: { engine, host: twinHost('symmetric') } };
  const dir = join(evidenceRoot(), `api-claims-nat-${engine}`);
  // Both calls at once (separate contexts and peer connections in the same two browsers): the
  // STUN-only one has to sit out its timeout anyway.
  const [stun, turn] = await Promise.all([
    runCall(lab, fleet, { ...peers, ice: ['stun'], connectTimeoutMs: 4000 }, join(dir, 'stun')),
    runCall(lab, fleet, { ...peers, ice: ['stun', 'turn-udp'], connectTimeoutMs: 15000 }, join(dir, 'turn')),
  ]).catch((e: unknown) => unavailable(ctx, e));
  versions[engine] = stun.peers.a.version;
  const pair = turn.selectedPair ? `${turn.selectedPair.local.type}↔${turn.selectedPair.remote.type}` : 'none';
  return {
    observed: stun.outcome === 'failed' && turn.outcome === 'connected' ? 'true' : 'false',
    detail: `symmetric ↔ symmetric: STUN only ${stun.outcome}${stun.reason ? ` (${stun.reason})` : ''}; with TURN/UDP ${turn.outcome} over ${pair}`,
  };
}

describe('api: seed guide claims', function () {
  before(async function () {
    // Launch the browsers the NAT claim needs while the page checks run (launches are cached).
    const { fleet } = await suiteEnv();
    for (const engine of engines) for (const host of ['symmetric', twinHost('symmetric')]) fleet.browser(engine, host).catch(() => undefined);
  });
  after(() => {
    writeClaimsFile();
  });

  for (const claim of CLAIMS) {
    describe(`${claim.id}: ${claim.claim.replace(/`/g, '')}`, function () {
      for (const engine of engines) {
        it(`${engine}`, async function () {
          await allure.description(`**Claim** (${claim.source}): ${claim.claim}\n\n**Check:** ${claim.how}\n\nThe guide says it holds: expected \`true\`.`);
          await allure.subSuite(claim.id);
          const record = (v: ClaimVerdict) => verdicts.set(claim.id, { ...verdicts.get(claim.id), [engine]: v });
          let o: Observation;
          try {
            if (claim.check.kind === 'nat') {
              await openApi(this, API_PAGES, 'claims', engine);
              o = await natCall(this, engine);
            } else if (claim.check.kind === 'example') {
              await openApi(this, API_PAGES, 'claims', engine);
              o = await runExample(this, engine, claim as Claim & { check: { kind: 'example' } });
            } else {
              const shared = await openApi(this, API_PAGES, 'claims', engine);
              versions[engine] = shared.version;
              const arg = claim.check.arg === 'lab' ? await labServers() : claim.check.arg === 'engine' ? engine : undefined;
              const own = claim.check.host ? await apiPage(this, engine, claim.check.host, API_HTML) : null;
              try {
                o = await runCheck((own ?? shared).page, 'claims', claim.check.name, arg);
              } finally {
                await own?.close();
              }
            }
          } catch (e) {
            const na = (this.test as { icelabUnavailable?: string } | undefined)?.icelabUnavailable;
            record(na ? { verdict: 'unavailable', detail: na.replace(/^unavailable: /, '') } : { verdict: 'error', detail: (e as Error).message.split('\n')[0]! });
            throw e;
          }
          record({ verdict: o.observed === 'true' ? 'true' : 'false', detail: o.detail });
          await allure.logStep(`${engine}: ${o.detail}`);
          await gate(`api/claims/${claim.id}`, [{ engine, version: versions[engine]! }], o.observed, 'true', o.detail);
        });
      }
    });
  }

});

// After every claim test: the table goes to claims.json, which `icelab suite` prints and the
// report's overview shows. A hook, not a test: writing a file is not a result that could fail.
after(function () {
  writeClaimsFile();
});

function writeClaimsFile(): ClaimsFile {
  const data: ClaimsFile = {
    generated: new Date().toISOString(),
    engines: Object.fromEntries(ENGINES.map((e) => [e, versions[e] ?? null])),
    claims: CLAIMS.map((c) => ({
      id: c.id,
      claim: c.claim,
      source: c.source,
      verdicts: Object.fromEntries(
        ENGINES.map((e) => [e, verdicts.get(c.id)?.[e] ?? { verdict: 'unavailable', detail: engines.includes(e) ? 'not run (test skipped or filtered out)' : 'not selected in this run (ICELAB_ENGINES)' }]),
      ),
    })),
  };
  writeClaims(data);
  return data;
}
