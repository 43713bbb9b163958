import { expect } from 'chai';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LabError } from '../topology/errors.ts';
import type { Link } from '../topology/nat.ts';
import { planTopology } from '../topology/topology.ts';
import { cachedLinkSupport, linkSupportKey, probeLinkSupport } from './link-support.ts';
import { startNetwork, type StartedNetwork } from './network.ts';
import { LINK_TABLE } from './render.ts';

/**
 * UDP from one lab host to another, for the link measurements. `echo`: the far end counts the
 * numbered packets it gets and sends each back; `sink`: it counts bytes (throughput). The sender
 * first warms the path up with unnumbered packets, which the far end always echoes, then sends
 * `count` numbered packets of `size` bytes, `burst` at a time every `everyMs`.
 */
const UDP = String.raw`
import dgram from 'node:dgram';
const [role, arg, count, size, burst, everyMs] = process.argv.slice(1);
const s = dgram.createSocket('udp4');
if (role === 'far') {
  const got = new Set(); let bytes = 0, first = 0, last = 0;
  s.on('message', (m, r) => {
    if (m[0] !== 0x6d) return void s.send(m, r.port, r.address);
    const t = performance.now(); first ||= t; last = t; bytes += m.length; got.add(m.toString('latin1', 1, 7));
    if (arg === 'echo') s.send(m, r.port, r.address);
  });
  process.stdin.on('data', () => { console.log(JSON.stringify({ got: got.size, kbit: Math.round((bytes * 8) / (last - first)) })); process.exit(0); });
  s.bind(9999, () => console.log('ready'));
} else {
  const back = new Set(); let warm = false;
  s.on('message', (m) => (m[0] === 0x6d ? back.add(m.toString('latin1', 1, 7)) : (warm = true)));
  const send = (b) => new Promise((ok) => s.send(b, 9999, arg, ok));
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  // Until one comes back: both ends then know each other's MAC address, which the loss may have delayed.
  for (let i = 0; !warm; i++) { if (i === 300) throw new Error('no answer to the warm-up packets'); await send(Buffer.from('warm')); await sleep(20); }
  for (let i = 0; i < Number(count); i += Number(burst)) {
    for (let k = i; k < i + Number(burst); k++) { const b = Buffer.alloc(Number(size)); b.write('m' + String(k).padStart(6, '0'), 'latin1'); await send(b); }
    await sleep(Number(everyMs));
  }
  await sleep(500);
  console.log(JSON.stringify({ back: back.size }));
  process.exit(0);
}
`;

interface Measured {
  sent: number;
  /** Packets the far end got, and its receive rate. */
  got: number;
  kbit: number;
  /** Echoes that came back (echo mode). */
  back: number;
}

