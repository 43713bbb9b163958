import { expect } from 'chai';
import { planTopology } from '../topology/topology.ts';
import { clientIps, renderBuild, renderRouterNft } from './render.ts';

const router = (preset: string) => {
  const t = planTopology({ hosts: [{ name: 'h', nat: preset }] });
  return renderRouterNft(t.routers[0]!, clientIps(t.routers[0]!, t));
};

describe('nftables rendering', () => {
  it('port-restricted cone: masquerade keeping ports, no inbound DNAT, unsolicited dropped before conntrack confirms', () => {
    const nft = router('port-restricted-cone');
    expect(nft).to.match(/oifname "wan0" masquerade\n/);
    expect(nft).not.to.match(/iifname "wan0" ip daddr .* dnat to/);
    expect(nft).to.include('iifname "wan0" ct state new drop');
  });
  it('symmetric: random ports per destination and no hairpinning', () => {
    const nft = router('symmetric');
    expect(nft).to.match(/masquerade (fully-)?random/);
    expect(nft).not.to.include('snat to');
  });
  it('full cone: mapped ports are tracked after source NAT and admitted from anyone', () => {
    const nft = router('full-cone');
    expect(nft).to.include('set mapped0');
    expect(nft).to.include('priority srcnat + 1');
    expect(nft).to.match(/iifname "wan0" ip daddr 198\.18\.2\.1 udp dport @mapped0 dnat to 10\.1\.0\.10/);
  });
  it('restricted cone: admits only remote addresses the host contacted', () => {
    expect(router('restricted-cone')).to.match(/udp dport \. ip saddr @peers0 dnat to 10\.1\.0\.10/);
  });
  it('udp-blocked: UDP dropped and TCP limited to web ports', () => {
    const nft = router('udp-blocked');
    expect(nft).to.include('iifname "lan0" meta l4proto udp drop');
    expect(nft).to.include('tcp dport != { 80, 443 } drop');
  });
  it('reject option answers unsolicited packets with ICMP', () => {
    const t = planTopology({ hosts: [{ name: 'h', nat: { unsolicited: 'reject' } }] });
    expect(renderRouterNft(t.routers[0]!, ['10.1.0.10'])).to.include('reject with icmp type port-unreachable');
  });
  it('build script keeps everything in lab namespaces: no interface in the root namespace', () => {
    const script = renderBuild(planTopology({ hosts: [{ name: 'a', nat: 'double-nat' }, { name: 'b', nat: 'open' }] }), 'x');
    for (const line of script.split('\n').filter((l) => l.includes('type veth'))) {
      expect(line, 'veths are created inside a lab namespace and moved into another').to.match(/netns icelab-x-/);
    }
    expect(script.match(/^ip -b - /gm)).to.have.length(1);
    expect(script).to.include('netns add icelab-x-pub');
  });
});
