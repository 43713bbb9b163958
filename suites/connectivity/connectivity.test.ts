import { join } from 'node:path';
import * as allure from 'allure-js-commons';
import { runCall } from '../../lab/scenario/call.ts';
import { callStory, flowSummary, labelCall, reportVerdict } from '../../lab/report/call-report.ts';
import { VerdictUnknownError } from '../../lab/scenario/verdict.ts';
import { attachDir, evidenceRoot, gate, safeName, suiteEngines, suiteEnv, unavailable } from '../support/fixture.ts';
import { parseShard } from '../../lab/cli/shard.ts';
import { matrixCases } from './matrix.ts';

const selection = process.env.ICELAB_MATRIX === 'full' ? 'full' : 'pr';
const cases = matrixCases({ engines: suiteEngines(), selection, shard: parseShard(process.env.ICELAB_SHARD) });

describe(`connectivity matrix (${selection}${process.env.ICELAB_SHARD ? `, shard ${process.env.ICELAB_SHARD}` : ''})`, function () {
  for (const c of cases) {
    it(`${c.a.engine} behind ${c.a.preset} ↔ ${c.b.engine} behind ${c.b.preset}, ${c.iceName}`, async function () {
      await allure.parentSuite('connectivity');
      await allure.suite(`${c.a.engine} → ${c.b.engine}`);
      await allure.subSuite(c.iceName);
      await labelCall(c.spec, c.a.preset, c.b.preset, c.iceName);
      const { lab, fleet } = await suiteEnv();
      const dir = join(evidenceRoot(), safeName(c.id));
      const r = await runCall(lab, fleet, c.spec, dir).catch((e: unknown) => unavailable(this, e));
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
