import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NETNS_DIR, nsName } from './network/names.ts';
import { leftovers, removeLab, stateDir, tempDir } from './network/network.ts';
import { run, type RunResult } from './network/run.ts';
import { setTimeout as sleep } from 'node:timers/promises';

const CLI = new URL('../bin/icelab.js', import.meta.url).pathname;
const LAB_TS = new URL('./lab.ts', import.meta.url).pathname;

/** Labs this file started: the only ones it ever removes. */
const mine = new Set<string>();
function labName(tag: string): string {
  const id = `lc${tag}${randomBytes(3).toString('hex')}`;
  mine.add(id);
  return id;
}

const icelab = (args: string[]): Promise<RunResult> => run([process.execPath, CLI, ...args], { timeoutMs: 60_000 });

/** A child in its own process group, as a shell runs a foreground command: Ctrl-C reaches the whole group. */
function start(argv: string[]): { child: ChildProcess; output: () => string; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> } {
  const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  return { child, output: () => out, exited };
}

/** Polls `cond` every few ms; false when `timeoutMs` passed first. */
async function until(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (cond()) return true;
    await sleep(3);
  }
  return false;
}

const namespacesOf = (id: string) => (existsSync(NETNS_DIR) ? readdirSync(NETNS_DIR).filter((n) => n.startsWith(nsName(id, ''))) : []);

async function expectStale(id: string): Promise<void> {
  const status = await icelab(['status', '--json']);
  const labs = (JSON.parse(status.stdout) as { labs: { id: string; kind: string }[] }).labs;
  expect(labs.find((l) => l.id === id), `icelab status shows ${id} as stale; status: ${status.stdout}`).to.deep.include({ id, kind: 'stale' });
}

