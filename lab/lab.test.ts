import { expect } from 'chai';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startLab, startingLab, type StartedLab, type StartingLab } from './lab.ts';
import type { LabError } from './topology/errors.ts';
import { planTopology } from './topology/topology.ts';
import { restCredentials } from './turn/coturn.ts';

const leftovers = (id: string) => [
  ...readdirSync('/run/netns').filter((n) => n.startsWith(`icelab-${id}-`)),
  ...(existsSync(`/tmp/icelab-${id}`) ? [`/tmp/icelab-${id}`] : []),
  ...(existsSync(`/run/icelab/${id}`) ? [`/run/icelab/${id}`] : []),
];

describe('lab on network namespaces with coturn @integration', function () {
  this.timeout(120000);
  let lab: StartedLab;
  before(async () => {
    lab = await startLab({
      hosts: [
        { name: 'open', nat: 'open' },
        { name: 'prc', nat: 'port-restricted-cone' },
        { name: 'blocked', nat: 'udp-blocked' },
      ],
    });
  });
  after(async () => {
    const id = lab?.id;
    await lab?.stop();
    if (id) expect(leftovers(id), 'nothing left after stop()').to.deep.equal([]);
  });

  const uclient = (host: string, user: string, password: string, tcp = false) =>
    lab.exec(host, ['timeout', '10', 'turnutils_uclient', ...(tcp ? ['-t', '-p', '443'] : []), '-n', '1', '-m', '1', '-y', '-u', user, '-w', password, lab.turn.info.ips[0]]);

  it('answers STUN from behind a port-restricted cone NAT with the router\'s public address', async () => {
    const r = await lab.exec('prc', ['timeout', '5', 'turnutils_stunclient', lab.turn.info.ips[0]]);
    expect(r.stdout, `stunclient output: ${r.stdout}${r.stderr}`).to.match(/UDP reflexive addr: 198\.18\.2\.1:/);
  });

  it('allocates a relay over UDP and TCP with REST credentials, and refuses a wrong password', async () => {
    const cred = restCredentials(lab.turn.info.secret, 'test');
    for (const tcp of [false, true]) {
      const ok = await uclient('prc', cred.username, cred.credential, tcp);
      expect(ok.stdout + ok.stderr, `allocation over ${tcp ? 'TCP' : 'UDP'}`).to.match(/tot_recv_msgs=[1-9]/);
    }
    const bad = await uclient('prc', cred.username, 'wrong', true);
    expect(bad.stdout + bad.stderr, 'wrong credentials are refused').to.match(/Cannot complete Allocation/);
  });

  it('from udp-blocked: UDP STUN fails and TURN over TCP 443 works', async () => {
    const stun = await lab.exec('blocked', ['timeout', '3', 'turnutils_stunclient', lab.turn.info.ips[0]]);
    expect(stun.stdout, 'no UDP reflexive address through the firewall').not.to.match(/UDP reflexive addr/);
    const cred = restCredentials(lab.turn.info.secret, 'test');
    const tcp = await uclient('blocked', cred.username, cred.credential, true);
    expect(tcp.stdout + tcp.stderr, 'TURN/TCP on 443').to.match(/tot_recv_msgs=[1-9]/);
  });

  it('hands out iceServers for each transport', () => {
    const s = lab.summary().turn.iceServers;
    expect(s.stun[0]!.urls).to.equal('stun:198.18.0.10:3478');
    expect(s['turn-tcp'][0]!.urls).to.equal('turn:198.18.0.10:443?transport=tcp');
    expect(s['turns-tcp'][0]!.urls).to.equal('turns:turn.lab.test:443?transport=tcp');
    expect(s['turn-udp'][0]!.username).to.match(/^\d+:icelab$/);
  });
});

describe('a lab while its TURN server starts @integration', function () {
  this.timeout(120000);
  const plan = () => planTopology({ hosts: [{ name: 'a', nat: 'port-restricted-cone' }] });

  it('has its network built and the lab CA in place before the server answers; started() then answers STUN', async () => {
    const starting = await startingLab(plan());
    try {
      expect(new X509Certificate(readFileSync(starting.caFile)).ca, 'the lab CA, for browsers launching now').to.equal(true);
      expect((await starting.network.exec('a', ['ip', '-4', '-o', 'addr', 'show', 'eth0'])).stdout).to.include('inet 10.');
      const lab = await starting.started();
      expect(lab.caFile).to.equal(starting.caFile);
      const stun = await lab.exec('a', ['turnutils_stunclient', lab.turn.info.ips[0]], { timeoutMs: 5000 });
      expect(stun.stdout, stun.stderr).to.match(/UDP reflexive addr/i);
    } finally {
      await starting.stop();
    }
    expect(leftovers(starting.id), 'nothing left after stop()').to.deep.equal([]);
  });

  it('a TURN server that exits before answering fails started() and removes the lab', async () => {
    // A turnserver first in PATH that exits at once.
    const bin = `/tmp/icelab-test-bin-${process.pid}`;
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'turnserver'), '#!/bin/sh\nexit 3\n', { mode: 0o755 });
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path}`;
    let starting: StartingLab;
    try {
      starting = await startingLab(plan());
    } finally {
      process.env.PATH = path;
    }
    const e = await starting.started().then(() => null, (x: unknown) => x);
    rmSync(bin, { recursive: true, force: true });
    expect((e as LabError | null)?.code, String(e)).to.equal('ERR_TURN_NOT_READY');
    expect(leftovers(starting.id), 'removed with the failure').to.deep.equal([]);
  });
});
