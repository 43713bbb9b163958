/**
 * The app's own servers in the lab: each service runs in a lab host of its own (planned with the
 * topology, built with the network), as a command in the host's namespace, a container wired into
 * it, or a relay to a server on this machine's loopback. Every lab host resolves `<name>.lab.test`
 * to the service's public address. The lab passes its facts (addresses, ICE servers, the TURN REST
 * secret, a certificate from the lab CA) in the environment, captures stdout and stderr to a log
 * per service, and can terminate TLS on 443 in front of a plain-HTTP service.
 *
 * Teardown needs nothing of its own: a service's processes are in its namespace (the lab kills
 * those), the machine-side relay of a forward names the lab's temp dir on its command line (the
 * lab kills those too), and containers are recorded before they are created.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { logFrom, logSize } from '../log-file.ts';
import { LabError } from '../topology/errors.ts';
import type { PlannedService } from '../topology/topology.ts';
import type { StartedNetwork } from '../network/network.ts';
import { runScript } from '../network/run.ts';
import { ICE_TRANSPORTS, iceServersFor, REALM, restCredentials, type TurnInfo } from '../turn/coturn.ts';
import { launchImage } from './container.ts';
import { AbortedError, waitReady, type Running } from './ready.ts';

/** What the lab records of a started service (in its state, for a later CLI call) and `icelab up --json` shows. */
export interface ServiceInfo {
  name: string;
  hostname: string;
  /** Its address on its own segment, and where other lab hosts reach it. */
  ip: string;
  publicIp: string;
  /** How lab pages reach it: https://<name>.lab.test with tls, http://<name>.lab.test:<port> with a port, else null. */
  url: string | null;
  kind: PlannedService['source']['kind'];
  logFile: string;
  /** A certificate for its name and addresses from the lab CA (the service may serve TLS itself with it). */
  certFile: string;
  keyFile: string;
  /** The process in its host the service lives as long as (a container's first process). */
  pid: number;
  /** Milliseconds from start to ready. */
  readyMs: number;
}

/** Lab state key the started services are recorded under. */
const STATE_KEY = 'services';
/** Credentials in ICELAB_ICE_SERVERS outlive any lab. */
const ICE_TTL_SEC = 7 * 86400;
const RELAY = new URL('./relay.cjs', import.meta.url).pathname;

export const serviceUrl = (s: PlannedService): string | null => (s.tls ? `https://${s.hostname}` : s.port !== null ? `http://${s.hostname}:${s.port}` : null);

export class StartedService {
  readonly info: ServiceInfo;
  constructor(info: ServiceInfo) {
    this.info = info;
  }
  get name(): string {
    return this.info.name;
  }
  /** The service's log from `fromByte` on (evidence takes the part written during a test). */
  log(fromByte = 0): string {
    return logFrom(this.info.logFile, fromByte);
  }
  logSize(): number {
    return logSize(this.info.logFile);
  }
  /** Whether the service's process still runs. */
  running(): boolean {
    try {
      return !readFileSync(`/proc/${this.info.pid}/stat`, 'utf8').includes(') Z');
    } catch {
      return false;
    }
  }
}

/** Where each service's log stood: taken before a test, given to `writeServiceLogs` after it. */
export type LogMarks = Record<string, number>;
export const logMarks = (services: readonly StartedService[]): LogMarks => Object.fromEntries(services.map((s) => [s.name, s.logSize()]));
/** Writes `service-<name>.log` (what each service logged since `marks`) into an evidence directory, as a call writes turnserver.log. */
export function writeServiceLogs(dir: string, services: readonly StartedService[], marks: LogMarks = {}): string[] {
  return services.map((s) => {
    const file = join(dir, `service-${s.name}.log`);
    writeFileSync(file, s.log(marks[s.name] ?? 0));
    return file;
  });
}

/** The services recorded in a lab's state (a lab started by another process). */
export function openServices(net: StartedNetwork): StartedService[] {
  const infos = (net.services[STATE_KEY] ?? []) as ServiceInfo[];
  return infos.map((i) => new StartedService(i));
}

/** Starts every service of the topology at once and waits until each is ready. */
export async function startServices(net: StartedNetwork, turn: TurnInfo): Promise<StartedService[]> {
  const planned = net.topology.services ?? [];
  if (planned.length === 0) return [];
  // Every start settles before a failure is thrown: the lab is torn down next, and nothing may be
  // spawned after the teardown looked. The first failure ends the others' waits.
  const abort = new AbortController();
  const started = await settleAll(
    planned.map((s) =>
      startService(net, turn, s, abort.signal).catch((e: unknown) => {
        abort.abort();
        throw e;
      }),
    ),
  );
  net.setService(STATE_KEY, started.map((s) => s.info));
  return started;
}