async function measure(net: StartedNetwork, from: string, to: string, mode: 'echo' | 'sink', opts: { count: number; size: number; burst: number; everyMs: number }): Promise<Measured> {
  const far = net.spawn(to, ['node', '--input-type=module', '-e', UDP, 'far', mode], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  far.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  far.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  await waitUntil(() => out.includes('ready'), 10_000, () => `UDP far end in ${to} did not start: ${out}`);
  const farIp = net.topology.hosts.find((h) => h.name === to)!.ip;
  const r = await net.exec(from, ['node', '--input-type=module', '-e', UDP, 'near', farIp, String(opts.count), String(opts.size), String(opts.burst), String(opts.everyMs)], { timeoutMs: 60_000 });
  expect(r.code, `sender in ${from}: ${r.stderr}`).to.equal(0);
  const { back } = JSON.parse(r.stdout) as { back: number };
  far.stdin!.end('done\n');
  await waitUntil(() => out.includes('"got"'), 5000, () => `UDP far end in ${to} did not report: ${out}`);
  const { got, kbit } = JSON.parse(out.slice(out.indexOf('{'))) as { got: number; kbit: number };
  return { sent: opts.count, got, kbit, back };
}

async function waitUntil(done: () => boolean, ms: number, what: () => string): Promise<void> {
  const end = Date.now() + ms;
  while (!done()) {
    if (Date.now() > end) throw new Error(what());
    await new Promise((r) => setTimeout(r, 50));
  }
}

const pct = (lost: number, of: number) => Math.round((1000 * lost) / of) / 10;
const link = (l: Partial<Link>): Link => ({ delayMs: 0, jitterMs: 0, lossPercent: 0, ...l });

describe('link impairments measured between two lab hosts @integration', function () {
  this.timeout(120_000);
  let net: StartedNetwork;
  before(async () => {
    net = await startNetwork(planTopology({ hosts: [{ name: 'lossy', nat: 'open', link: { lossPercent: 5 } }, { name: 'far', nat: 'open' }] }));
  });
  after(async () => net?.stop());

  it('lossPercent 5: 2–9 % of 500 packets lost in each direction', async () => {
    const m = await measure(net, 'lossy', 'far', 'echo', { count: 500, size: 100, burst: 1, everyMs: 2 });
    const up = pct(m.sent - m.got, m.sent);
    const down = pct(m.got - m.back, m.got);
    console.log(`      measured loss: out ${up} % (${m.sent - m.got} of ${m.sent}), in ${down} % (${m.got - m.back} of ${m.got})`);
    expect(up, `outbound loss ${up} %`).to.be.within(2, 9);
    expect(down, `inbound loss ${down} %`).to.be.within(2, 9);
  });

  it('setLink replaces the impairment (never stacks) and null removes the loss table and both qdiscs', async () => {
    const nft = async () => (await net.exec('lossy', ['nft', 'list', 'ruleset'])).stdout;
    const qdisc = async (ns: string, dev: string) => (await net.exec(ns, ['tc', 'qdisc', 'show', 'dev', dev])).stdout;
    await net.setLink('lossy', link({ lossPercent: 50, rateKbit: 2000 }));
    await net.setLink('lossy', link({ lossPercent: 1, rateKbit: 500 }));
    const rules = await nft();
    expect(rules.match(/numgen random/g), rules).to.have.length(2);
    expect(rules).to.match(/numgen random mod 10000 < 100 counter packets \d+ bytes \d+ drop/).and.not.include('< 5000');
    for (const [ns, dev] of [['lossy', 'eth0'], ['pub', 'p2']] as const) {
      const q = await qdisc(ns, dev);
      expect(q.match(/qdisc tbf/g), q).to.have.length(1);
      expect(q).to.match(/rate 500Kbit/);
    }
    await net.setLink('lossy', null);
    expect(await nft()).not.to.include(LINK_TABLE);
    for (const [ns, dev] of [['lossy', 'eth0'], ['pub', 'p2']] as const) expect(await qdisc(ns, dev)).to.match(/^qdisc noqueue 0: root/);
    // Nothing left to remove is no error either.
    await net.setLink('lossy', null);
  });

  it('rateKbit limits throughput: about 1000 kbit/s through the link, far more without it', async () => {
    const blast = { count: 2000, size: 1000, burst: 10, everyMs: 5 };
    await net.setLink('lossy', null);
    const free = await measure(net, 'lossy', 'far', 'sink', blast);
    await net.setLink('lossy', link({ rateKbit: 1000 }));
    const limited = await measure(net, 'lossy', 'far', 'sink', blast);
    await net.setLink('lossy', null);
    console.log(`      measured rate: ${limited.kbit} kbit/s with rateKbit 1000 (${limited.got} of ${limited.sent} packets), ${free.kbit} kbit/s without`);
    expect(limited.kbit, 'throughput under rateKbit 1000').to.be.within(800, 1150);
    expect(free.kbit, 'throughput without a rate').to.be.greaterThan(3 * limited.kbit);
  });

  it('delay: applied where the kernel has netem, refused with the field named where it has not', async () => {
    const support = await probeLinkSupport();
    const change = net.setLink('lossy', link({ delayMs: 50 }));
    if (support.netem) {
      await change;
      expect((await net.exec('lossy', ['tc', 'qdisc', 'show', 'dev', 'eth0'])).stdout).to.match(/netem .*delay 50ms/);
      await net.setLink('lossy', null);
      return;
    }
    const e = await change.then(
      () => null,
      (x: unknown) => x,
    );
    expect(e).to.be.instanceOf(LabError);
    expect((e as LabError).code).to.equal('ERR_LINK_UNSUPPORTED');
    expect((e as LabError).message).to.include("lossy.link.delayMs: needs the kernel's netem qdisc (CONFIG_NET_SCH_NETEM), which this machine lacks");
  });
});

describe('probing what the kernel can do to a link @integration', () => {
  it('answers once per process, from a throwaway namespace', async () => {
    const first = probeLinkSupport();
    expect(probeLinkSupport(), 'cached').to.equal(first);
    expect(await first).to.have.keys(['netem']);
  });
});

describe('the link probe is cached per boot @integration', () => {
  const root = `/tmp/icelab-test-cache-${process.pid}`;
  after(() => rmSync(root, { recursive: true, force: true }));

  it('a later start reads the answer from the machine cache instead of probing again', async () => {
    const probed = await cachedLinkSupport(root);
    const entry = JSON.parse(readFileSync(join(root, 'link-support.json'), 'utf8')) as { key: string; value: unknown };
    expect(entry, 'stored with this boot\'s key').to.deep.equal({ key: linkSupportKey(), value: probed });
    // A planted opposite answer is what the next call returns: it did not probe.
    writeFileSync(join(root, 'link-support.json'), JSON.stringify({ key: linkSupportKey(), value: { netem: !probed.netem } }));
    expect(await cachedLinkSupport(root)).to.deep.equal({ netem: !probed.netem });
    // An entry of another boot is probed again.
    writeFileSync(join(root, 'link-support.json'), JSON.stringify({ key: 'another boot', value: { netem: !probed.netem } }));
    expect(await cachedLinkSupport(root)).to.deep.equal(probed);
  });
});
