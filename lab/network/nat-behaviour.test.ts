import { expect } from 'chai';
import { startLab, type StartedLab } from '../lab.ts';
import { PRESET_NAMES } from '../topology/nat.ts';
import { defaultTopology } from '../topology/topology.ts';
import { run, type RunResult } from './run.ts';

const WORDS = {
  'endpoint-independent': 'Endpoint Independent',
  'address-dependent': 'Address Dependent',
  'address-and-port-dependent': 'Address and Port Dependent',
} as const;

/** udp-blocked lets no UDP out, so UDP STUN cannot measure it (lab.test.ts covers its TURN/TCP path). */
const MEASURABLE = PRESET_NAMES.filter((p) => p !== 'udp-blocked');

// RFC 5780 behaviour discovery (coturn's turnutils_natdiscovery) from each preset's LAN host.
describe('NAT presets measured with turnutils_natdiscovery @integration', function () {
  this.timeout(120000);
  let lab: StartedLab;
  /** `turnutils_natdiscovery -H` per preset, run concurrently (a host without hairpinning waits out two 3 s timeouts). */
  const hairpin = new Map<string, RunResult>();
  before(async () => {
    lab = await startLab(defaultTopology(MEASURABLE));
    await Promise.all(
      MEASURABLE.map(async (p) => hairpin.set(p, await lab.exec(p, ['timeout', '15', 'turnutils_natdiscovery', '-H', lab.turn.info.ips[0]]))),
    );
  });
  after(async () => lab?.stop());

  for (const preset of MEASURABLE) {
    it(`${preset}: mapping and filtering as declared`, async () => {
      const nat = lab.host(preset).nat;
      const r = await lab.exec(preset, ['timeout', '10', 'turnutils_natdiscovery', '-m', '-f', lab.turn.info.ips[0]]);
      const out = r.stdout + r.stderr;
      const mapping = nat ? WORDS[nat.mapping] : 'Endpoint Independent';
      const filtering = nat ? WORDS[nat.filtering] : 'Endpoint Independent';
      expect(out, `expected ${mapping} mapping`).to.include(`NAT with ${mapping} Mapping!`);
      expect(out, `expected ${filtering} filtering`).to.include(`NAT with ${filtering} Filtering!`);
    });
  }

  // natdiscovery -H: socket A learns its mapping from the server, socket B sends a binding request to
  // that mapping; "Received a request (maybe a successful hairpinning)" means A got it through the NAT.
  // It prints no verdict when nothing arrives (two "STUN receive timeout..").
  for (const preset of MEASURABLE) {
    const declared = preset === 'open' ? 'no NAT' : preset === 'symmetric' || preset === 'double-nat' ? 'no hairpinning' : 'hairpinning';
    it(`${preset}: ${declared}, as declared`, async () => {
      const host = lab.host(preset);
      const r = hairpin.get(preset)!;
      const out = r.stdout + r.stderr;
      const mapped = /UDP reflexive addr: ([\d.]+):(\d+)/.exec(out);
      expect(mapped, `natdiscovery -H got no mapping from the server:\n${out}`).not.to.equal(null);
      const [, ip, port] = mapped!;
      const arrived = out.includes('Received a request (maybe a successful hairpinning)');
      if (!host.nat) {
        expect(ip, 'a public host is its own reflexive address').to.equal(host.ip);
        expect(arrived, 'a request to its own address arrives').to.equal(true);
        return;
      }
      expect(host.nat.hairpinning, 'the preset declares what the README table says').to.equal(declared === 'hairpinning');
      expect(arrived, `hairpinning ${host.nat.hairpinning ? 'declared but the request did not come back' : 'not declared but the request came back'}:\n${out}`).to.equal(
        host.nat.hairpinning,
      );
      if (!arrived) return;
      // The hairpinned packet must also be source-NATed to the public address: the receiver then sees
      // (and answers) the peer's mapping, and replies go back through the router.
      const router = lab.network.ns(host.routers[0]!);
      const ct = await run(['nsenter', `--net=/run/netns/${router}`, 'conntrack', '-L', '-p', 'udp', '-d', ip!]);
      const entry = ct.stdout.split('\n').find((l) => l.includes(`dport=${port}`) && l.includes(`src=${host.ip} dst=${ip}`));
      expect(entry, `no hairpin entry in the router's conntrack:\n${ct.stdout}${ct.stderr}`).not.to.equal(undefined);
      const reply = entry!.slice(entry!.indexOf('src=', entry!.indexOf('dport=')));
      expect(reply, `hairpinned packet not source-NATed to ${ip}: ${entry}`).to.match(new RegExp(`^src=${host.ip.replaceAll('.', '\\.')} dst=${ip!.replaceAll('.', '\\.')} `));
    });
  }
});
