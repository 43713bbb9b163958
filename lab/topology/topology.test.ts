import { expect } from 'chai';
import { TopologyError } from './errors.ts';
import { editDistance, nearest } from './issues.ts';
import { checkLinks, defaultTopology, planTopology, type PlanOptions } from './topology.ts';

function problems(input: unknown, opts?: PlanOptions): string[] {
  try {
    planTopology(input, opts);
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

  it('reports every problem with its path at once: schema, unknown keys and conflicts in one pass', () => {
    const found = problems({
      routers: [{ name: 'home', nat: { mapping: 'address-and-port-dependent', filtering: 'endpoint-independent', hairpinning: true } }],
      hosts: [
        { name: 'a', nat: 'cone' },
        { name: 'a', behind: 'nowhere' },
        { name: 'c', nta: 'symmetric' },
        { name: 'd', nat: [{ mapping: 'endpoint-independent' }, { filtering: 'bogus' }] },
        // The misspelt key is left out, so what is left is judged with hairpinning's default.
        { name: 'e', nat: { mapping: 'address-and-port-dependent', hairpining: false } },
        { name: 'f', behind: 'home', link: { delay: 5, lossPercent: 0.005 } },
      ],
      bogus: 1,
    });
    expect(found).to.deep.equal([
      'hosts[0].nat: unknown preset "cone"; presets: open, full-cone, restricted-cone, port-restricted-cone, symmetric, udp-blocked, double-nat, one-to-one',
      'hosts[2].nta: unknown key; did you mean "nat"?',
      'hosts[3].nat[1].filtering: Invalid option: expected one of "endpoint-independent"|"address-dependent"|"address-and-port-dependent"',
      'hosts[4].nat.hairpining: unknown key; did you mean "hairpinning"?',
      'hosts[5].link.lossPercent: at most two decimals (loss is dropped in steps of 0.01 %)',
      'hosts[5].link.delay: unknown key; did you mean "delayMs"?',
      'bogus: unknown key; allowed here: turn, routers, hosts, services',
      'hosts[4].nat.mapping: address-and-port-dependent mapping cannot hairpin (the hairpinned packet must find the LAN port) and hairpinning defaults to true: add "hairpinning: false", or use endpoint-independent mapping',
      'hosts[1].name: name "a" is already used by hosts[0].name; names must be unique',
      'routers[0].nat.filtering: "endpoint-independent" filtering needs endpoint-independent mapping (inbound packets must find the LAN port); use "address-and-port-dependent" or change the mapping',
      'routers[0].nat.hairpinning: hairpinning needs endpoint-independent mapping (the hairpinned packet must find the LAN port); set "hairpinning: false"',
      'hosts[1].behind: no router named "nowhere"; declare it under "routers"',
    ]);
  });

  it('rejects names used twice and unknown routers, naming the field', () => {
    expect(problems({ hosts: [{ name: 'a' }, { name: 'a', behind: 'nowhere' }] })).to.deep.equal([
      'hosts[1].name: name "a" is already used by hosts[0].name; names must be unique',
      'hosts[1].behind: no router named "nowhere"; declare it under "routers"',
    ]);
    expect(problems({ turn: [{ image: 'x' }], routers: [{ name: 'a-nat', nat: {} }], hosts: [{ name: 'a' }, { name: 'pub', nat: 'open' }] })).to.deep.equal([
      `hosts[0].name: this host's NAT router is named "a-nat", which routers[0].name already uses; rename the host or that router`,
      'hosts[1].name: "pub" is reserved for the public segment',
      'turn[0].image: provider defaults to "process" and an image is only used by provider "container"; add provider: container or remove image',
    ]);
  });

  it('a part with a schema problem is not judged again: no problem follows from a value the user did not mean', () => {
    // The router's NAT has a bad mapping: it is not checked for conflicts, and the router still counts for "behind".
    expect(problems({ routers: [{ name: 'home', nat: { mapping: 'sometimes', filtering: 'endpoint-independent' } }], hosts: [{ name: 'h', behind: 'home' }, {}] })).to.deep.equal([
      'routers[0].nat.mapping: Invalid option: expected one of "endpoint-independent"|"address-dependent"|"address-and-port-dependent"',
      'hosts[1].name: required (string)',
    ]);
  });

  it('unknown keys name the nearest allowed key, or list the allowed ones', () => {
    expect(problems({ hosts: [{ name: 'a', nat: { maping: 'endpoint-independent' }, link: { loss: 5 }, firewal: { udp: 'block' }, colour: 'red' }] })).to.deep.equal([
      'hosts[0].nat.maping: unknown key; did you mean "mapping"?',
      'hosts[0].link.loss: unknown key; did you mean "lossPercent"?',
      'hosts[0].firewal: unknown key; did you mean "firewall"?',
      'hosts[0].colour: unknown key; allowed here: name, nat, behind, firewall, link',
    ]);
  });

  it('refuses NAT combinations the lab cannot produce, each at <path of the nat object>.<field>', () => {
    const nat = { mapping: 'address-and-port-dependent', filtering: 'endpoint-independent', hairpinning: false } as const;
    const filtering = '"endpoint-independent" filtering needs endpoint-independent mapping (inbound packets must find the LAN port); use "address-and-port-dependent" or change the mapping';
    expect(problems({ routers: [{ name: 'r', nat }], hosts: [{ name: 'a', nat }, { name: 'b', nat: [{}, nat] }, { name: 'c', behind: 'r' }] })).to.deep.equal([
      `hosts[0].nat.filtering: ${filtering}`,
      `hosts[1].nat[1].filtering: ${filtering}`,
      `routers[0].nat.filtering: ${filtering}`,
    ]);
    expect(problems({ hosts: [{ name: 'c', nat: { mapping: 'address-dependent' } }] })).to.deep.equal([
      'hosts[0].nat.mapping: address-dependent mapping is not supported by the lab yet; use "endpoint-independent" or "address-and-port-dependent"',
    ]);
    expect(problems({ hosts: [{ name: 'c', nat: { mapping: 'address-and-port-dependent', hairpinning: false, portPreservation: true } }] })).to.deep.equal([
      'hosts[0].nat.portPreservation: address-and-port-dependent mapping picks random ports; remove "portPreservation: true"',
    ]);
  });

  it('a conflict with a default says so and names the key the user wrote', () => {
    expect(problems({ hosts: [{ name: 'a', nat: { mapping: 'address-and-port-dependent' } }, { name: 'b', nat: { portPreservation: false } }, { name: 'c', nat: { mapping: 'endpoint-independent', portPreservation: false } }] })).to.deep.equal([
      'hosts[0].nat.mapping: address-and-port-dependent mapping cannot hairpin (the hairpinned packet must find the LAN port) and hairpinning defaults to true: add "hairpinning: false", or use endpoint-independent mapping',
      'hosts[1].nat.portPreservation: mapping defaults to endpoint-independent, which the lab produces with port preservation; remove "portPreservation: false", or set mapping: address-and-port-dependent for random ports',
      'hosts[2].nat.portPreservation: endpoint-independent mapping is produced with port preservation; remove "portPreservation: false"',
    ]);
  });

  it('refuses link settings this machine cannot produce, naming each field; loss and rate need no netem', () => {
    const input = { hosts: [{ name: 'a', link: { lossPercent: 5, rateKbit: 1000 } }, { name: 'b', link: { delayMs: 200, jitterMs: 10, lossPercent: 0.5 } }] };
    const netem = "needs the kernel's netem qdisc (CONFIG_NET_SCH_NETEM), which this machine lacks; remove delayMs/jitterMs or run on a kernel with sch_netem";
    expect(problems(input, { linkSupport: { netem: false } })).to.deep.equal([`hosts[1].link.delayMs: ${netem}`, `hosts[1].link.jitterMs: ${netem}`]);
    expect(planTopology(input, { linkSupport: { netem: true } }).hosts[1]!.link).to.deep.equal({ delayMs: 200, jitterMs: 10, lossPercent: 0.5 });
    expect(planTopology({ hosts: [input.hosts[0]!] }, { linkSupport: { netem: false } }).hosts[0]!.link).to.deep.equal({ delayMs: 0, jitterMs: 0, lossPercent: 5, rateKbit: 1000 });
    // A topology planned before the machine was known is checked the same way.
    const planned = planTopology({ routers: [{ name: 'r', nat: {}, link: { delayMs: 5 } }], hosts: [{ name: 'h', behind: 'r' }] });
    expect(() => checkLinks(planned, { netem: false })).to.throw(TopologyError).with.property('problems').that.deep.equals([{ path: 'routers[0].link.delayMs', message: netem }]);
    expect(checkLinks(planned, { netem: true })).to.equal(planned);
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

  it("a host's firewall is every firewall on its way out combined: UDP blocked by any, TCP to the ports all allow", () => {
    const t = planTopology({
      routers: [
        { name: 'cgn', nat: { hairpinning: false }, firewall: { udp: 'block', tcpPorts: [80, 443] } },
        { name: 'home', nat: {}, upstream: 'cgn', firewall: { tcpPorts: [443, 8443] } },
        { name: 'office', nat: {}, upstream: 'cgn', firewall: { tcpPorts: [8443] } },
      ],
      hosts: [
        { name: 'a', behind: 'home' },
        { name: 'b', behind: 'office' },
        { name: 'c', behind: 'cgn', firewall: { udp: 'allow' } },
        { name: 'd', nat: 'udp-blocked', firewall: { tcpPorts: [443] } },
        { name: 'e', nat: 'open' },
      ],
    });
    const fw = Object.fromEntries(t.hosts.map((h) => [h.name, h.firewall]));
    expect(fw.a, 'a carrier-grade NAT that blocks UDP blocks it for every home behind it').to.deep.equal({ udp: 'block', tcpPorts: [443] });
    expect(fw.b, 'no port both lists allow: no TCP at all').to.deep.equal({ udp: 'block', tcpPorts: [] });
    expect(fw.c, "the host's own rules do not undo the router's").to.deep.equal({ udp: 'block', tcpPorts: [80, 443] });
    expect(fw.d, "a host's firewall replaces its preset's, on its own NAT router").to.deep.equal({ udp: 'allow', tcpPorts: [443] });
    expect(fw.e).to.equal(null);
  });

  it('refuses a second TURN server: the lab starts only one, so a second entry would never run', () => {
    const one = 'the lab runs one TURN server; remove this entry (the one server answers STUN, TURN over UDP, TCP and TLS)';
    expect(problems({ turn: [{ name: 'turn' }, { name: 'turn-eu', provider: 'container' }, { name: 'turn-us' }], hosts: [{ name: 'a' }] })).to.deep.equal([`turn[1]: ${one}`, `turn[2]: ${one}`]);
    expect(planTopology({ turn: [{ name: 'relay' }], hosts: [{ name: 'a' }] }).turn.map((x) => x.name)).to.deep.equal(['relay']);
  });

  it('detects router cycles', () => {
    expect(problems({ routers: [{ name: 'r1', nat: {}, upstream: 'r2' }, { name: 'r2', nat: {}, upstream: 'r1' }], hosts: [{ name: 'h', behind: 'r1' }] })).to.deep.equal([
      'routers[0].upstream: routers form a cycle through "r1"',
      'routers[1].upstream: routers form a cycle through "r2"',
    ]);
  });

  describe('services', () => {
    it('plans each service in a host of its own, public by default, reachable at <name>.lab.test; behind a NAT at its router\'s address', () => {
      const t = planTopology({
        hosts: [{ name: 'a' }],
        services: [
          { name: 'web', command: 'node server.js', cwd: '/app', env: { A: '1' }, port: 8080, tls: true },
          { name: 'sfu', image: 'example/sfu:1', nat: 'one-to-one', ready: { log: 'listening', timeoutMs: 5000 } },
          { name: 'dev', forward: 5173 },
        ],
      });
      expect(t.hosts.map((h) => h.name), 'each service has a lab host named after it, after the LAN hosts').to.deep.equal(['a', 'web', 'sfu', 'dev']);
      const [web, sfu, dev] = t.services;
      expect(web).to.deep.include({ hostname: 'web.lab.test', ip: '198.18.1.1', publicIp: '198.18.1.1', port: 8080, tls: true });
      expect(web!.source).to.deep.equal({ kind: 'command', command: 'node server.js', cwd: '/app', env: { A: '1' } });
      expect(web!.ready, 'a port and no ready: up once it listens').to.deep.equal({ kind: 'tcp', port: 8080, timeoutMs: 30_000 });
      expect(t.hosts.find((h) => h.name === 'web')!.nat, 'public unless it says otherwise').to.equal(null);
      expect(sfu!.ip).to.match(/^10\./);
      expect(sfu!.publicIp, "reached at its one-to-one router's public address").to.equal(t.routers.find((r) => r.name === 'sfu-nat')!.wanIp);
      expect(t.hosts.find((h) => h.name === 'sfu')!.nat).to.deep.include({ mapping: 'endpoint-independent', filtering: 'endpoint-independent', portPreservation: true, oneToOne: true });
      expect(sfu!.ready).to.deep.equal({ kind: 'log', text: 'listening', timeoutMs: 5000 });
      expect(dev!.source).to.deep.equal({ kind: 'forward', loopbackPort: 5173 });
      expect(dev!.port, "a forward serves in the lab on the loopback server's port").to.equal(5173);
    });

    it('reports what a service leaves open or contradicts, each at its field', () => {
      expect(
        problems({
          hosts: [{ name: 'a' }],
          services: [
            { name: 'a', comand: 'x', port: 80 },
            { name: 'b', forward: 3000, command: 'x', cwd: '/' },
            { name: 'c', command: 'x' },
            { name: 'd', command: 'x', ready: { http: '/health', tcp: 80 } },
            { name: 'e', command: 'x', tls: true, ready: { log: 'up' } },
            { name: 'f', command: 'x', tls: true, port: 443 },
            { name: 'g', command: 'x', port: 80, nat: 'cone' },
            { name: 'h', command: 'x', port: 80, behind: 'nowhere' },
            { name: 'i', command: 'x', port: 80, nat: 'port-restricted-cone' },
            { name: 'j', command: 'x', ready: { log: 'up' }, nat: 'symmetric' },
          ],
        }),
      ).to.deep.equal([
        'services[0].comand: unknown key; did you mean "command"?',
        'services[6].nat: unknown preset "cone"; presets: open, full-cone, restricted-cone, port-restricted-cone, symmetric, udp-blocked, double-nat, one-to-one',
        'services[0].name: name "a" is already used by hosts[0].name; names must be unique',
        'services[7].behind: no router named "nowhere"; declare it under "routers"',
        'services[0]: say what runs: "command" (in the service\'s host), "image" (a container) or "forward" (a server on this machine\'s loopback)',
        'services[1].command: a forward relays to a server already running on this machine, so "command" would never be used; remove it, or remove "forward"',
        'services[1].cwd: a forward relays to a server already running on this machine, so "cwd" would never be used; remove it, or remove "forward"',
        'services[2].ready: required: the lab must know when the service is up; give ready (http, tcp or log), or port (up once it listens there)',
        'services[3].ready: give exactly one of http, tcp, log (found http and tcp)',
        'services[3].ready.http: an HTTP check asks the service\'s "port": add port',
        'services[4].tls: TLS is terminated on 443 and passed on as plain HTTP to "port": add port',
        'services[5].port: with tls: true the lab listens on 443 itself; serve plain HTTP on another port',
        "services[8].nat: behind a NAT that forwards nothing, no other lab host reaches the port this service serves; use nat: one-to-one (a server's elastic IP), leave nat out (a public address), or drop port/tls if it only connects out",
      ]);
    });

    it('a one-to-one NAT has no filtering and one client', () => {
      expect(
        problems({
          routers: [{ name: 'eip', nat: { oneToOne: true } }],
          hosts: [{ name: 'a', behind: 'eip' }, { name: 'b', nat: { oneToOne: true, mapping: 'address-and-port-dependent', hairpinning: false } }],
          services: [{ name: 's', command: 'x', port: 80, behind: 'eip' }],
        }),
      ).to.deep.equal([
        'hosts[1].nat.mapping: a one-to-one NAT forwards every port, which is endpoint-independent mapping; set mapping: endpoint-independent or remove "oneToOne"',
        'hosts[1].nat.filtering: a one-to-one NAT forwards every port, which is endpoint-independent filtering; set filtering: endpoint-independent or remove "oneToOne"',
        'routers[0].nat.filtering: a one-to-one NAT forwards every port, which is endpoint-independent filtering; set filtering: endpoint-independent or remove "oneToOne"',
        'routers[0].nat: a one-to-one NAT forwards every port to one client, and 2 are behind "eip" (hosts[0], services[0]); give each its own router',
      ]);
    });
  });

  it('suggests the key a typo meant, and nothing for a word far from every key', () => {
    expect(nearest('nta', ['name', 'nat', 'behind'])).to.equal('nat');
    expect(nearest('delay', ['delayMs', 'jitterMs'])).to.equal('delayMs');
    expect(nearest('colour', ['name', 'nat', 'behind', 'firewall', 'link'])).to.equal(null);
    expect(editDistance('nta', 'nat')).to.equal(1);
  });
});