/** Like Promise.all, but settles every promise first (nothing of a start runs on after its failure is thrown); an abort is never the failure reported. */
async function settleAll<T extends readonly unknown[]>(promises: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const settled = await Promise.allSettled(promises);
  const failures = settled.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  const failed = failures.find((r) => !(r.reason instanceof AbortedError)) ?? failures[0];
  if (failed) throw failed.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

async function startService(net: StartedNetwork, turn: TurnInfo, svc: PlannedService, signal: AbortSignal): Promise<StartedService> {
  const t0 = performance.now();
  const dir = join(net.dir, 'services', svc.name);
  mkdirSync(dir, { recursive: true });
  const logFile = join(dir, 'service.log');
  const { certFile, keyFile } = await issueCertificate(turn, svc, dir);
  const env = serviceEnv(net, turn, svc, { certFile, keyFile });
  // Launched, the host's namespace is final (a container's replaces it). The TLS relay connects to
  // the service per connection only, so it starts while the service comes up.
  const proc = await launch(net, svc, dir, logFile, env, signal);
  const tls = svc.tls ? startTls(net, svc, dir, certFile, keyFile, signal) : Promise.resolve();
  await settleAll([waitReady(net.ns(svc.name), svc, proc, logFile, svc.ready, signal), tls]);
  const info: ServiceInfo = {
    name: svc.name,
    hostname: svc.hostname,
    ip: svc.ip,
    publicIp: svc.publicIp,
    url: serviceUrl(svc),
    kind: svc.source.kind,
    logFile,
    certFile,
    keyFile,
    pid: proc.pid,
    readyMs: Math.round(performance.now() - t0),
  };
  return new StartedService(info);
}

function launch(net: StartedNetwork, svc: PlannedService, dir: string, logFile: string, env: Record<string, string>, signal: AbortSignal): Promise<Running> {
  const src = svc.source;
  if (src.kind === 'command' && src.cwd !== null && !existsSync(src.cwd)) {
    // spawn would report it as "spawn ip ENOENT", as if iproute2 were missing.
    throw new LabError('ERR_SERVICE_CWD', `service "${svc.name}": cwd ${resolve(src.cwd)} does not exist`, {
      hint: 'give the directory the command runs in (a relative cwd is taken from the working directory icelab runs in)',
      context: { service: svc.name },
    });
  }
  if (src.kind === 'command') return Promise.resolve(spawnIn(net, svc.name, ['/bin/sh', '-c', src.command], logFile, { ...env, ...src.env }, src.cwd));
  if (src.kind === 'image') return launchImage(net, svc, src, logFile, { ...env, ...src.env });
  return startForward(net, svc, src.loopbackPort, dir, logFile, signal);
}

/** A detached process in a service's host (it outlives `icelab up`), its output appended to `logFile`. */
function spawnIn(net: StartedNetwork, node: string, argv: string[], logFile: string, env: Record<string, string>, cwd: string | null = null): Running {
  const fd = openSync(logFile, 'a');
  const child = net.spawn(node, argv, { detached: true, stdio: ['ignore', fd, fd], env: { ...process.env, ...env }, ...(cwd ? { cwd } : {}) });
  closeSync(fd);
  child.unref();
  return { pid: child.pid ?? -1, ended: endedOf(child), unwatch: () => undefined };
}

/**
 * The facts of the lab a service needs, as production gives them: who it is, where it is reached,
 * ICE servers with fresh REST credentials, and the secret to mint its own (TURN REST API).
 */
export function serviceEnv(net: StartedNetwork, turn: TurnInfo, svc: PlannedService, tls: { certFile: string; keyFile: string }): Record<string, string> {
  // iceServersFor's credentials last an hour; a lab left up by `icelab up` lives longer.
  const creds = restCredentials(turn.secret, svc.name, ICE_TTL_SEC);
  const ice = ICE_TRANSPORTS.flatMap((t) => iceServersFor(turn, t)).map((s) => (s.username ? { ...s, ...creds } : s));
  const urls = Object.fromEntries((net.topology.services ?? []).map((s) => [s.name, serviceUrl(s)]).filter(([, u]) => u !== null));
  return {
    ICELAB_LAB: net.id,
    ICELAB_SERVICE_NAME: svc.name,
    // Its own files (pid files, scratch), removed with the lab.
    ICELAB_SERVICE_DIR: join(net.dir, 'services', svc.name),
    ICELAB_HOSTNAME: svc.hostname,
    ICELAB_SERVICE_IP: svc.ip,
    ICELAB_PUBLIC_IP: svc.publicIp,
    ...(svc.port !== null ? { ICELAB_PORT: String(svc.port) } : {}),
    ...(serviceUrl(svc) ? { ICELAB_SERVICE_URL: serviceUrl(svc)! } : {}),
    ICELAB_SERVICES: JSON.stringify(urls),
    ICELAB_ICE_SERVERS: JSON.stringify(ice),
    ICELAB_TURN_SECRET: turn.secret,
    ICELAB_TURN_REALM: REALM,
    ICELAB_TURN_URLS: ice.map((s) => s.urls).join(','),
    ICELAB_CA_FILE: turn.caFile,
    ICELAB_TLS_CERT: tls.certFile,
    ICELAB_TLS_KEY: tls.keyFile,
    // Node servers calling another service over https trust the lab CA, as browsers do.
    NODE_EXTRA_CA_CERTS: turn.caFile,
  };
}

/** A certificate for the service's name and addresses, signed by the lab CA the TURN server's came from (browsers trust it). */
async function issueCertificate(turn: TurnInfo, svc: PlannedService, dir: string): Promise<{ certFile: string; keyFile: string }> {
  const ca = turn.caFile;
  const caKey = join(dirname(ca), 'ca.key');
  if (!existsSync(caKey)) {
    throw new LabError('ERR_SERVICE_CERTIFICATE', `service "${svc.name}" needs a certificate from the lab CA, whose key ${caKey} is not beside ${ca}`, {
      hint: 'the TURN provider must leave the CA key (ca.key) beside ca.pem in the lab dir; this is a bug of icelab: report it',
      context: { service: svc.name },
    });
  }
  const san = [`DNS:${svc.hostname}`, ...[...new Set([svc.publicIp, svc.ip])].map((ip) => `IP:${ip}`)].join(',');
  const [certFile, keyFile] = [join(dir, 'cert.pem'), join(dir, 'key.pem')];
  await runScript(
    `openssl req -x509 -CA ${ca} -CAkey ${caKey} -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 7 -keyout ${keyFile} -out ${certFile} -subj "/CN=${svc.hostname}" -addext "subjectAltName=${san}" -addext extendedKeyUsage=serverAuth -addext basicConstraints=CA:FALSE 2>&1`,
    `issuing the certificate of service "${svc.name}"`,
    { service: svc.name },
  );
  return { certFile, keyFile };
}

/** Starts a relay (relay.cjs) in a lab host or, with node null, on this machine; resolves once it listens. */
async function startRelay(net: StartedNetwork, svc: PlannedService, node: string | null, spec: object, logFile: string, signal: AbortSignal): Promise<Running> {
  if (signal.aborted) throw new AbortedError(svc.name);
  const argv = [process.execPath, RELAY, JSON.stringify(spec)];
  const proc = node ? spawnIn(net, node, argv, logFile, {}) : spawnHere(net, argv, logFile);
  await waitReady(net.ns(svc.name), svc, proc, logFile, { kind: 'log', text: 'listening', timeoutMs: 10_000 }, signal);
  return proc;
}

/**
 * A relay on this machine's side (a forward's), detached so it outlives `icelab up`; recorded, and
 * its command line names the lab's temp dir, so teardown kills it even after a crash.
 */
function spawnHere(net: StartedNetwork, argv: string[], logFile: string): Running {
  const fd = openSync(logFile, 'a');
  const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  child.unref();
  if (child.pid !== undefined) net.track(child.pid);
  return { pid: child.pid ?? -1, ended: endedOf(child), unwatch: () => undefined };
}

/** How a child process ended, as a sentence's end: "exited with code 1", "was killed by SIGKILL". */
export function endedOf(child: ChildProcess): Promise<string> {
  return new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => resolve(signal ? `was killed by ${signal}` : `exited with code ${code}`));
    child.once('error', (e) => resolve(`could not be started (${e.message})`));
  });
}

