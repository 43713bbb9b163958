import { join } from 'node:path';
import * as allure from 'allure-js-commons';
import { runCall, type CallResult } from '../../lab/scenario/call.ts';
import { callStory, flowSummary, labelCall, reportVerdict } from '../../lab/report/call-report.ts';
import { VerdictUnknownError } from '../../lab/scenario/verdict.ts';
import { attachDir, evidenceRoot, gate, safeName, selectedByGrep, suiteEngines, suiteEnv, unavailable } from '../support/fixture.ts';
import { parseShard } from '../../lab/cli/shard.ts';
import { matrixCases, type MatrixCase } from './matrix.ts';
import { CallPool } from '../../lab/scenario/call-pool.ts';

const selection = process.env.ICELAB_MATRIX === 'full' ? 'full' : 'pr';
const cases = matrixCases({ engines: suiteEngines(), selection, shard: parseShard(process.env.ICELAB_SHARD) });

const title = `connectivity matrix (${selection}${process.env.ICELAB_SHARD ? `, shard ${process.env.ICELAB_SHARD}` : ''})`;
const testTitle = (c: MatrixCase) => `${c.a.engine} behind ${c.a.preset} ↔ ${c.b.engine} behind ${c.b.preset}, ${c.iceName}`;

describe(title, function () {
  // Every selected call runs from a pool started here (calls that share no host at once, as the
  // CPU allows); each test awaits its own call and reports it.
  const calls = new Map<string, Promise<CallResult>>();
  before(function () {
    const pool = new CallPool();
    const run = selectedByGrep(process.argv);
    for (const c of cases.filter((x) => run(`${title} ${testTitle(x)}`))) {
      const call = pool.submit([c.spec.a.host, c.spec.b.host], async () => {
        const { lab, fleet } = await suiteEnv();
        return runCall(lab, fleet, c.spec, join(evidenceRoot(), safeName(c.id)));
      });
      call.catch(() => undefined); // reported by its own test
      calls.set(c.id, call);
    }
  });
  for (const c of cases) {
    it(testTitle(c), async function () {
      await allure.parentSuite('connectivity');
      await allure.suite(`${c.a.engine} → ${c.b.engine}`);
      await allure.subSuite(c.iceName);
      await labelCall(c.spec, c.a.preset, c.b.preset, c.iceName);
      const dir = join(evidenceRoot(), safeName(c.id));
      const r = await calls.get(c.id)!.catch((e: unknown) => unavailable(this, e));
      await allure.description(callStory(r));
      await attachDir(dir);
      const who = [
        { engine: c.a.engine, version: r.peers.a.version },
        { engine: c.b.engine, version: r.peers.b.version },
      ];
      await allure.parameter('engine versions', `${c.a.engine} ${r.peers.a.version} → ${c.b.engine} ${r.peers.b.version}`);
      await reportVerdict(r);
      // The verdict on the call's evidence against the oracle, then data and media actually flowing.
      // A candidate that could not be added makes any verdict untrustworthy; a call the evidence
      // cannot judge is broken (an error), never a pass or a failure.
      const untrusted = r.signalingErrors.length > 0;
      if (!untrusted && r.verdict.status === 'unknown') throw new VerdictUnknownError(c.id, r.verdict.reason, r.evidence);
      const seen = untrusted ? `${r.observed} with ${r.signalingErrors.length} remote candidates not added` : r.verdict.result;
      await gate(c.id, who, seen, r.expected.outcome, untrusted ? r.reason : r.verdict.reason);
      if (r.outcome === 'connected') await gate(`${c.id}/flow`, who, flowSummary(r, c.spec.media ?? []), (c.spec.media ?? []).map((k) => `${k}:ok`).join(' '));
    });
  }
});
