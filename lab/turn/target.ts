import { createHmac } from 'node:crypto';
import { isIPv4 } from 'node:net';
import { LabError } from '../topology/errors.ts';
import { run, type RunResult } from '../network/run.ts';
import { DENIED_PEERS, TURN_PORTS, restCredentials, type StartedCoturn } from './coturn.ts';

/**
 * What the TURN suite tests: the lab's coturn (default) or any TURN server given by ICELAB_TURN_*
 * variables. The suite only sees this: where the server listens, how to get credentials, which
 * peer ranges the server claims to refuse, and where a client command runs.
 */
export type TurnTransport = 'udp' | 'tcp' | 'tls';
export interface TurnEndpoint {
  transport: TurnTransport;
  host: string;
  port: number;
  /** The URL an application would configure, e.g. turns:turn.example.com:5349?transport=tcp. */
  url: string;
}
export interface TurnCredentials {
  username: string;
  password: string;
}
/** An IPv4 range the server claims to deny as a relay peer, as [first, last] inclusive. */
export interface DeniedRange {
  spec: string;
  first: string;
  last: string;
}
export interface TurnTarget {
  kind: 'lab' | 'external';
  /** Shown in reports: the first URL. */
  url: string;
  endpoints: Partial<Record<TurnTransport, TurnEndpoint>>;
  /** CA file to verify the TLS certificate with (system trust when absent), and the name to check. */
  ca?: string;
  servername?: string;
  /** Fresh valid credentials. */
  credentials(): TurnCredentials;
  /** Valid credentials of another user (a REST secret can make them), or null. */
  otherCredentials(): TurnCredentials | null;
  /** REST credentials whose timestamp lies in the past, or null without a shared secret. */
  expiredCredentials(): TurnCredentials | null;
  /** A username the server knows, with a wrong password. */
  wrongPassword(): TurnCredentials;
  denies: DeniedRange[];
  /** Runs a client command where it can reach the server (a lab host, or this machine). */
  exec(argv: string[], opts?: { timeoutMs?: number }): Promise<RunResult>;
  /** The lab host clients run in (null for an external server). */
  clientHost: string | null;
}

const badEnv = (variable: string, problem: string, fix: string) => new LabError('ERR_TURN_TARGET', `${variable}: ${problem}`, { hint: fix, context: { variable } });

const ipToInt = (ip: string) => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
const intToIp = (n: number) => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');

/** Parses "10.0.0.0/8" or "10.0.0.0-10.255.255.255". `variable` names the source in errors. */
export function parseRange(spec: string, variable: string): DeniedRange {
  const s = spec.trim();
  const fix = 'give IPv4 ranges as CIDR (10.0.0.0/8) or first-last (10.0.0.0-10.255.255.255), comma-separated, or "none"';
  const cidr = /^([\d.]+)\/(\d{1,2})$/.exec(s);
  if (cidr) {
    const bits = Number(cidr[2]);
    if (!isIPv4(cidr[1]!) || bits > 32) throw badEnv(variable, `"${s}" is not an IPv4 CIDR range`, fix);
    const size = 2 ** (32 - bits);
    const first = Math.floor(ipToInt(cidr[1]!) / size) * size;
    return { spec: s, first: intToIp(first), last: intToIp(first + size - 1) };
  }
  const [a, b, ...rest] = s.split('-');
  if (rest.length || !a || !b || !isIPv4(a) || !isIPv4(b) || ipToInt(a) > ipToInt(b)) throw badEnv(variable, `"${s}" is not an IPv4 range`, fix);
  return { spec: s, first: a, last: b };
}
export function parseRanges(list: string, variable: string): DeniedRange[] {
  if (list.trim() === 'none') return [];
  return list.split(',').filter((x) => x.trim()).map((x) => parseRange(x, variable));
}
export function inRange(ip: string, r: DeniedRange): boolean {
  const n = ipToInt(ip);
  return n >= ipToInt(r.first) && n <= ipToInt(r.last);
}

/** What the lab's coturn is configured to refuse: loopback (coturn's default) and DENIED_PEERS. */
export const LAB_DENIES: readonly string[] = ['127.0.0.0/8', ...DENIED_PEERS];

/** The lab's coturn, with clients in `clientHost`. `denies` is the policy to check it against. */
export function labTarget(lab: { turn: StartedCoturn; exec(node: string, argv: string[], opts?: { timeoutMs?: number }): Promise<RunResult> }, opts: { clientHost?: string; denies?: readonly string[] } = {}): TurnTarget {
  const info = lab.turn.info;
  const ip = info.ips[0];
  const clientHost = opts.clientHost ?? 'open';
  const rest = (user: string, ttl: number) => {
    const c = restCredentials(info.secret, user, ttl);
    return { username: c.username, password: c.credential };
  };
  return {
    kind: 'lab',
    url: `turn:${ip}:${TURN_PORTS.udp}`,
    endpoints: {
      udp: { transport: 'udp', host: ip, port: TURN_PORTS.udp, url: `turn:${ip}:${TURN_PORTS.udp}?transport=udp` },
      tcp: { transport: 'tcp', host: ip, port: TURN_PORTS.tcp, url: `turn:${ip}:${TURN_PORTS.tcp}?transport=tcp` },
      tls: { transport: 'tls', host: info.hostname, port: TURN_PORTS.tls, url: `turns:${info.hostname}:${TURN_PORTS.tls}?transport=tcp` },
    },
    ca: info.caFile,
    servername: info.hostname,
    credentials: () => rest('icelab', 3600),
    otherCredentials: () => rest('other', 3600),
    expiredCredentials: () => rest('icelab', -3600),
    wrongPassword: () => ({ username: rest('icelab', 3600).username, password: 'not-the-password' }),
    denies: (opts.denies ?? LAB_DENIES).map((r) => parseRange(r, 'lab denies')),
    exec: (argv, o) => lab.exec(clientHost, argv, o),
    clientHost,
  };
}

