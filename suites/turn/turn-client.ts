import { fileURLToPath } from 'node:url';
import { LabError } from '../../lab/topology/errors.ts';
import { inRange, type DeniedRange, type TurnCredentials, type TurnTarget, type TurnTransport } from '../../lab/turn/target.ts';

/** The probe (turn-probe.mjs) runs as its own process, so it can start inside a lab host. */
const PROBE = fileURLToPath(new URL('./turn-probe.mjs', import.meta.url));

export interface ProbeRun<T> {
  result: T;
  /** The client's own account of every request and answer (attached to the report). */
  transcript: string;
}

/** Runs one case of the TURN probe against the target over `transport`. */
export async function probe<T>(target: TurnTarget, transport: TurnTransport, name: string, opts: { auth?: TurnCredentials | null; params?: unknown } = {}): Promise<ProbeRun<T>> {
  const ep = target.endpoints[transport];
  if (!ep) throw new LabError('ERR_TURN_TARGET', `the TURN target has no ${transport} endpoint`, { hint: 'add one to ICELAB_TURN_URL' });
  const server = { host: ep.host, port: ep.port, transport, ...(transport === 'tls' ? { ca: target.ca, servername: target.servername ?? ep.host } : {}) };
  const input = { server, auth: opts.auth === undefined ? target.credentials() : opts.auth, case: name, params: opts.params ?? {} };
  const r = await target.exec([process.execPath, PROBE, JSON.stringify(input)], { timeoutMs: 30_000 });
  let out: { ok: boolean; result?: T; error?: string; transcript: string[] };
  try {
    out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '');
  } catch {
    throw new LabError('ERR_TURN_PROBE', `the TURN probe (${name} over ${transport}) exited ${r.code} without a result: ${(r.stderr || r.stdout).trim().slice(0, 500)}`, {
      hint: 'run it by hand: node suites/turn/turn-probe.mjs \'<json>\' inside the client host',
    });
  }
  const transcript = [`# ${name} over ${transport} to ${ep.url}${target.clientHost ? ` from lab host ${target.clientHost}` : ''}`, ...out.transcript].join('\n');
  if (!out.ok) throw Object.assign(new Error(`TURN probe ${name} over ${transport}: ${out.error}\n${transcript}`), { transcript });
  return { result: out.result as T, transcript };
}

/** coturn's own load client: two allocations relaying to each other (-y), a few messages each way. */
export async function uclient(target: TurnTarget, transport: TurnTransport): Promise<{ ok: boolean; summary: string; output: string }> {
  const ep = target.endpoints[transport]!;
  const cred = target.credentials();
  // TLS is -t -S (-S alone is DTLS). A lab name resolves through the lab host's /etc/hosts.
  const flags = { udp: [], tcp: ['-t'], tls: ['-t', '-S', ...(target.ca ? ['-E', target.ca] : [])] }[transport];
  const argv = ['turnutils_uclient', '-y', '-c', '-n', '5', '-z', '5', ...flags, '-p', String(ep.port), '-u', cred.username, '-w', cred.password, ep.host];
  const r = await target.exec(['timeout', '40', ...argv], { timeoutMs: 45_000 });
  const output = `$ ${argv.join(' ')}\n# exit ${r.code}\n${r.stdout}${r.stderr}`;
  const sent = /tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\s*$/m.exec(r.stdout);
  const lost = /Total lost packets (\d+) \(([\d.]+)%\)/.exec(r.stdout)?.[0] ?? '';
  const recv = Number(sent?.[2] ?? 0);
  return { ok: r.code === 0 && recv > 0, summary: `exit ${r.code}, sent ${sent?.[1] ?? 0}, received ${recv}${lost ? `, ${lost}` : ''}`, output };
}

/**
 * Relay peers a TURN deployment should refuse (SSRF targets and internal networks). The brief of
 * issue 4: loopback, 0.0.0.0/8, link-local, cloud metadata, private and CGNAT ranges. Only
 * CreatePermission is sent for them: no packet ever goes to these addresses.
 */
export const PEER_PROBES = [
  { name: 'loopback', address: '127.0.0.1' },
  { name: 'this network 0.0.0.0/8', address: '0.1.2.3' },
  { name: 'link-local 169.254.0.0/16', address: '169.254.1.1' },
  { name: 'cloud metadata 169.254.169.254', address: '169.254.169.254' },
  { name: 'private 10.0.0.0/8', address: '10.1.2.3' },
  { name: 'private 172.16.0.0/12', address: '172.16.1.2' },
  { name: 'private 192.168.0.0/16', address: '192.168.1.2' },
  { name: 'CGNAT 100.64.0.0/10', address: '100.64.1.2' },
] as const;

export interface PeerCheck {
  name: string;
  address: string;
  /** The claimed denied range the address falls in, or null. */
  claimed: DeniedRange | null;
  /** CreatePermission's answer: 0 = allowed. */
  code: number;
  verdict: 'refused' | 'allowed' | `error ${number}`;
  /** Allowed although the server claims to deny it: a security finding. */
  finding: boolean;
}

/** Ranges claimed beyond the fixed probes get a probe of their own (their first address + 1). */
export function peerProbes(denies: readonly DeniedRange[]): { name: string; address: string }[] {
  const extra = denies
    .filter((r) => !PEER_PROBES.some((p) => inRange(p.address, r)))
    .map((r) => {
      const n = r.first.split('.').map(Number);
      n[3] = Math.min(n[3]! + 1, 255);
      return { name: `claimed ${r.spec}`, address: n.join('.') };
    });
  return [...PEER_PROBES, ...extra];
}

/**
 * Asks the server for a permission to each probe address from one allocation. The server's own
 * relayed address is asked first as the control: refusing it too would mean "refuses everything".
 */
export async function checkPeers(target: TurnTarget, transport: TurnTransport = 'udp'): Promise<{ control: number; checks: PeerCheck[]; transcript: string }> {
  const probes = peerProbes(target.denies);
  const r = await probe<{ relayed: string; codes: Record<string, number> }>(target, transport, 'peers', { params: { peers: probes.map((p) => p.address) } });
  const relayedIp = r.result.relayed.split(':')[0]!;
  const checks = probes.map((p): PeerCheck => {
    const code = r.result.codes[p.address] ?? -1;
    const claimed = target.denies.find((d) => inRange(p.address, d)) ?? null;
    const verdict = code === 0 ? 'allowed' : code === 403 ? 'refused' : (`error ${code}` as const);
    return { ...p, claimed, code, verdict, finding: claimed !== null && code === 0 };
  });
  return { control: r.result.codes[relayedIp] ?? -1, checks, transcript: r.transcript };
}
