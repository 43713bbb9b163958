import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import type { Context } from 'mocha';
import { parse } from 'yaml';
import { startLab, type StartedLab } from '../lab.ts';
import { leftovers, startNetwork } from '../network/network.ts';
import { run } from '../network/run.ts';
import { planTopology } from '../topology/topology.ts';
import { renderCoturnConfig, restCredentials } from './coturn.ts';
import { LOCAL_COTURN_IMAGE, UPSTREAM_COTURN_IMAGE, containerName, imagePresent } from './container.ts';

/** Here no registry is reachable: the image scripts/build-images makes, unless ICELAB_COTURN_IMAGE names another. */
const IMAGE = process.env.ICELAB_COTURN_IMAGE ?? LOCAL_COTURN_IMAGE;

/** Why the container tests cannot run here, or null. Never a pass: the tests are reported unavailable. */
async function missing(): Promise<string | null> {
  if ((await run(['docker', 'info'])).code !== 0) return 'docker not running: sh scripts/setup-docker';
  if (!(await imagePresent(IMAGE))) return `image ${IMAGE} missing: run scripts/build-images`;
  return null;
}
/** Pending with the reason, counted as unavailable by scripts/summary-reporter.cjs. */
function unavailableIf(ctx: Context, why: string | null): void {
  if (!why) return;
  const t = ctx.currentTest ?? ctx.test!;
  t.title += ` (unavailable: ${why})`;
  (t as unknown as { icelabUnavailable: string }).icelabUnavailable = `unavailable: ${why}`;
  ctx.skip();
}
const containers = async (id: string) => (await run(['docker', 'ps', '-a', '--filter', `name=^icelab-${id}-`, '--format', '{{.Names}}'])).stdout.split('\n').filter(Boolean);

describe('TURN provider "container": coturn image via testcontainers, wired into the lab @integration', function () {
  this.timeout(180000);
  let why: string | null = null;
  let lab: StartedLab | undefined;
  before(async () => {
    why = await missing();
    if (why) return;
    lab = await startLab({
      hosts: [
        { name: 'prc', nat: 'port-restricted-cone' },
        { name: 'blocked', nat: 'udp-blocked' },
      ],
      turn: [{ provider: 'container', image: IMAGE }],
    });
  });
  beforeEach(function () {
    unavailableIf(this, why);
  });
  after(async () => {
    await lab?.stop();
  });

  const uclient = (host: string, user: string, password: string, mode: 'udp' | 'tcp' | 'tls' = 'udp') =>
    lab!.exec(host, ['timeout', '10', 'turnutils_uclient', ...{ udp: [], tcp: ['-t', '-p', '443'], tls: ['-t', '-S', '-p', '443'] }[mode], '-n', '1', '-m', '1', '-y', '-u', user, '-w', password, lab!.turn.info.ips[0]]);

  it('runs the image in a container whose namespace is the TURN host, and answers STUN through a NAT', async () => {
    const name = containerName(lab!.network, lab!.topology.turn[0]!);
    const inspect = await run(['docker', 'inspect', '--format', '{{.Config.Image}} {{.State.Running}} {{.HostConfig.NetworkMode}} {{.State.Pid}}', name]);
    const [image, running, mode, pid] = inspect.stdout.trim().split(' ');
    expect({ image, running, mode }).to.deep.equal({ image: IMAGE, running: 'true', mode: 'none' });
    expect(Number(pid), 'the lab tracks the container\'s server').to.equal(lab!.turn.info.pid);
    const inode = (p: string) => statSync(p).ino;
    expect(inode(`/proc/${pid}/ns/net`), 'the TURN host namespace is the container\'s').to.equal(inode(`/run/netns/${lab!.ns('turn')}`));
    const r = await lab!.exec('prc', ['timeout', '5', 'turnutils_stunclient', lab!.turn.info.ips[0]]);
    expect(r.stdout, `stunclient: ${r.stdout}${r.stderr}`).to.match(/UDP reflexive addr: 198\.18\.2\.1:/);
  });

  it('allocates relays over UDP, TCP 443 and TLS 443 with REST credentials, and refuses a wrong password', async () => {
    const cred = restCredentials(lab!.turn.info.secret, 'test');
    for (const mode of ['udp', 'tcp', 'tls'] as const) {
      const ok = await uclient('prc', cred.username, cred.credential, mode);
      expect(ok.stdout + ok.stderr, `allocation over ${mode}`).to.match(/tot_recv_msgs=[1-9]/);
    }
    const tcp = await uclient('blocked', cred.username, cred.credential, 'tcp');
    expect(tcp.stdout + tcp.stderr, 'TURN/TCP on 443 from behind a UDP-blocking firewall').to.match(/tot_recv_msgs=[1-9]/);
    const bad = await uclient('prc', cred.username, 'wrong', 'tcp');
    expect(bad.stdout + bad.stderr, 'wrong credentials are refused').to.match(/Cannot complete Allocation/);
  });

  it('writes the lab\'s log file from the lab\'s configuration', () => {
    const log = lab!.turn.log();
    expect(log).to.include(`Listener address to use: ${lab!.turn.info.ips[1]}`);
    expect(log).to.match(/session .*: realm <icelab\.test> user <\d+:test>: incoming packet ALLOCATE processed, success/);
  });

  it('restarts: the same container comes back in the lab host and answers STUN', async () => {
    const before = lab!.turn.info.pid;
    await lab!.turn.restart();
    expect(lab!.turn.info.pid).not.to.equal(before);
    const r = await lab!.exec('prc', ['timeout', '5', 'turnutils_stunclient', lab!.turn.info.ips[0]]);
    expect(r.stdout).to.match(/UDP reflexive addr: 198\.18\.2\.1:/);
  });

  it('leaves no container, namespace, process or file after stop()', async () => {
    const id = lab!.id;
    expect(await containers(id), 'container while up').to.have.length(1);
    await lab!.stop();
    lab = undefined;
    expect(await leftovers(id)).to.deep.equal([]);
    expect(await containers(id)).to.deep.equal([]);
  });

  it('a lab killed with -9 leaves its container; the next lab start removes it (no reaper)', async () => {
    const id = `ctr${process.pid}`;
    const code = `import('./lab/lab.ts').then((m) => m.startLab({ hosts: [{ name: 'open', nat: 'open' }], turn: [{ provider: 'container', image: '${IMAGE}' }] }, { id: '${id}' })).then(() => { console.log('up'); setInterval(() => {}, 1000); })`;
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => d.toString().includes('up') && resolve());
      child.once('exit', (c) => reject(new Error(`lab process exited with ${c} before the lab was up`)));
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(await containers(id), 'the container outlives its owner').to.have.length(1);
    const next = await startNetwork(planTopology({ hosts: [{ name: 'open', nat: 'open' }] }));
    await next.stop();
    expect(await containers(id)).to.deep.equal([]);
    expect(await leftovers(id)).to.deep.equal([]);
  });

  it('an image that is neither here nor pullable fails with the fix named, leaving nothing', async () => {
    const err = await startLab({ hosts: [{ name: 'open', nat: 'open' }], turn: [{ provider: 'container', image: 'icelab/no-such-image:0' }] }, { id: `ctrbad${process.pid % 1000}` }).then(
      () => null,
      (e: Error & { code?: string; hint?: string }) => e,
    );
    expect(err?.code).to.equal('ERR_TURN_IMAGE');
    expect(err?.hint).to.include('scripts/build-images');
    expect(await leftovers(`ctrbad${process.pid % 1000}`)).to.deep.equal([]);
  });
});

