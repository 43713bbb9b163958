import { expect } from 'chai';
import { TopologyError } from './errors.ts';
import { defaultTopology, planTopology } from './topology.ts';

function problems(input: unknown): string[] {
  try {
    planTopology(input);
  } catch (e) {
    expect(e, 'a TopologyError').to.be.instanceOf(TopologyError);
    expect((e as TopologyError).code).to.equal('ERR_TOPOLOGY_INVALID');
    return (e as TopologyError).problems.map((p) => `${p.path}: ${p.message}`);
  }
  return [];
}

describe('topology', () => {
  it('plans the default lab: one TURN server and a host behind each preset', () => {
    const t = planTopology(defaultTopology());
    expect(t.turn[0]!.ips).to.deep.equal(['198.18.0.10', '198.18.0.11']);
    expect(t.hosts.map((h) => h.name)).to.include.members(['open', 'symmetric', 'double-nat', 'udp-blocked']);
    expect(t.hosts.find((h) => h.name === 'open')!.nat, 'open has no NAT').to.equal(null);
    const dbl = t.hosts.find((h) => h.name === 'double-nat')!;
    expect(dbl.routers, 'double NAT chain').to.have.length(2);
    const cgn = t.routers.find((r) => r.name === dbl.routers[1])!;
    expect(cgn.lanSubnet, 'carrier-grade NAT segment').to.match(/^100\.64\./);
    expect(t.hosts.find((h) => h.name === 'udp-blocked')!.firewall).to.deep.equal({ udp: 'block', tcpPorts: [80, 443] });
  });

  it('describes presets in RFC 4787 terms', () => {
    const sym = planTopology({ hosts: [{ name: 'a', nat: 'symmetric' }] }).hosts[0]!.nat!;
    expect(sym.mapping).to.equal('address-and-port-dependent');
    expect(sym.portPreservation).to.equal(false);
    const fc = planTopology({ hosts: [{ name: 'a', nat: 'full-cone' }] }).hosts[0]!.nat!;
    expect([fc.mapping, fc.filtering]).to.deep.equal(['endpoint-independent', 'endpoint-independent']);
  });

  it('reports every problem with its path at once', () => {
    const found = problems({
      hosts: [
        { name: 'a', nat: 'cone' },
        { name: 'a', behind: 'nowhere' },
        { name: 'c', nat: { mapping: 'address-and-port-dependent', filtering: 'endpoint-independent' } },
      ],
    });
    expect(found.some((p) => p.startsWith('hosts[0].nat')), `unknown preset reported: ${found.join('; ')}`).to.equal(true);
  });

  it('rejects names used twice and unknown routers, naming the field', () => {
    const found = problems({ hosts: [{ name: 'a' }, { name: 'a', behind: 'nowhere' }] });
    expect(found).to.include('hosts[1].name: name "a" is already used by hosts[0].name; names must be unique');
    expect(found).to.include('hosts[1].behind: no router named "nowhere"; declare it under "routers"');
  });

  it('refuses NAT combinations the lab cannot produce instead of approximating them', () => {
    const found = problems({ hosts: [{ name: 'c', nat: { mapping: 'address-and-port-dependent', filtering: 'endpoint-independent' } }] });
    expect(found.join('\n')).to.match(/hosts\[0\]\.nat\.filtering: .*needs endpoint-independent mapping/);
    expect(found.join('\n')).to.match(/hosts\[0\]\.nat\.hairpinning/);
    expect(problems({ hosts: [{ name: 'c', nat: { mapping: 'address-dependent' } }] }).join()).to.match(/mapping: address-dependent mapping is not supported/);
  });

  it('chains routers: a router behind a carrier-grade NAT gets a 100.64/10 WAN address', () => {
    const t = planTopology({
      routers: [
        { name: 'cgn', nat: { mapping: 'endpoint-independent', hairpinning: false } },
        { name: 'home', nat: {}, upstream: 'cgn' },
      ],
      hosts: [{ name: 'h1', behind: 'home' }, { name: 'h2', behind: 'home' }],
    });
    expect(t.routers.find((r) => r.name === 'home')!.wanIp).to.match(/^100\.64\./);
    expect(t.hosts.map((h) => h.ip)).to.deep.equal(['10.2.0.10', '10.2.0.11']);
    expect(t.hosts[0]!.routers).to.deep.equal(['home', 'cgn']);
  });

  it('detects router cycles', () => {
    const found = problems({ routers: [{ name: 'r1', nat: {}, upstream: 'r2' }, { name: 'r2', nat: {}, upstream: 'r1' }], hosts: [{ name: 'h', behind: 'r1' }] });
    expect(found.join()).to.match(/cycle/);
  });
});
