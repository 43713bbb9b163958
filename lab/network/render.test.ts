import { expect } from 'chai';
import type { Link } from '../topology/nat.ts';
import { planTopology, type Topology } from '../topology/topology.ts';
import { clientIps, linkCommands, qdiscCommands, renderBuild, renderLinkNft, renderRouterNft, uplinks } from './render.ts';

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
  it('one-to-one: every packet to the public address goes to the one host, TCP as UDP; it leaves from that address with its own port', () => {
    const nft = router('one-to-one');
    expect(nft, 'all protocols and ports forwarded, from outside and hairpinned from the LAN').to.match(/\n    ip daddr 198\.18\.2\.1 dnat to 10\.1\.0\.10\n/);
    expect(nft, 'a static source NAT (no port range: ports kept)').to.match(/oifname "wan0" ip saddr 10\.1\.0\.10 snat to 198\.18\.2\.1\n/);
    expect(nft, 'hairpinned packets seem to come from the public address').to.include('oifname "lan0" ct status dnat ip saddr 10.1.0.0/24 snat to 198.18.2.1');
    expect(nft, 'no masquerade, no per-port sets').not.to.match(/masquerade|@mapped|@peers/);
    expect(nft, 'what is not forwarded (nothing, with a client) is still dropped').to.include('iifname "wan0" ct state new ct status and dnat == 0 drop');
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
  it('a host behind a shared router applies its own firewall to what leaves its LAN; its LAN neighbours and NAT routers are spared', () => {
    const t = planTopology({
      routers: [{ name: 'home', nat: {} }],
      hosts: [
        { name: 'a', behind: 'home', firewall: { udp: 'block', tcpPorts: [443] } },
        { name: 'b', behind: 'home' },
        { name: 'c', nat: 'port-restricted-cone', firewall: { udp: 'block' } },
        { name: 'p', nat: 'open', firewall: { udp: 'block' } },
      ],
    });
    const script = renderBuild(t, 'x');
    // Each host's build step: the nsenter line and what it loads.
    const hostStep = (h: string) => script.split('\nnsenter ').find((part) => part.startsWith(`--net=/run/netns/icelab-x-${h} `)) ?? '';
    expect(hostStep('a'), 'host a filters its own output, except to its LAN').to.include('oifname "eth0" ip daddr != 10.1.0.0/24 meta l4proto udp drop');
    expect(hostStep('a')).to.include('oifname "eth0" ip daddr != 10.1.0.0/24 tcp dport != { 443 } drop');
    expect(hostStep('b'), 'host b has no firewall').to.equal('');
    expect(hostStep('c'), "a host's own NAT router applies the firewall written on the host").to.equal('');
    expect(hostStep('c-nat')).to.include('iifname "lan0" meta l4proto udp drop');
    expect(hostStep('p'), 'a public host has no LAN: all it sends is filtered').to.include('oifname "eth0" meta l4proto udp drop');
    expect(t.hosts.map((h) => [h.name, h.ownFirewall])).to.deep.equal([
      ['a', { udp: 'block', tcpPorts: [443] }],
      ['b', null],
      ['c', null],
      ['p', { udp: 'block' }],
    ]);
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

describe('link rendering', () => {
  const lab = (link: Record<string, number>) => planTopology({ hosts: [{ name: 'h', nat: 'open', link }, { name: 'l', nat: 'port-restricted-cone', link }] });
  const upOf = (t: Topology, node: string) => uplinks(t, 'x').find((u) => u.node === node)!;
  const link = (l: Partial<Link>): Link => ({ delayMs: 0, jitterMs: 0, lossPercent: 0, ...l });

  it('loss: nftables drops in both directions of the node interface, in a table of its own namespace; no qdisc', () => {
    const up = upOf(lab({ lossPercent: 5 }), 'h');
    const cmds = linkCommands(up, up.link);
    expect(cmds[0]).to.match(/^nsenter --net=\/run\/netns\/icelab-x-h nft -f - <<'EOF'\n/);
    expect(renderLinkNft('eth0', link({ lossPercent: 5 }))).to.equal(
      [
        'add table netdev icelab-link',
        'delete table netdev icelab-link',
        'table netdev icelab-link {',
        '  chain ingress {',
        '    type filter hook ingress device "eth0" priority filter; policy accept;',
        '    counter',
        '    numgen random mod 10000 < 500 counter drop',
        '  }',
        '  chain egress {',
        '    type filter hook egress device "eth0" priority filter; policy accept;',
        '    counter',
        '    numgen random mod 10000 < 500 counter drop',
        '  }',
        '}',
        '',
      ].join('\n'),
    );
    expect(cmds.join('\n'), 'no qdisc is added for loss alone').not.to.match(/qdisc add/);
  });

  it('fractional loss keeps its two decimals', () => {
    expect(renderLinkNft('wan0', link({ lossPercent: 0.5 }))).to.include('numgen random mod 10000 < 50 counter drop');
    expect(renderLinkNft('wan0', link({ lossPercent: 12.34 }))).to.include('< 1234 counter drop');
  });

  it('rate: a token bucket on the egress of both ends; delay: netem beneath it, or at the root alone', () => {
    const up = upOf(lab({ rateKbit: 1000, delayMs: 50, jitterMs: 5 }), 'l');
    expect(up.peerNs).to.equal('icelab-x-l-nat');
    expect(linkCommands(up, up.link).filter((c) => c.includes('qdisc add'))).to.deep.equal([
      'tc -n icelab-x-l qdisc add dev eth0 root handle 1: tbf rate 1000kbit burst 2000 latency 200ms',
      'tc -n icelab-x-l qdisc add dev eth0 parent 1:1 handle 10: netem delay 50ms 5ms',
      'tc -n icelab-x-l-nat qdisc add dev c1 root handle 1: tbf rate 1000kbit burst 2000 latency 200ms',
      'tc -n icelab-x-l-nat qdisc add dev c1 parent 1:1 handle 10: netem delay 50ms 5ms',
    ]);
    expect(qdiscCommands('n', 'eth0', link({ rateKbit: 100000 }))[1]).to.equal('tc -n n qdisc add dev eth0 root handle 1: tbf rate 100000kbit burst 125000 latency 200ms');
    expect(qdiscCommands('n', 'eth0', link({ delayMs: 200 }))[1]).to.equal('tc -n n qdisc add dev eth0 root handle 10: netem delay 200ms');
  });

  it('a change replaces the impairment before (never stacks); null removes the loss table and both qdiscs', () => {
    const up = upOf(lab({ lossPercent: 5 }), 'h');
    const clear = linkCommands(up, null);
    expect(clear).to.deep.equal([
      "nsenter --net=/run/netns/icelab-x-h nft -f - <<'EOF'\nadd table netdev icelab-link\ndelete table netdev icelab-link\nEOF",
      "tc -n icelab-x-h qdisc show dev eth0 root | grep -q ' 0: root' || tc -n icelab-x-h qdisc del dev eth0 root",
      "tc -n icelab-x-pub qdisc show dev p3 root | grep -q ' 0: root' || tc -n icelab-x-pub qdisc del dev p3 root",
    ]);
    // Every change starts by removing what was there.
    const change = linkCommands(up, link({ lossPercent: 1, rateKbit: 64 }));
    for (const c of clear.slice(1)) expect(change).to.include(c);
    expect(change[0]).to.match(/add table netdev icelab-link\ndelete table netdev icelab-link\ntable netdev icelab-link \{/);
  });

  it('the build script impairs each link once its interfaces exist', () => {
    const script = renderBuild(lab({ lossPercent: 5 }), 'x');
    const tree = script.lastIndexOf('type veth');
    const loss = script.indexOf('table netdev icelab-link {');
    expect(loss, 'loss table after the last veth').to.be.greaterThan(tree);
    expect(script.match(/table netdev icelab-link \{/g)).to.have.length(2);
  });
});
