import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LabError } from '../topology/errors.ts';
import type { TopologyInput } from '../topology/topology.ts';
import { leftovers, removeLab } from '../network/network.ts';
import { run } from '../network/run.ts';
import { startLab, type StartedLab } from '../lab.ts';
import { StartedService, logMarks, writeServiceLogs } from './services.ts';
import { BrowserFleet } from '../browsers/fleet.ts';
import { findEngine } from '../browsers/engines.ts';

const ECHO = new URL('./fixtures/echo-server.cjs', import.meta.url).pathname;
const STUN_MAPPED = new URL('./fixtures/stun-mapped.cjs', import.meta.url).pathname;
const node = process.execPath;

/** Labs this file started: the only ones it removes. */
const mine = new Set<string>();
const labId = (tag: string) => {
  const id = `sv${tag}${randomBytes(3).toString('hex')}`;
  mine.add(id);
  return id;
};

/** Starts a lab that must fail, and returns the LabError (the lab must be gone after it). */
async function startFails(topology: TopologyInput): Promise<LabError> {
  const id = labId('bad');
  const e = await startLab(topology, { id }).then(
    async (lab) => {
      await lab.stop();
      throw new Error('the lab came up although a service could not');
    },
    (err: unknown) => err,
  );
  expect(e, String(e)).to.be.instanceOf(LabError);
  expect(await leftovers(id), 'nothing of the failed lab is left').to.deep.equal([]);
  return e as LabError;
}

const curl = (lab: StartedLab, host: string, url: string) => lab.exec(host, ['curl', '-sS', '--max-time', '5', '--cacert', lab.caFile, url]);

