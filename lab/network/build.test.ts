import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { planTopology } from '../topology/topology.ts';
import { startNetwork } from './network.ts';

describe('building a lab network @integration', function () {
  this.timeout(60_000);

  it('says when each node is built, before the whole network is: a server can start there while the rest is built', async () => {
    const t = planTopology({ hosts: [{ name: 'a', nat: 'port-restricted-cone' }, { name: 'b', nat: 'double-nat' }] });
    const seen: { node: string; addr: string; whileBuilding: boolean }[] = [];
    let returned = false;
    const net = await startNetwork(t, {
      id: `bt${randomBytes(3).toString('hex')}`,
      onNodeBuilt: (node, n) => {
        // Synchronous on purpose: what the node has at the moment it is announced.
        const addr = spawnSync('ip', ['-n', n.ns(node), '-4', '-o', 'addr', 'show', 'scope', 'global']).stdout.toString();
        seen.push({ node, addr, whileBuilding: !returned });
      },
    });
    returned = true;
    try {
      const nodes = [...t.turn, ...t.routers, ...t.hosts].map((n) => n.name);
      expect(seen.map((s) => s.node).sort()).to.deep.equal([...nodes].sort());
      expect(seen.every((s) => s.whileBuilding), 'announced before startNetwork returned').to.equal(true);
      const turn = seen.find((s) => s.node === t.turn[0]!.name)!;
      for (const ip of t.turn[0]!.ips) expect(turn.addr, `the TURN host has ${ip} when announced`).to.include(`inet ${ip}/`);
      const a = seen.find((s) => s.node === 'a')!;
      expect(a.addr, 'a host has its address when announced').to.include(`inet ${t.hosts.find((h) => h.name === 'a')!.ip}/`);
    } finally {
      await net.stop();
    }
  });

  it('gives no interface an IPv6 address: a link-local one finishing DAD after a browser started reads to Chromium as a network change (ERR_NETWORK_CHANGED)', async () => {
    const t = planTopology({ hosts: [{ name: 'a', nat: 'symmetric' }, { name: 'b' }] });
    const net = await startNetwork(t, { id: `bt${randomBytes(3).toString('hex')}` });
    try {
      for (const node of ['pub', ...t.turn.map((x) => x.name), ...t.routers.map((r) => r.name), ...t.hosts.map((h) => h.name)]) {
        const v6 = spawnSync('ip', ['-n', net.ns(node), '-6', '-o', 'addr', 'show']).stdout.toString().split('\n').filter((l) => l && !/ lo /.test(l));
        expect(v6, node).to.deep.equal([]);
      }
    } finally {
      await net.stop();
    }
  });
});
