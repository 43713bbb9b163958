import { expect } from 'chai';
import { LabError } from '../topology/errors.ts';
import { planTopology } from '../topology/topology.ts';
import { startNetwork, type StartedNetwork } from './network.ts';
import { run } from './run.ts';

const rejection = (p: Promise<unknown>): Promise<LabError> =>
  p.then(
    () => {
      throw new Error('expected a LabError, but it resolved');
    },
    (e: unknown) => {
      expect(e).to.be.instanceOf(LabError);
      return e as LabError;
    },
  );

describe('flushing NAT mappings @integration', function () {
  this.timeout(60_000);
  let net: StartedNetwork;
  const conntrack = async (router: string) => (await net.exec(router, ['conntrack', '-L', '-p', 'udp'])).stdout;
  before(async () => {
    net = await startNetwork(planTopology({ hosts: [{ name: 'h', nat: 'symmetric' }, { name: 'g', nat: 'full-cone' }] }));
  });
  after(async () => net?.stop());

  it('empties the router table; an empty table is no error', async () => {
    // A UDP packet from the LAN host through its router creates a mapping (nobody needs to listen).
    const turn = net.topology.turn[0]!.ips[0];
    const r = await net.exec('h', ['node', '-e', `require('dgram').createSocket('udp4').send('x', 9, '${turn}', () => process.exit(0))`]);
    expect(r.code, r.stderr).to.equal(0);
    expect(await conntrack('h-nat')).to.include(`dst=${turn}`);
    await net.flushMappings('h-nat');
    expect(await conntrack('h-nat')).not.to.include(`dst=${turn}`);
    await net.flushMappings();
  });

  it('a name that is not a router is refused, not flushed as a host', async () => {
    for (const name of ['h', 'nowhere']) {
      const e = await rejection(net.flushMappings(name));
      expect(e.code).to.equal('ERR_UNKNOWN_HOST');
      expect(e.message).to.include(`no router named "${name}"`).and.include('use one of: h-nat, g-nat');
    }
  });

  it('a missing conntrack binary fails, naming the router', async () => {
    const path = process.env.PATH;
    // nsenter (/usr/bin) is still found; conntrack (/usr/sbin) is not.
    process.env.PATH = '/usr/bin:/bin';
    const e = await rejection(net.flushMappings('g-nat')).finally(() => (process.env.PATH = path));
    expect(e.code).to.equal('ERR_NETWORK_COMMAND');
    expect(e.message).to.include('flushing the NAT mappings of router "g-nat" failed').and.include('failed to execute conntrack');
    expect(e.hint).to.include('conntrack');
  });

  // Last: it removes a namespace of this test's own lab.
  it('a router whose namespace is gone fails, naming it', async () => {
    const gone = await run(['ip', 'netns', 'del', net.ns('g-nat')]);
    expect(gone.code, gone.stderr).to.equal(0);
    const e = await rejection(net.flushMappings());
    expect(e.code).to.equal('ERR_NETWORK_COMMAND');
    expect(e.message).to.include('flushing the NAT mappings of router "g-nat" failed').and.include(`cannot open /run/netns/${net.ns('g-nat')}`);
    expect(e.hint).to.include('namespace is gone');
  });
});