describe('service logs as evidence', () => {
  it('writes service-<name>.log with what each service logged since the marks were taken', () => {
    const dir = mkdtempSync(join(tmpdir(), 'service-logs-'));
    try {
      const logFile = join(dir, 'service.log');
      writeFileSync(logFile, 'before the test\n');
      const svc = new StartedService({ name: 'web', hostname: 'web.lab.test', ip: '198.18.1.1', publicIp: '198.18.1.1', url: null, kind: 'command', logFile, certFile: '', keyFile: '', pid: -1, readyMs: 0 });
      const marks = logMarks([svc]);
      appendFileSync(logFile, 'during the test\n');
      const evidence = join(dir, 'evidence');
      mkdirSync(evidence);
      expect(writeServiceLogs(evidence, [svc], marks)).to.deep.equal([join(evidence, 'service-web.log')]);
      expect(readFileSync(join(evidence, 'service-web.log'), 'utf8')).to.equal('during the test\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('services in the lab @integration', function () {
  this.timeout(120_000);
  after(async () => {
    for (const id of mine) await removeLab(id);
  });

  describe('a lab with a command service behind TLS', () => {
    let lab: StartedLab;
    before(async () => {
      lab = await startLab(
        {
          hosts: [{ name: 'a', nat: 'port-restricted-cone' }, { name: 'b', nat: 'symmetric' }],
          services: [
            { name: 'web', command: `${node} ${ECHO}`, cwd: '/tmp', env: { GREETING: 'hi' }, port: 8080, tls: true },
            { name: 'eip', command: `${node} ${ECHO} 9000`, nat: 'one-to-one', ready: { log: 'listening on 9000' } },
          ],
        },
        { id: labId('web') },
      );
    });
    after(async () => lab?.stop());

    it('every lab host resolves <name>.lab.test to the service\'s public address', async () => {
      for (const host of ['a', 'b', 'eip']) {
        const r = await lab.exec(host, ['getent', 'hosts', 'web.lab.test']);
        expect(r.stdout, `${host} resolves web.lab.test`).to.match(/^198\.18\.1\.1\s+web\.lab\.test/);
      }
      const eip = lab.topology.services.find((s) => s.name === 'eip')!;
      expect((await lab.exec('a', ['getent', 'hosts', 'eip.lab.test'])).stdout, "behind one-to-one: the router's public address").to.include(eip.publicIp);
    });

    it('serves plain HTTP on its port and HTTPS on 443 with a certificate of the lab CA for its name', async () => {
      expect((await curl(lab, 'a', 'http://web.lab.test:8080/')).stdout).to.equal('hi from web\n');
      const https = await curl(lab, 'b', 'https://web.lab.test/');
      expect(https.stdout, `curl: ${https.stderr}`).to.equal('hi from web\n');
    });

    it('passes an HTTP upgrade (WebSocket) through TLS', async () => {
      const r = await lab.exec('a', ['curl', '-sS', '-i', '--max-time', '5', '--http1.1', '--cacert', lab.caFile, '-H', 'Connection: Upgrade', '-H', 'Upgrade: websocket', 'https://web.lab.test/socket']);
      expect(r.stdout, `curl: ${r.stderr}`).to.match(/^HTTP\/1\.1 101 /).and.include('upgraded');
    });

    it('reaches a service behind a one-to-one NAT on any port at its public address, from behind other NATs', async () => {
      const r = await curl(lab, 'b', 'http://eip.lab.test:9000/');
      expect(r.stdout, `curl: ${r.stderr}`).to.equal('hello from eip\n');
    });

    it('behind one-to-one: endpoint-independent mapping and filtering at its public address, measured with RFC 5780 discovery', async () => {
      const eip = lab.topology.services.find((s) => s.name === 'eip')!;
      const r = await lab.exec('eip', ['timeout', '10', 'turnutils_natdiscovery', '-m', '-f', lab.turn.info.ips[0]]);
      const out = r.stdout + r.stderr;
      expect(out).to.include('NAT with Endpoint Independent Mapping!').and.include('NAT with Endpoint Independent Filtering!');
      expect(out, 'its reflexive address is the public one').to.include(`UDP reflexive addr: ${eip.publicIp}:`);
      const stun = await lab.exec('eip', [node, STUN_MAPPED, lab.turn.info.ips[0], '40123']);
      expect(stun.stdout.trim(), `the port it sends from is kept (${stun.stderr})`).to.equal(`${eip.publicIp}:40123`);
    });

    for (const engine of ['chromium', 'firefox'] as const) {
      it(`${engine} behind a NAT resolves the service's name and trusts its certificate: the page is a secure context`, async function () {
        if (!findEngine(engine).available) this.skip();
        const fleet = new BrowserFleet(lab);
        try {
          const { browser } = await fleet.browser(engine, 'a');
          const context = await browser.newContext();
          const page = await context.newPage();
          const response = await page.goto('https://web.lab.test/');
          expect(await response?.text()).to.equal('hi from web\n');
          expect(await page.evaluate(() => [window.isSecureContext, typeof navigator.mediaDevices?.getUserMedia])).to.deep.equal([true, 'function']);
          await context.close();
        } finally {
          await fleet.close();
        }
      });
    }

    it('passes the lab facts in the environment (addresses, ICE servers, TURN secret) along with its own env and cwd', async () => {
      const env = JSON.parse((await curl(lab, 'a', 'http://web.lab.test:8080/env')).stdout) as Record<string, string>;
      expect(env).to.deep.include({ ICELAB_SERVICE_NAME: 'web', ICELAB_HOSTNAME: 'web.lab.test', ICELAB_PUBLIC_IP: '198.18.1.1', ICELAB_PORT: '8080', ICELAB_SERVICE_URL: 'https://web.lab.test', GREETING: 'hi', cwd: '/tmp' });
      expect(env.ICELAB_TURN_SECRET).to.equal(lab.turn.info.secret);
      expect(env.ICELAB_SERVICE_DIR, 'its own files, removed with the lab').to.equal(`${lab.dir}/services/web`);
      const ice = JSON.parse(env.ICELAB_ICE_SERVERS!) as { urls: string; username?: string }[];
      expect(ice.map((s) => s.urls)).to.include.members(['stun:198.18.0.10:3478', 'turns:turn.lab.test:443?transport=tcp']);
      expect(JSON.parse(env.ICELAB_SERVICES!), 'the URLs of the services that have one').to.deep.equal({ web: 'https://web.lab.test' });
      const eip = JSON.parse((await curl(lab, 'a', 'http://eip.lab.test:9000/env')).stdout) as Record<string, string>;
      expect(eip.ICELAB_PUBLIC_IP, 'a service behind a NAT is told its public address').to.equal(lab.topology.services[1]!.publicIp);
      expect(eip.ICELAB_SERVICE_IP).to.match(/^10\./);
    });

    it('captures each service\'s output in its log, and the summary shows where', () => {
      const web = lab.services.find((s) => s.name === 'web')!;
      expect(web.log()).to.include('echo server listening on 8080');
      const summary = lab.summary().services;
      expect(summary.map((s) => [s.name, s.url, s.running])).to.deep.equal([
        ['web', 'https://web.lab.test', true],
        ['eip', null, true],
      ]);
      expect(summary[0]!.logFile).to.equal(web.info.logFile);
    });
  });

  describe('forward: a server on this machine\'s loopback under a service name', () => {
    let server: Server;
    let port: number;
    before(async () => {
      server = createServer((req, res) => res.end(`dev server: ${req.url}`));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      port = (server.address() as AddressInfo).port;
    });
    after(() => server.close());

    it('is reached at http://<name>.lab.test:<port> from a host behind a NAT, and the lab host has no other way to the machine', async () => {
      const lab = await startLab({ hosts: [{ name: 'a' }], services: [{ name: 'dev', forward: port, ready: { http: '/' } }] }, { id: labId('fwd') });
      try {
        const r = await curl(lab, 'a', `http://dev.lab.test:${port}/page`);
        expect(r.stdout, `curl: ${r.stderr}`).to.equal('dev server: /page');
        const other = await lab.exec('a', ['curl', '-sS', '--max-time', '2', `http://127.0.0.1:${port}/`]);
        expect(other.code, "another lab host's loopback is its own, not the machine's").not.to.equal(0);
      } finally {
        await lab.stop();
      }
    });

    it('refuses a forward to a port where nothing answers, naming the service', async () => {
      const closed = createServer();
      await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
      const free = (closed.address() as AddressInfo).port;
      await new Promise((r) => closed.close(r));
      const e = await startFails({ hosts: [{ name: 'a' }], services: [{ name: 'dev', forward: free }] });
      expect(e.code).to.equal('ERR_SERVICE_FORWARD');
      expect(e.message).to.include(`service "dev" forwards 127.0.0.1:${free}`);
    });
  });

  describe('image: a container wired in as a lab host', () => {
    const BASE = 'icelab/debian-base:bookworm';
    // perl-base is in every Debian image: a one-line HTTP server that says who it is and how it resolves the TURN server's name.
    const PERL_SERVER = `perl -MIO::Socket::INET -MSocket -e '$|=1; $s = IO::Socket::INET->new(LocalPort => 8080, Listen => 5, ReuseAddr => 1) or die "bind: $!"; print "listening\\n"; while ($c = $s->accept) { <$c>; print $c "HTTP/1.0 200 OK\\r\\n\\r\\n$ENV{ICELAB_SERVICE_NAME} $ENV{ICELAB_PUBLIC_IP} turn=" . inet_ntoa(scalar gethostbyname("turn.lab.test")) . "\\n"; close $c }'`;
    before(async function () {
      if ((await run(['docker', 'image', 'inspect', BASE])).code !== 0) this.skip();
    });

    it('runs behind a NAT with the lab facts and names, serves through the lab\'s TLS, logs to its file, and is removed with the lab', async () => {
      const id = labId('img');
      const lab = await startLab({ hosts: [{ name: 'a' }], services: [{ name: 'box', image: BASE, command: PERL_SERVER, port: 8080, tls: true, nat: 'one-to-one' }] }, { id });
      try {
        const box = lab.topology.services[0]!;
        const r = await curl(lab, 'a', 'https://box.lab.test/');
        expect(r.stdout, `curl: ${r.stderr}`).to.equal(`box ${box.publicIp} turn=${lab.turn.info.ips[0]}\n`);
        expect(lab.services[0]!.log()).to.include('listening');
        expect((await leftovers(id)).some((l) => l === `container icelab-${id}-box`), 'the container is the lab\'s').to.equal(true);
      } finally {
        await lab.stop();
      }
      expect(await leftovers(id), 'left after stop').to.deep.equal([]);
    });

    it("an image whose own command ends at once is a service that exited before it was ready", async () => {
      // The base image's command is bash, which ends without a terminal.
      const e = await startFails({ hosts: [{ name: 'a' }], services: [{ name: 'shell', image: BASE, port: 80 }] });
      expect(e.code).to.equal('ERR_SERVICE_EXITED');
      expect(e.message).to.include('service "shell" exited (its container stopped) before it was ready');
    });

    it('refuses an image that is not on this machine, naming the service and the fix', async () => {
      const e = await startFails({ hosts: [{ name: 'a' }], services: [{ name: 'gone', image: 'icelab/no-such-image:1', port: 80 }] });
      expect(e.code).to.equal('ERR_SERVICE_IMAGE');
      expect(e.message).to.include('service "gone": image "icelab/no-such-image:1" cannot be used: it is not on this machine').and.include('docker build -t icelab/no-such-image:1');
    });
  });

  describe('bad services', () => {
    it('one that exits before it is ready: its exit and last log lines, naming it', async () => {
      const e = await startFails({ hosts: [{ name: 'a' }], services: [{ name: 'crash', command: 'echo "config missing: DATABASE_URL" >&2; exit 3', port: 80 }] });
      expect(e.code).to.equal('ERR_SERVICE_EXITED');
      expect(e.message).to.include('service "crash" exited with code 3 before it was ready').and.include('config missing: DATABASE_URL');
    });

    it('one that fails ends the wait for the others at once; its error is the one reported, and nothing is left', async () => {
      const t0 = Date.now();
      const e = await startFails({
        hosts: [{ name: 'a' }],
        services: [
          { name: 'patient', command: 'sleep 60', ready: { log: 'never printed', timeoutMs: 60_000 } },
          { name: 'crash', command: 'sleep 0.3; exit 4', ready: { log: 'never printed' } },
        ],
      });
      expect(e.code).to.equal('ERR_SERVICE_EXITED');
      expect(e.message).to.include('service "crash" exited with code 4');
      expect(Date.now() - t0, 'the lab did not wait out the other service\'s 60 s').to.be.below(20_000);
    });

    it('one whose cwd does not exist', async () => {
      const e = await startFails({ hosts: [{ name: 'a' }], services: [{ name: 'lost', command: 'true', cwd: '/nonexistent/app', port: 80 }] });
      expect(e.code).to.equal('ERR_SERVICE_CWD');
      expect(e.message).to.include('service "lost": cwd /nonexistent/app does not exist');
    });

    it('one that is not ready within its timeout: what was awaited, what was seen, the last log lines', async () => {
      const e = await startFails({ hosts: [{ name: 'a' }], services: [{ name: 'slow', command: 'echo starting; sleep 30', ready: { tcp: 8080, timeoutMs: 800 } }] });
      expect(e.code).to.equal('ERR_SERVICE_NOT_READY');
      expect(e.message).to.include('service "slow" was not ready within 800 ms: awaited a listener on TCP port 8080; last seen: nothing listens on TCP port 8080').and.include('    starting');
    });

    it('one listening on loopback only is told that no other host reaches it', async () => {
      const e = await startFails({ hosts: [{ name: 'a' }], services: [{ name: 'local', command: `${node} -e "require('http').createServer().listen(8080, '127.0.0.1')"`, ready: { tcp: 8080, timeoutMs: 1500 } }] });
      expect(e.code).to.equal('ERR_SERVICE_NOT_READY');
      expect(e.message).to.include('bound to loopback only');
    });

    it('one whose port is already bound in its host', async () => {
      const e = await startFails({ hosts: [{ name: 'a' }], services: [{ name: 'twice', command: `${node} ${ECHO} 8080 & sleep 0.5; ${node} ${ECHO} 8080`, ready: { log: 'never printed', timeoutMs: 10_000 } }] });
      expect(e.code).to.equal('ERR_SERVICE_PORT_IN_USE');
      expect(e.message).to.include('service "twice"').and.include('EADDRINUSE');
    });
  });
});
