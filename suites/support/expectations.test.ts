import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { LabError } from '../../lab/topology/errors.ts';
import { predictOutcome } from '../../lab/scenario/oracle.ts';
import { judgeCall, RELAY_FIRST_PENDING, type VerdictInput } from '../../lab/scenario/verdict.ts';
import { judge, loadExpectations, type Expectation } from './expectations.ts';
import { testDir } from '../../lab/testing/temp-dir.ts';

describe('expectations: judging a result against the spec and the known deviations', () => {
  const ff = [{ engine: 'firefox' as const, version: '153.8.0' }];
  const entry: Expectation = { test: 'x/*', engine: 'firefox', result: 'relay-tls', reason: 'nominates the first valid pair' };
  it('a listed deviation is known; the spec result then means it was fixed; anything else is unexpected', () => {
    expect(judge([entry], 'x/1', ff, 'relay-tls', 'srflx').status).to.equal('known');
    expect(judge([entry], 'x/1', ff, 'srflx', 'srflx').status).to.equal('fixed');
    expect(judge([entry], 'x/1', ff, 'relay-udp', 'srflx').status).to.equal('unexpected');
  });
  it('a timing-dependent deviation (sometimes) lets the spec result pass', () => {
    const sometimes = { ...entry, sometimes: true };
    expect(judge([sometimes], 'x/1', ff, 'srflx', 'srflx').status).to.equal('pass');
    expect(judge([sometimes], 'x/1', ff, 'relay-tls', 'srflx').status).to.equal('known');
    expect(judge([sometimes], 'x/1', ff, 'relay-tls', 'relay-tls').status).to.equal('pass');
    expect(judge([sometimes], 'x/1', ff, 'relay-udp', 'srflx').status).to.equal('unexpected');
  });
  it('entries for an engine do not match other engines', () => {
    expect(judge([entry], 'x/1', [{ engine: 'chromium', version: '156' }], 'relay-tls', 'srflx').status).to.equal('unexpected');
  });
});

describe('expectations.yaml: the seed claims in Firefox', () => {
  const ff = [{ engine: 'firefox' as const, version: '153.8.0' }];
  const list = loadExpectations();
  it('"prefix missing" is known only while the standard RTCPeerConnection still does what the claim says', () => {
    // It was `false` by construction: a broken Firefox media path stayed green.
    expect(judge(list, 'api/claims/audio-video-data', ff, 'false (prefix missing); standard holds', 'true').status).to.equal('known');
    expect(judge(list, 'api/claims/audio-video-data', ff, 'false (prefix missing); standard fails', 'true').status).to.equal('unexpected');
  });
});

const load = (yaml: string) => {
  const dir = testDir('expectations');
  try {
    writeFileSync(join(dir, 'e.yaml'), yaml);
    return loadExpectations(join(dir, 'e.yaml'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};
const refusal = (yaml: string): LabError => {
  try {
    load(yaml);
  } catch (e) {
    return e as LabError;
  }
  throw new Error('the file was accepted');
};

describe('expectations: connectivity entries name one call and the prediction they replace', () => {
  const ff = [
    { engine: 'firefox' as const, version: '153.8.0' },
    { engine: 'chromium' as const, version: '156.0.8078.114' },
  ];

  it('refuses the old glob over NAT pairs, which let a leaking firewall pass as known', () => {
    const old = "- test: connectivity/firefox@*/turn-udp\n  engine: firefox\n  result: relay-udp\n  insteadOf: srflx\n  sometimes: true\n  reason: nominates the first valid pair\n";
    const e = refusal(old);
    expect(e.code).to.equal('ERR_EXPECTATIONS_INVALID');
    expect(e.message).to.include('[0.test] "connectivity/firefox@*/turn-udp": a connectivity entry names one call');
    // What that entry did: the udp-blocked call settled relay-udp where the oracle predicts no path, and passed as known.
    const globbed: Expectation = { test: 'connectivity/firefox@*/turn-udp', engine: 'firefox', result: 'relay-udp', sometimes: true, reason: 'nominates the first valid pair' };
    expect(judge([globbed], 'connectivity/firefox@udp-blocked--chromium@port-restricted-cone/turn-udp', ff, 'relay-udp', 'fail').status).to.equal('known');
  });

  it('refuses an unknown preset (an entry that would never match) and an entry without insteadOf', () => {
    expect(refusal("- test: connectivity/firefox@restricted-con--chromium@port-restricted-cone/turn-udp\n  result: x\n  insteadOf: srflx\n  reason: a reason long enough\n").message).to.include('names one call');
    expect(refusal("- test: connectivity/firefox@restricted-cone--chromium@port-restricted-cone/turn-udp\n  result: x\n  reason: a reason long enough\n").message).to.include('[0.insteadOf]');
  });

  it('an entry applies only where the spec result is the one it replaces', () => {
    const named: Expectation = { test: 'connectivity/firefox@udp-blocked--chromium@port-restricted-cone/turn-udp', engine: 'firefox', result: 'relay-udp', insteadOf: 'srflx', reason: 'an entry for the wrong prediction' };
    expect(judge([named], named.test, ff, 'relay-udp', 'srflx').status).to.equal('known');
    expect(judge([named], named.test, ff, 'relay-udp', 'fail').status).to.equal('unexpected');
  });
});

describe('expectations.yaml: no entry for a relay nominated first, on recorded calls', () => {
  const list = loadExpectations();
  const who = [
    { engine: 'firefox' as const, version: '153.8.0' },
    { engine: 'chromium' as const, version: '156.0.8078.114' },
  ];
  const recorded = (name: string): VerdictInput => {
    const { input } = JSON.parse(readFileSync(new URL(`../../lab/scenario/fixtures/${name}.json`, import.meta.url), 'utf8')) as { input: VerdictInput };
    return { ...input, expected: predictOutcome(input.sides.a, input.sides.b, input.ice) };
  };
  const ID = 'connectivity/firefox@restricted-cone--chromium@restricted-cone/turn-udp';

  it('refuses an entry accepting a relay nominated while direct checks were pending: the same call with STUN only decides it', () => {
    const entry = `- test: ${ID}\n  engine: firefox\n  result: 'relay-udp, ${RELAY_FIRST_PENDING}'\n  insteadOf: srflx\n  sometimes: true\n  reason: Firefox nominates the first valid pair\n`;
    expect(refusal(entry).message).to.include('[0.result]').and.include('decided by the same call with STUN only');
    for (const e of list.filter((x) => x.test.startsWith('connectivity/'))) expect(e.result, e.test).to.not.include(RELAY_FIRST_PENDING);
  });

  it('relay-first with the direct checks pending is unexpected on its own: only its retest can pass it', () => {
    const v = judgeCall(recorded('relay-first-pending'));
    expect(judge(list, ID, who, v.result, 'srflx').status).to.equal('unexpected');
  });

  it('the leaking udp-blocked firewall is unexpected: its verdict result matches no entry', () => {
    const v = judgeCall(recorded('leaky-firewall'));
    const j = judge(list, 'connectivity/firefox@udp-blocked--chromium@port-restricted-cone/turn-udp', who, v.result, 'fail');
    expect(j).to.include({ status: 'unexpected', observed: 'relay-udp', expected: 'fail' });
  });
});