describe('lab lifecycle: nothing is left behind @integration', function () {
  this.timeout(180_000);

  after(async () => {
    // Safety net for a failed assertion midway: remove this file's labs, and only those.
    for (const id of mine) await removeLab(id);
  });

  it('icelab down removes namespaces, nft tables, processes and the temp dir (and is idempotent)', async () => {
    const id = labName('down');
    const up = await icelab(['up', '--name', id, '--topology', 'port-restricted-cone,udp-blocked']);
    expect(up.code, `icelab up: ${up.stdout}${up.stderr}`).to.equal(0);
    const before = await leftovers(id);
    // The check must be able to see a lab: every kind of thing it looks for is there while it is up.
    for (const kind of [/^namespace /, /^nft table /, /^process .*turnserver/, new RegExp(`^${tempDir(id)}$`), new RegExp(`^${stateDir(id)}$`)]) {
      expect(before.some((l) => kind.test(l)), `while up, leftovers(${id}) lists ${kind}; saw:\n${before.join('\n')}`).to.equal(true);
    }
    const down = await icelab(['down', '--name', id]);
    expect(down.code, `icelab down: ${down.stdout}${down.stderr}`).to.equal(0);
    expect(await leftovers(id), 'left after icelab down').to.deep.equal([]);
    const again = await icelab(['down', '--name', id]);
    expect(again.code, `second icelab down: ${again.stdout}${again.stderr}`).to.equal(0);
  });

  // Two moments: while the network is being built, and while coturn is being set up and started.
  const stages: { what: string; reached: (id: string) => boolean }[] = [
    { what: 'while the namespaces are being created', reached: (id) => namespacesOf(id).length > 0 },
    { what: 'while the TURN server starts', reached: (id) => existsSync(join(tempDir(id), 'turn')) },
  ];
  for (const stage of stages) {
    it(`Ctrl-C during icelab up ${stage.what} leaves nothing`, async () => {
      const id = labName('int');
      const up = start([process.execPath, CLI, 'up', '--name', id, '--topology', 'port-restricted-cone,symmetric']);
      const reached = await until(() => stage.reached(id) || up.child.exitCode !== null, 60_000);
      expect(reached && up.child.exitCode === null, `icelab up reached the stage "${stage.what}" while still running; output: ${up.output()}`).to.equal(true);
      // A terminal's Ctrl-C: SIGINT to the foreground process group.
      process.kill(-up.child.pid!, 'SIGINT');
      const { code, signal } = await up.exited;
      expect(up.output(), 'the lab must not have come up (the interrupt came too late to test anything)').not.to.match(/ up in \d+ ms/);
      expect(signal === 'SIGINT' || code === 130, `icelab up ended by the interrupt (code ${code}, signal ${signal}); output: ${up.output()}`).to.equal(true);
      expect(await leftovers(id), `left after Ctrl-C ${stage.what}`).to.deep.equal([]);
    });
  }

  describe('services', () => {
    const ECHO = new URL('./services/fixtures/echo-server.cjs', import.meta.url).pathname;
    let dev: Server;
    let devPort: number;
    let files: string;
    /** A topology file with a command service behind TLS and a forward of a loopback server; `ready` for the command service. */
    const topologyFile = (ready: object = {}) => {
      const file = join(files, `topology-${randomBytes(3).toString('hex')}.json`);
      writeFileSync(
        file,
        JSON.stringify({
          hosts: [{ name: 'a' }],
          services: [
            { name: 'web', command: `${process.execPath} ${ECHO}`, port: 8080, tls: true, ...ready },
            { name: 'dev', forward: devPort },
          ],
        }),
      );
      return file;
    };
    before(async () => {
      files = mkdtempSync(join(tmpdir(), 'lifecycle-services-'));
      dev = createServer((_, res) => res.end('dev'));
      await new Promise<void>((r) => dev.listen(0, '127.0.0.1', r));
      devPort = (dev.address() as AddressInfo).port;
    });
    after(() => {
      dev.close();
      rmSync(files, { recursive: true, force: true });
    });
    /** Each kind of thing services leave while up: the service, the TLS relay (in their namespaces), the forward's relay on this machine. */
    const SERVICE_THINGS = [/^process .*echo-server\.cjs.* in namespace icelab-\w+-web$/, /^process .*relay\.cjs.*"tcp":443.* in namespace icelab-\w+-web$/, /^process \d+ \(.*relay\.cjs.*forward\.sock[^)]*"127\.0\.0\.1"/];

    it('icelab up --json shows each service (address, url, running, log); icelab down removes its processes, TLS and forward relays', async () => {
      const id = labName('svc');
      const up = await icelab(['up', '--name', id, '--topology', topologyFile(), '--json']);
      expect(up.code, `icelab up: ${up.stdout}${up.stderr}`).to.equal(0);
      const services = (JSON.parse(up.stdout) as { services: { name: string; publicIp: string; url: string | null; running: boolean; logFile: string }[] }).services;
      expect(services.map((x) => [x.name, x.publicIp, x.url, x.running])).to.deep.equal([
        ['web', '198.18.1.1', 'https://web.lab.test', true],
        ['dev', '198.18.1.2', `http://dev.lab.test:${devPort}`, true],
      ]);
      expect(services[0]!.logFile.startsWith(`${tempDir(id)}/`), 'logs are in the lab dir').to.equal(true);
      const before = await leftovers(id);
      for (const kind of SERVICE_THINGS) expect(before.some((l) => kind.test(l)), `while up, leftovers(${id}) lists ${kind}; saw:\n${before.join('\n')}`).to.equal(true);
      const down = await icelab(['down', '--name', id]);
      expect(down.code, `icelab down: ${down.stdout}${down.stderr}`).to.equal(0);
      expect(await leftovers(id), 'left after icelab down').to.deep.equal([]);
    });

    it('Ctrl-C while a service is awaited leaves nothing (its process, the forward relay)', async () => {
      const id = labName('svcint');
      const up = start([process.execPath, CLI, 'up', '--name', id, '--topology', topologyFile({ ready: { log: 'never printed', timeoutMs: 60_000 } })]);
      // The web service is started and awaited; the forward's relay on this machine listens.
      const started = () => existsSync(join(tempDir(id), 'services', 'web', 'service.log')) && existsSync(join(tempDir(id), 'services', 'dev', 'forward.sock'));
      const reached = await until(() => started() || up.child.exitCode !== null, 60_000);
      expect(reached && up.child.exitCode === null, `icelab up started the services; output: ${up.output()}`).to.equal(true);
      process.kill(-up.child.pid!, 'SIGINT');
      await up.exited;
      expect(await leftovers(id), 'left after Ctrl-C while a service was awaited').to.deep.equal([]);
    });

    it('after kill -9 of a library user holding a lab with services, the next start removes them', async () => {
      const held = labName('svclib');
      const holder = start([
        process.execPath,
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `import { readFileSync } from 'node:fs';
         import { startLab } from ${JSON.stringify(LAB_TS)};
         await startLab(JSON.parse(readFileSync(${JSON.stringify(topologyFile())}, 'utf8')), { id: ${JSON.stringify(held)} });
         console.log('ready');
         setInterval(() => {}, 1000);`,
      ]);
      expect(await until(() => holder.output().includes('ready') || holder.child.exitCode !== null, 60_000), `library lab came up; output: ${holder.output()}`).to.equal(true);
      process.kill(holder.child.pid!, 'SIGKILL');
      await holder.exited;
      const left = await leftovers(held);
      for (const kind of SERVICE_THINGS) expect(left.some((l) => kind.test(l)), `kill -9 ran no handler: ${kind} still there; leftovers:\n${left.join('\n')}`).to.equal(true);
      const next = labName('svcnext');
      const r = await icelab(['up', '--name', next, '--topology', 'open']);
      expect(r.code, `the next icelab up: ${r.stdout}${r.stderr}`).to.equal(0);
      expect(await leftovers(held), 'left of the killed lab with services after the next up').to.deep.equal([]);
      await icelab(['down', '--name', next]);
    });
  });

  it('after kill -9 of processes holding labs (an icelab up midway, a library user with a running lab), the next icelab up removes them', async () => {
    // A library user: startLab() in a process that keeps it.
    const held = labName('lib');
    const holder = start([
      process.execPath,
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      `import { startLab } from ${JSON.stringify(LAB_TS)};
       await startLab({ hosts: [{ name: 'a', nat: 'symmetric' }, { name: 'b', nat: 'full-cone' }] }, { id: ${JSON.stringify(held)} });
       console.log('ready');
       setInterval(() => {}, 1000);`,
    ]);
    expect(await until(() => holder.output().includes('ready') || holder.child.exitCode !== null, 60_000), `library lab came up; output: ${holder.output()}`).to.equal(true);
    expect(holder.child.exitCode, `holder still running; output: ${holder.output()}`).to.equal(null);
    process.kill(holder.child.pid!, 'SIGKILL');
    await holder.exited;
    // kill -9 runs no handler: the lab is still there (else this test would prove nothing).
    const heldLeft = await leftovers(held);
    expect(heldLeft.some((l) => /^process .*turnserver/.test(l)), `coturn of the killed library lab still runs; leftovers: ${heldLeft.join('\n')}`).to.equal(true);
    await expectStale(held);

    // An `icelab up` killed while building its network. (Its own start already sweeps the lab above.)
    const midway = labName('mid');
    const up = start([process.execPath, CLI, 'up', '--name', midway, '--topology', 'port-restricted-cone,symmetric']);
    expect(await until(() => namespacesOf(midway).length > 0 || up.child.exitCode !== null, 60_000), `icelab up started building; output: ${up.output()}`).to.equal(true);
    process.kill(up.child.pid!, 'SIGKILL');
    await up.exited;

    expect(await leftovers(midway), 'the killed icelab up left its partial lab').not.to.deep.equal([]);
    await expectStale(midway);

    const next = labName('next');
    const r = await icelab(['up', '--name', next, '--topology', 'open']);
    expect(r.code, `the next icelab up: ${r.stdout}${r.stderr}`).to.equal(0);
    expect(await leftovers(held), 'left of the killed library lab after the next up').to.deep.equal([]);
    expect(await leftovers(midway), 'left of the killed icelab up after the next up').to.deep.equal([]);
    const down = await icelab(['down', '--name', next]);
    expect(down.code, `icelab down: ${down.stderr}`).to.equal(0);
    expect(await leftovers(next), 'left after icelab down').to.deep.equal([]);
  });
});