/** TLS on 443 in the service's host with its certificate, plain TCP on to the service's port. */
async function startTls(net: StartedNetwork, svc: PlannedService, dir: string, certFile: string, keyFile: string, signal: AbortSignal): Promise<void> {
  const spec = { listen: { tcp: 443, cert: certFile, key: keyFile }, connect: { host: svc.ip, port: svc.port } };
  await startRelay(net, svc, svc.name, spec, join(dir, 'tls.log'), signal);
}

/**
 * A loopback server of this machine under the service's name: a relay in the service's host takes
 * the connections and passes each through a unix socket in the lab's temp dir to a relay on this
 * machine, which connects to 127.0.0.1:<port> and nowhere else.
 */
async function startForward(net: StartedNetwork, svc: PlannedService, loopbackPort: number, dir: string, logFile: string, signal: AbortSignal): Promise<Running> {
  await loopbackAnswers(svc, loopbackPort);
  const sock = join(dir, 'forward.sock');
  // Its own log: both relays print "listening", and the wait for the second must not see the first's.
  // Each relay connects onwards per connection only, so both start at once.
  const [, inner] = await settleAll([
    startRelay(net, svc, null, { listen: { unix: sock }, connect: { host: '127.0.0.1', port: loopbackPort } }, join(dir, 'forward-machine.log'), signal),
    startRelay(net, svc, svc.name, { listen: { tcp: svc.port }, connect: { unix: sock } }, logFile, signal),
  ]);
  return inner;
}

function loopbackAnswers(svc: PlannedService, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve();
    });
    s.once('error', (e) =>
      reject(
        new LabError('ERR_SERVICE_FORWARD', `service "${svc.name}" forwards 127.0.0.1:${port} of this machine, where nothing answers (${e.message})`, {
          hint: `start the server on port ${port} first (e.g. your dev server), or change "forward"`,
          context: { service: svc.name, port },
        }),
      ),
    );
  });
}
