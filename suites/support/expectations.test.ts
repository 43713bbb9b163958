import { expect } from 'chai';
import { judge, loadExpectations, type Expectation } from './expectations.ts';

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
