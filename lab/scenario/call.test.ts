import { expect } from 'chai';
import { connectCommand, DEFAULT_CONNECT_TIMEOUT_MS, type CallSpec, type ReproduceOptions } from './call.ts';

const SPEC: CallSpec = { a: { engine: 'firefox', host: 'symmetric' }, b: { engine: 'chromium', host: 'full-cone' }, ice: ['stun', 'turn-udp'] };
const DEFAULT_LAB: ReproduceOptions = { topologyFile: null, turnProvider: 'process' };
const BASE = 'npx icelab connect --a firefox@symmetric --b chromium@full-cone --ice stun,turn-udp';

describe('connectCommand: the command that reproduces a call', function () {
  it('is the bare command when every setting is connect\'s default, given or left out', () => {
    expect(connectCommand(SPEC, DEFAULT_LAB)).to.equal(BASE);
    const explicit: CallSpec = { ...SPEC, policy: 'all', bundlePolicy: 'balanced', media: ['data'], trickle: true, connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS, pcap: false };
    expect(connectCommand(explicit, DEFAULT_LAB)).to.equal(BASE);
  });

  const NON_DEFAULT: { setting: string; spec?: Partial<CallSpec>; lab?: Partial<ReproduceOptions>; flag: string }[] = [
    { setting: 'the relay policy', spec: { policy: 'relay' }, flag: '--policy relay' },
    { setting: 'a bundle policy', spec: { bundlePolicy: 'max-bundle' }, flag: '--bundle-policy max-bundle' },
    { setting: 'media beyond a data channel', spec: { media: ['data', 'audio', 'video'] }, flag: '--media data,audio,video' },
    { setting: 'complete descriptions instead of trickle', spec: { trickle: false }, flag: '--no-trickle' },
    { setting: "the matrix's connect timeout", spec: { connectTimeoutMs: 5000 }, flag: '--timeout 5000' },
    { setting: 'a packet capture', spec: { pcap: true }, flag: '--pcap' },
    { setting: 'a TURN server in a container', lab: { turnProvider: 'container' }, flag: '--turn container' },
    { setting: 'a topology file', lab: { topologyFile: 'labs/office.yaml' }, flag: '--topology labs/office.yaml' },
  ];
  for (const row of NON_DEFAULT) {
    it(`names ${row.setting} (${row.flag}) and nothing else`, () => {
      const seen = connectCommand({ ...SPEC, ...row.spec }, { ...DEFAULT_LAB, ...row.lab });
      expect(seen, `expected exactly ${row.flag} after the peers and ICE servers`).to.equal(`${BASE} ${row.flag}`);
    });
  }

  it('names every non-default at once, and an empty ICE list as none', () => {
    const spec: CallSpec = { ...SPEC, ice: [], policy: 'relay', media: ['audio'], trickle: false, connectTimeoutMs: 3000 };
    const seen = connectCommand(spec, { topologyFile: 'office.yaml', turnProvider: 'container' });
    expect(seen).to.equal('npx icelab connect --a firefox@symmetric --b chromium@full-cone --ice none --policy relay --media audio --no-trickle --timeout 3000 --turn container --topology office.yaml');
  });

  it('quotes a topology path the shell would split', () => {
    const seen = connectCommand(SPEC, { ...DEFAULT_LAB, topologyFile: "/home/me/my lab's.yaml" });
    expect(seen).to.equal(`${BASE} --topology '/home/me/my lab'\\''s.yaml'`);
  });
});
