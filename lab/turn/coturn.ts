import { X509Certificate, createHash, createHmac, randomBytes } from 'node:crypto';
import { logFrom, logSize } from '../log-file.ts';
import { copyFileSync, watch, mkdirSync, openSync, closeSync, readFileSync, renameSync, rmSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { LabError } from '../topology/errors.ts';
import type { PlannedTurn } from '../topology/topology.ts';
import { MACHINE_CACHE, readCached, writeCached } from '../network/machine-cache.ts';
import type { StartedNetwork } from '../network/network.ts';
import { run, runScript } from '../network/run.ts';
import { launchContainer } from './container.ts';
import { setTimeout as sleep } from 'node:timers/promises';

export const TURN_PORTS = { udp: 3478, tcp: 3478, tls: 5349, alternate: 3479, firewallFriendly: 443 } as const;
export const REALM = 'icelab.test';
/** The name TLS clients use; every lab host resolves it through /etc/netns/<ns>/hosts. */
export const turnHostname = (name: string) => `${name}.lab.test`;
/**
 * Peers a TURN server must not relay to (pitfall 2: browsers check relay→private host candidates;
 * coturn closes allocations it cannot route). Ranges the lab uses for LANs and carrier-grade NAT,
 * plus the usual SSRF targets. coturn denies loopback unless allow-loopback-peers.
 */
export const DENIED_PEERS = [
  '0.0.0.0-0.255.255.255',
  '10.0.0.0-10.255.255.255',
  '100.64.0.0-100.127.255.255',
  '169.254.0.0-169.254.255.255',
  '172.16.0.0-172.31.255.255',
  '192.168.0.0-192.168.255.255',
];

export type IceTransport = 'stun' | 'turn-udp' | 'turn-tcp' | 'turns-tcp';
export const ICE_TRANSPORTS: readonly IceTransport[] = ['stun', 'turn-udp', 'turn-tcp', 'turns-tcp'];
export interface IceServer {
  urls: string;
  username?: string;
  credential?: string;
}

/** Settings a test may weaken on purpose (the TURN suite checks that it notices). */
export interface CoturnOptions {
  allowLoopbackPeers?: boolean;
  deniedPeers?: readonly string[];
  /** Extra turnserver.conf lines. */
  extraConfig?: readonly string[];
}

export interface TurnInfo {
  host: string;
  ips: [string, string];
  hostname: string;
  realm: string;
  secret: string;
  staticUser: { username: string; credential: string };
  logFile: string;
  caFile: string;
  metrics: string;
  pid: number;
}

/** TURN REST API credentials (draft-uberti-behave-turn-rest): user "expiry:name", HMAC-SHA1 of it. */
export function restCredentials(secret: string, user = 'icelab', ttlSec = 3600, now = Date.now()): { username: string; credential: string } {
  const username = `${Math.floor(now / 1000) + ttlSec}:${user}`;
  return { username, credential: createHmac('sha1', secret).update(username).digest('base64') };
}

/** Ready-made iceServers for one transport with fresh REST credentials. */
export function iceServersFor(info: Pick<TurnInfo, 'ips' | 'hostname' | 'secret'>, transport: IceTransport, user = 'icelab'): IceServer[] {
  const ip = info.ips[0];
  if (transport === 'stun') return [{ urls: `stun:${ip}:${TURN_PORTS.udp}` }];
  const cred = restCredentials(info.secret, user);
  const urls = {
    'turn-udp': `turn:${ip}:${TURN_PORTS.udp}?transport=udp`,
    // 443 gets through firewalls that only allow web ports; coturn takes plain TCP on its TLS port.
    'turn-tcp': `turn:${ip}:${TURN_PORTS.firewallFriendly}?transport=tcp`,
    'turns-tcp': `turns:${info.hostname}:${TURN_PORTS.firewallFriendly}?transport=tcp`,
  }[transport];
  return [{ urls, ...cred }];
}

export function renderCoturnConfig(turn: PlannedTurn, dir: string, secret: string, opts: CoturnOptions = {}): string {
  return [
    ...turn.ips.map((ip) => `listening-ip=${ip}`),
    `relay-ip=${turn.ips[0]}`,
    `listening-port=${TURN_PORTS.udp}`,
    `tls-listening-port=${TURN_PORTS.tls}`,
    `realm=${REALM}`,
    'fingerprint',
    'lt-cred-mech',
    'use-auth-secret',
    `static-auth-secret=${secret}`,
    `cert=${join(dir, 'cert.pem')}`,
    `pkey=${join(dir, 'key.pem')}`,
    'no-cli',
    'no-multicast-peers',
    ...(opts.allowLoopbackPeers ? ['allow-loopback-peers'] : []),
    ...(opts.deniedPeers ?? DENIED_PEERS).map((r) => `denied-peer-ip=${r}`),
    'verbose',
    `pidfile=${join(dir, 'turnserver.pid')}`,
    ...(opts.extraConfig ?? []),
    '',
  ].join('\n');
}

/** Files of the lab CA and the TURN server's certificate, as coturn and the browsers read them; the CA key signs services' certificates. */
const TLS_FILES = ['ca.pem', 'ca.key', 'cert.pem', 'key.pem'] as const;
/** A cached certificate is used while it has at least this long to live (a lab lasts hours, not days). */
const MIN_VALIDITY_MS = 24 * 3600 * 1000;

/**
 * A lab CA and a server certificate for the name and both addresses (browsers refuse self-signed),
 * copied into `dir`. Made once per machine for what they contain (two openssl runs, ≈50-100 ms under
 * load, otherwise paid by every start) and kept in the machine cache, where `icelab down --all`
 * removes them; each lab keeps its own copy.
 */
export async function labCertificates(dir: string, turn: PlannedTurn, root = MACHINE_CACHE): Promise<void> {
  const content = { version: 1, name: turnHostname(turn.name), ips: turn.ips };
  const cached = join(root, `tls-${createHash('sha256').update(JSON.stringify(content)).digest('hex').slice(0, 16)}`);
  if (!usable(cached)) await makeCertificates(cached, turn);
  for (const f of TLS_FILES) copyFileSync(join(cached, f), join(dir, f));
}

/** All files there, each certificate parseable and valid for a while yet. */
function usable(cached: string): boolean {
  try {
    return ['ca.pem', 'cert.pem'].every((f) => Date.parse(new X509Certificate(readFileSync(join(cached, f))).validTo) - Date.now() > MIN_VALIDITY_MS) && TLS_FILES.every((f) => existsSync(join(cached, f)));
  } catch {
    return false;
  }
}

/** Makes the pair in a directory of its own, then renames it into place: a concurrent start sees all of it or none. */
async function makeCertificates(cached: string, turn: PlannedTurn): Promise<void> {
  const tmp = `${cached}.${process.pid}-${randomBytes(4).toString('hex')}`;
  mkdirSync(tmp, { recursive: true, mode: 0o700 });
  const ec = '-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 7';
  const san = [`DNS:${turnHostname(turn.name)}`, ...turn.ips.map((ip) => `IP:${ip}`)].join(',');
  try {
    await runScript(
      [
        `cd ${tmp}`,
        `openssl req -x509 ${ec} -keyout ca.key -out ca.pem -subj "/CN=icelab lab CA" -addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign,cRLSign 2>/dev/null`,
        `openssl req -x509 -CA ca.pem -CAkey ca.key ${ec} -keyout key.pem -out cert.pem -subj "/CN=${turnHostname(turn.name)}" -addext "subjectAltName=${san}" -addext extendedKeyUsage=serverAuth -addext basicConstraints=CA:FALSE 2>/dev/null`,
      ].join('\n'),
      'generating the TURN server certificate',
    );
    rmSync(cached, { recursive: true, force: true });
    renameSync(tmp, cached);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

let prometheusSupport: Promise<boolean> | undefined;
/**
 * Debian's coturn 4.6.1 is built without Prometheus; the upstream image has it. Asked of the binary
 * once per machine (a `turnserver --help` spawn per start otherwise), again when the binary changes.
 */
export function coturnHasPrometheus(): Promise<boolean> {
  prometheusSupport ??= (async () => {
    const bin = (process.env.PATH ?? '').split(':').map((d) => join(d, 'turnserver')).find((f) => existsSync(f));
    const st = bin ? statSync(bin) : null;
    const key = st ? `${bin} ${st.size} ${st.mtimeMs}` : 'none';
    const cached = readCached<boolean>('coturn-prometheus', key);
    if (cached !== null) return cached;
    const yes = (await run(['turnserver', '--help'])).stdout.includes('prometheus');
    if (st) writeCached('coturn-prometheus', key, yes);
    return yes;
  })();
  return prometheusSupport;
}

export class StartedCoturn {
  readonly info: TurnInfo;
  readonly #net: StartedNetwork;
  readonly #turn: PlannedTurn;
  constructor(net: StartedNetwork, turn: PlannedTurn, info: TurnInfo) {
    this.#net = net;
    this.#turn = turn;
    this.info = info;
  }
  iceServers(transport: IceTransport, user?: string): IceServer[] {
    return iceServersFor(this.info, transport, user);
  }
  /** The server's log so far (a call's evidence takes the part written during the call). */
  log(fromByte = 0): string {
    return logFrom(this.info.logFile, fromByte);
  }
  logSize(): number {
    return logSize(this.info.logFile);
  }
  /** Stops the server (allocations die with it) and starts it again with the same configuration. */
  async restart(): Promise<void> {
    await this.stop();
    const pid = await (this.#turn.provider === 'container' ? launchContainer : launch)(this.#net, this.#turn, this.info.logFile, join(this.#net.dir, this.#turn.name));
    Object.assign(this.info, { pid });
  }
  async stop(): Promise<void> {
    try {
      process.kill(this.info.pid, 'SIGKILL');
    } catch {
      return;
    }
    for (let i = 0; i < 100 && isRunning(this.info.pid); i++) await new Promise((r) => setTimeout(r, 10));
  }
}

const isRunning = (pid: number) => existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z');

/** coturn's files in place (certificates, configuration) and the server not started yet: the CA is there for browsers. */
export interface PreparedCoturn {
  readonly caFile: string;
  /** Starts the server and waits until it answers a STUN binding request. */
  start(): Promise<StartedCoturn>;
}

/** Starts coturn in its lab host and waits until it answers a STUN binding request. */
export async function startCoturn(net: StartedNetwork, turn: PlannedTurn, opts: CoturnOptions = {}): Promise<StartedCoturn> {
  return (await prepareCoturn(net, turn, opts)).start();
}

export async function prepareCoturn(net: StartedNetwork, turn: PlannedTurn, opts: CoturnOptions = {}): Promise<PreparedCoturn> {
  const dir = join(net.dir, turn.name);
  mkdirSync(dir, { recursive: true });
  const secret = randomBytes(18).toString('base64url');
  await labCertificates(dir, turn);
  writeFileSync(join(dir, 'turnserver.conf'), renderCoturnConfig(turn, dir, secret, opts));
  const logFile = join(dir, 'turnserver.log');
  const caFile = join(dir, 'ca.pem');
  const start = async () => {
    // The Prometheus probe is a spawn of its own: it runs while coturn starts.
    const metrics = coturnHasPrometheus().then((yes) => (yes ? `http://${turn.ips[0]}:9641/metrics` : 'unavailable: this coturn build has no Prometheus support'));
    const pid = await (turn.provider === 'container' ? launchContainer : launch)(net, turn, logFile, dir);
    return new StartedCoturn(net, turn, {
      host: turn.name,
      ips: turn.ips,
      hostname: turnHostname(turn.name),
      realm: REALM,
      secret,
      // coturn ignores `user=` accounts once the REST secret is on ("cannot be used with TURN REST
      // API"): the fixed user for clients that cannot compute credentials is a REST credential
      // valid for ten years.
      staticUser: restCredentials(secret, 'static', 10 * 365 * 86400),
      logFile,
      caFile,
      metrics: await metrics,
      pid,
    });
  };
  return { caFile, start };
}

async function launch(net: StartedNetwork, turn: PlannedTurn, logFile: string, dir: string): Promise<number> {
  const fd = openSync(logFile, 'a');
  // Detached, so a lab left up by `icelab up` keeps its server; teardown kills every process in the namespace.
  // No `-n`: it means "ignore the configuration file". Logging goes to stdout (our file), never /var/log.
  const child = net.spawn(turn.name, ['turnserver', '-c', join(dir, 'turnserver.conf'), '--log-file=stdout', '--simple-log'], {
    detached: true,
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  child.unref();
  const exited = new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? -1)));
  child.once('error', () => undefined);
  await waitForStun(net, turn, child.pid, exited, logFile);
  return child.pid!;
}

/** `/proc/net/{udp,tcp}` spelling of an IPv4 address and port: the raw 32-bit word in host byte order. */
export function procNetAddress(ip: string, port: number): string {
  const b = Buffer.from(ip.split('.').map(Number));
  const word = endianness() === 'LE' ? b.readUInt32LE(0) : b.readUInt32BE(0);
  return `${word.toString(16).toUpperCase().padStart(8, '0')}:${port.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * Sockets coturn opens once it has read its configuration and certificates: UDP 3478 on both addresses
 * (RFC 5780 needs the alternate one) and the TCP listeners on 3478 and the TLS port (where 443 leads).
 * Read from /proc/<pid>/net, which shows the namespace of the server process: no spawn per poll.
 * Returns null when that cannot be read (the process is gone, or has not entered the namespace yet).
 */
export function missingListeners(pid: number, turn: PlannedTurn): string[] | null {
  let udp: string;
  let tcp: string;
  try {
    udp = readFileSync(`/proc/${pid}/net/udp`, 'utf8');
    tcp = readFileSync(`/proc/${pid}/net/tcp`, 'utf8');
  } catch {
    return null;
  }
  const bound = (table: string, ip: string, port: number, state: string) =>
    table.split('\n').some((l) => {
      const f = l.trim().split(/\s+/);
      return f[1] === procNetAddress(ip, port) && f[3] === state;
    });
  const missing: string[] = [];
  for (const ip of turn.ips) if (!bound(udp, ip, TURN_PORTS.udp, '07')) missing.push(`udp ${ip}:${TURN_PORTS.udp}`);
  for (const port of [TURN_PORTS.tcp, TURN_PORTS.tls]) if (!bound(tcp, turn.ips[0], port, '0A')) missing.push(`tcp ${turn.ips[0]}:${port}`);
  return missing;
}

/**
 * Resolves with "" once every listener of `missingListeners` is bound, checking at each write to the
 * server's log; with what is still missing when the server exits or `ms` pass.
 */
function listening(pid: number, turn: PlannedTurn, logFile: string, exited: Promise<number>, ms: number): Promise<string> {
  return new Promise((resolve) => {
    const missing = () => missingListeners(pid, turn);
    // Made if the server has not written yet (a container appends once it runs), so it can be watched.
    closeSync(openSync(logFile, 'a'));
    const watcher = watch(logFile);
    const done = () => {
      clearTimeout(timer);
      watcher.close();
      const m = missing();
      resolve(m === null ? 'the server process is gone' : m.length ? `not listening on ${m.join(', ')}` : '');
    };
    const timer = setTimeout(done, ms);
    watcher.on('change', () => missing()?.length === 0 && done());
    watcher.on('error', done);
    void exited.then(done);
    if (missing()?.length === 0) done();
  });
}

/**
 * Ready means a STUN binding answered on the primary address, not "some time has passed". Until the
 * listeners exist a STUN request is lost and the client waits out its timeout (that used to cost
 * 0.5 s per start), so the sockets come first: coturn logs a line as it opens each listener, and each
 * line written (inotify, no polling) has the socket tables read again. Then one STUN binding.
 */
export async function waitForStun(net: StartedNetwork, turn: PlannedTurn, pid: number | undefined, exited: Promise<number>, logFile: string, timeoutMs = 5000): Promise<void> {
  const t0 = Date.now();
  let dead: number | null = null;
  void exited.then((c) => (dead = c));
  // After a second, ask STUN anyway (a build that binds differently, or logs elsewhere).
  let last = pid === undefined ? '' : await listening(pid, turn, logFile, exited, 1000);
  // At least one request once the sockets are there: a main thread busy elsewhere (a browser launching
  // beside the server) may have used up the time meanwhile, which says nothing about the server.
  for (let tries = 0; dead === null && (tries === 0 || Date.now() - t0 < timeoutMs); tries++) {
    const r = await run(['nsenter', `--net=/run/netns/${net.ns(turn.name)}`, 'turnutils_stunclient', '-p', String(TURN_PORTS.udp), turn.ips[0]], { timeoutMs: 1000 });
    if (r.code === 0 && /UDP reflexive addr/i.test(r.stdout)) return;
    last = (r.stderr || r.stdout).trim().split('\n').pop() || `no answer (exit ${r.code})`;
    // Only when the server does not answer yet: a short pause before the next binding request.
    await sleep(10);
  }
  const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
  const error = log.split('\n').filter((l) => /ERROR|cannot|bind/i.test(l)).slice(-3).join(' | ');
  throw new LabError(
    'ERR_TURN_NOT_READY',
    dead !== null
      ? `coturn in lab host "${turn.name}" exited with code ${dead} before answering STUN: ${error || 'see ' + logFile}`
      : `coturn in lab host "${turn.name}" did not answer a STUN binding on ${turn.ips[0]}:${TURN_PORTS.udp} within ${timeoutMs} ms (last: ${last || 'no answer'})`,
    {
      hint: /turnserver.*(not found|ENOENT)|No such file/i.test(error + last)
        ? 'install coturn: apt-get install coturn'
        : `read the server log at ${logFile}`,
      context: { host: turn.name, address: turn.ips[0], log: logFile },
    },
  );
}