describe('docker-compose.yml @integration', function () {
  this.timeout(120000);
  const file = readFileSync(new URL('../../docker-compose.yml', import.meta.url), 'utf8');

  it('has the services coturn and lab as documented (parsed with the yaml package: Debian 12 packages no compose v2 plugin)', () => {
    const { services } = parse(file) as { services: Record<string, Record<string, unknown>> };
    expect(Object.keys(services)).to.include.members(['coturn', 'lab']);
    expect(services.coturn!.image).to.equal(`\${ICELAB_COTURN_IMAGE:-${UPSTREAM_COTURN_IMAGE}}`);
    expect(services.coturn!.command).to.include.members(['-c', '/etc/coturn/icelab.conf']);
    expect(services.coturn!.ports).to.include.members(['3478:3478/udp', '3478:3478/tcp']);
    expect(services.lab!.privileged).to.equal(true);
    expect(services.lab!.command).to.deep.equal(['npx', 'icelab', 'suite', 'api']);
    expect(services.lab!.build).to.deep.include({ context: '.', dockerfile: 'docker/lab/Dockerfile' });
  });

  it('standalone coturn uses the lab\'s configuration (docker/coturn/turnserver.conf)', () => {
    const settings = (text: string) => new Set(text.split('\n').filter((l) => l && !l.startsWith('#')));
    const lab = settings(renderCoturnConfig(planTopology({ hosts: [{ name: 'open', nat: 'open' }] }).turn[0]!, '/d', 's'));
    const standalone = settings(readFileSync(new URL('../../docker/coturn/turnserver.conf', import.meta.url), 'utf8'));
    for (const l of ['realm=icelab.test', 'fingerprint', 'lt-cred-mech', 'use-auth-secret', 'no-cli', 'no-multicast-peers', 'verbose', 'listening-port=3478']) {
      expect(lab.has(l) && standalone.has(l), `both have "${l}"`).to.equal(true);
    }
  });

  it('`docker-compose config` (compose v1 from Debian) accepts it', async function () {
    const v = await run(['docker-compose', 'version', '--short']);
    unavailableIf(this, v.code === 0 ? null : 'docker-compose not installed: sh scripts/setup-docker');
    const r = await run(['docker-compose', '-f', new URL('../../docker-compose.yml', import.meta.url).pathname, 'config', '--quiet']);
    expect(r.code, r.stderr).to.equal(0);
  });

  it('`docker-compose up coturn`: the standalone server answers STUN on localhost', async function () {
    unavailableIf(this, await missing());
    const compose = ['docker-compose', '-p', `icelabtest${process.pid}`, '-f', new URL('../../docker-compose.yml', import.meta.url).pathname];
    const env = { ...process.env, ICELAB_COTURN_IMAGE: IMAGE };
    try {
      const up = await run([...compose, 'up', '-d', 'coturn'], { env });
      expect(up.code, up.stderr).to.equal(0);
      let answer = '';
      for (let i = 0; i < 20 && !/UDP reflexive addr/.test(answer); i++) {
        answer = (await run(['timeout', '2', 'turnutils_stunclient', '127.0.0.1'])).stdout;
        if (!/UDP reflexive addr/.test(answer)) await new Promise((r) => setTimeout(r, 250));
      }
      expect(answer).to.match(/UDP reflexive addr/);
    } finally {
      await run([...compose, 'down', '-v'], { env });
    }
  });
});
