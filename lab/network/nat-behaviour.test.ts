import { expect } from 'chai';
import { startLab, type StartedLab } from '../lab.ts';
import { PRESET_NAMES } from '../topology/nat.ts';
import { defaultTopology } from '../topology/topology.ts';

const WORDS = {
  'endpoint-independent': 'Endpoint Independent',
  'address-dependent': 'Address Dependent',
  'address-and-port-dependent': 'Address and Port Dependent',
} as const;

// RFC 5780 behaviour discovery (coturn's turnutils_natdiscovery) from each preset's LAN host.
describe('NAT presets measured with turnutils_natdiscovery @integration', function () {
  this.timeout(120000);
  let lab: StartedLab;
  before(async () => {
    lab = await startLab(defaultTopology(PRESET_NAMES.filter((p) => p !== 'udp-blocked')));
  });
  after(async () => lab?.stop());

  for (const preset of PRESET_NAMES.filter((p) => p !== 'udp-blocked')) {
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
});
