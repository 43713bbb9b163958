import { expect } from 'chai';
import { LabError } from '../topology/errors.ts';
import { externalTarget, inRange, parseRange } from './target.ts';

const env = (over: Record<string, string>) => ({ ICELAB_TURN_URL: 'turn:turn.example.com:3478,turns:turn.example.com:5349', ICELAB_TURN_SECRET: 's3cret', ICELAB_TURN_DENIES: '127.0.0.0/8,10.0.0.0-10.255.255.255', ...over });
const failure = (e: NodeJS.ProcessEnv) => {
  try {
    externalTarget(e);
  } catch (err) {
    expect(err).to.be.instanceOf(LabError);
    expect((err as LabError).code).to.equal('ERR_TURN_TARGET');
    return (err as Error).message.replace('\nTo fix: ', ' | ');
  }
  throw new Error('expected an error');
};

describe('TURN target from the environment', function () {
  it('is the lab (null) without ICELAB_TURN_URL', () => {
    expect(externalTarget({})).to.equal(null);
  });

  it('reads endpoints per transport, REST credentials and the claimed denied ranges', () => {
    const t = externalTarget(env({}))!;
    expect(Object.keys(t.endpoints)).to.deep.equal(['udp', 'tcp', 'tls']);
    expect(t.endpoints.tls).to.include({ host: 'turn.example.com', port: 5349 });
    expect(t.credentials().username).to.match(/^\d+:icelab$/);
    expect(Number(t.expiredCredentials()!.username.split(':')[0])).to.be.below(Date.now() / 1000);
    expect(t.denies.map((d) => [d.first, d.last])).to.deep.equal([['127.0.0.0', '127.255.255.255'], ['10.0.0.0', '10.255.255.255']]);
  });

  it('with a static user: no expired or second-user credentials can be made', () => {
    const t = externalTarget(env({ ICELAB_TURN_SECRET: '', ICELAB_TURN_USER: 'u', ICELAB_TURN_PASSWORD: 'p' }))!;
    expect(t.credentials()).to.deep.equal({ username: 'u', password: 'p' });
    expect(t.expiredCredentials()).to.equal(null);
    expect(t.otherCredentials()).to.equal(null);
  });

  it('names the variable and the fix for bad or missing values', () => {
    expect(failure(env({ ICELAB_TURN_URL: 'http://x' }))).to.match(/^ICELAB_TURN_URL: "http:\/\/x" is not a TURN URL \| use turn:/);
    expect(failure(env({ ICELAB_TURN_SECRET: '' }))).to.match(/^ICELAB_TURN_SECRET: no credentials.*ICELAB_TURN_USER and ICELAB_TURN_PASSWORD/s);
    expect(failure({ ICELAB_TURN_URL: 'turn:h', ICELAB_TURN_SECRET: 's' })).to.match(/^ICELAB_TURN_DENIES: not set.*"none"/s);
    expect(failure(env({ ICELAB_TURN_DENIES: '10.0.0.0/33' }))).to.match(/^ICELAB_TURN_DENIES: "10.0.0.0\/33" is not an IPv4 CIDR range \| give IPv4 ranges/);
    expect(failure(env({ ICELAB_TURN_DENIES: '10.0.0.9-10.0.0.1' }))).to.match(/^ICELAB_TURN_DENIES: "10.0.0.9-10.0.0.1" is not an IPv4 range/);
  });

  it('matches addresses against ranges (CIDR normalised to its network)', () => {
    const r = parseRange('172.16.5.0/12', 'test');
    expect([r.first, r.last]).to.deep.equal(['172.16.0.0', '172.31.255.255']);
    expect(inRange('172.31.0.1', r)).to.equal(true);
    expect(inRange('172.32.0.1', r)).to.equal(false);
    expect(externalTarget(env({ ICELAB_TURN_DENIES: 'none' }))!.denies).to.deep.equal([]);
  });
});