/** Parses one TURN URL (RFC 7065): turn:host[:port][?transport=udp|tcp], turns:host[:port]. */
function parseUrl(url: string, variable: string): TurnEndpoint[] {
  const m = /^(turns?):(\[[^\]]+\]|[^:?]+)(?::(\d+))?(?:\?transport=(udp|tcp))?$/.exec(url.trim());
  const fix = 'use turn:<host>[:<port>][?transport=udp|tcp] or turns:<host>[:<port>], comma-separated (e.g. turn:turn.example.com:3478,turns:turn.example.com:5349)';
  if (!m) throw badEnv(variable, `"${url}" is not a TURN URL`, fix);
  const [, scheme, host, portText, transport] = m;
  if (scheme === 'turns' && transport === 'udp') throw badEnv(variable, `"${url}": DTLS (turns with transport=udp) is not tested`, fix);
  const port = portText ? Number(portText) : scheme === 'turns' ? 5349 : 3478;
  if (port < 1 || port > 65535) throw badEnv(variable, `"${url}": port ${port} out of range`, fix);
  if (scheme === 'turns') return [{ transport: 'tls', host: host!, port, url: url.trim() }];
  const kinds: TurnTransport[] = transport ? [transport as TurnTransport] : ['udp', 'tcp'];
  return kinds.map((t) => ({ transport: t, host: host!, port, url: `turn:${host}:${port}?transport=${t}` }));
}

/**
 * A TURN server outside the lab, from the environment (null when ICELAB_TURN_URL is unset):
 *   ICELAB_TURN_URL       turn:host:3478[,turns:host:5349]
 *   ICELAB_TURN_SECRET    REST API shared secret (draft-uberti-behave-turn-rest), or
 *   ICELAB_TURN_USER / ICELAB_TURN_PASSWORD   long-term credentials
 *   ICELAB_TURN_DENIES    ranges the server claims to deny as peers (CIDR or first-last, comma-separated, or "none")
 *   ICELAB_TURN_CA        optional CA file for turns: (system trust otherwise)
 * Clients run on this machine: the lab's hosts have no route out of the lab.
 */
export function externalTarget(env: NodeJS.ProcessEnv = process.env): TurnTarget | null {
  const urls = env.ICELAB_TURN_URL?.trim();
  if (!urls) return null;
  const endpoints: Partial<Record<TurnTransport, TurnEndpoint>> = {};
  for (const e of urls.split(',').filter((u) => u.trim()).flatMap((u) => parseUrl(u, 'ICELAB_TURN_URL'))) endpoints[e.transport] ??= e;
  const secret = env.ICELAB_TURN_SECRET;
  const user = env.ICELAB_TURN_USER;
  const password = env.ICELAB_TURN_PASSWORD;
  if (!secret && !(user && password)) {
    throw badEnv('ICELAB_TURN_SECRET', 'no credentials for the TURN server', 'set ICELAB_TURN_SECRET (REST shared secret) or both ICELAB_TURN_USER and ICELAB_TURN_PASSWORD');
  }
  if (secret && (user || password)) {
    throw badEnv('ICELAB_TURN_SECRET', 'both a REST secret and a user/password are set', 'set either ICELAB_TURN_SECRET or ICELAB_TURN_USER/ICELAB_TURN_PASSWORD');
  }
  if (env.ICELAB_TURN_DENIES === undefined) {
    throw badEnv('ICELAB_TURN_DENIES', 'not set: the suite needs the peer ranges the server claims to refuse', 'e.g. ICELAB_TURN_DENIES=127.0.0.0/8,0.0.0.0/8,10.0.0.0/8,100.64.0.0/10,169.254.0.0/16,172.16.0.0/12,192.168.0.0/16 (or "none")');
  }
  const rest = (name: string, ttl: number): TurnCredentials => {
    const username = `${Math.floor(Date.now() / 1000) + ttl}:${name}`;
    return { username, password: createHmac('sha1', secret!).update(username).digest('base64') };
  };
  const restUser = user ?? 'icelab';
  return {
    kind: 'external',
    url: Object.values(endpoints)[0]!.url,
    endpoints,
    ...(env.ICELAB_TURN_CA ? { ca: env.ICELAB_TURN_CA } : {}),
    credentials: () => (secret ? rest(restUser, 3600) : { username: user!, password: password! }),
    otherCredentials: () => (secret ? rest(`${restUser}-other`, 3600) : null),
    expiredCredentials: () => (secret ? rest(restUser, -3600) : null),
    wrongPassword: () => ({ username: secret ? rest(restUser, 3600).username : user!, password: 'icelab-wrong-password' }),
    denies: parseRanges(env.ICELAB_TURN_DENIES, 'ICELAB_TURN_DENIES'),
    exec: (argv, o) => run(argv, o),
    clientHost: null,
  };
}
