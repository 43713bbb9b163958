import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { StartedLab } from '../lab.ts';
import { LabError } from '../topology/errors.ts';
import type { Background, TurnUnderTest } from './run.ts';
import type { BackgroundSample } from './summary.ts';

const CLIENT = fileURLToPath(new URL('./allocations.js', import.meta.url));

export interface BackgroundOptions {
  /** The lab host the client runs in. */
  host: string;
  allocations: number;
  /** ChannelData packets per second each way per allocation pair, of `bytes` bytes. */
  pps?: number;
  bytes?: number;
  /** How long the client may run at most (it is stopped before that when the load ends). */
  maxS?: number;
  /** How long to wait for the allocations to be made before the calls start. */
  readyTimeoutMs?: number;
  log?: (s: string) => void;
  signal?: AbortSignal;
}

/** `turn:<ip>:<port>?transport=udp` of the server's TURN/UDP entry: where the protocol client goes. */
export function udpEndpoint(turn: TurnUnderTest): { host: string; port: number; username: string; password: string } {
  const s = turn.iceServers('turn-udp')[0];
  const m = s ? /^turn:([^:?]+):(\d+)/.exec(s.urls) : null;
  if (!s || !m || s.username === undefined || s.credential === undefined) {
    throw new LabError('ERR_LOAD_BACKGROUND', `the TURN server ${turn.name} has no TURN/UDP entry with credentials (got ${s?.urls ?? 'none'})`, { hint: 'background allocations need turn:<ip>:<port>?transport=udp and a username/credential' });
  }
  return { host: m[1]!, port: Number(m[2]), username: s.username, password: s.credential };
}

/**
 * Starts the background allocation client in a lab host and resolves once its allocations are made
 * (or it stopped making progress for 5 s, or `readyTimeoutMs` passed): the calls then run beside them.
 */
export async function startBackground(lab: StartedLab, turn: TurnUnderTest, o: BackgroundOptions): Promise<Background> {
  const ep = udpEndpoint(turn);
  const input = { server: { host: ep.host, port: ep.port }, auth: { username: ep.username, password: ep.password }, allocations: o.allocations, pps: o.pps ?? 5, bytes: o.bytes ?? 160, maxS: o.maxS ?? 3600 };
  const child = lab.network.spawn(o.host, [process.execPath, CLIENT, JSON.stringify(input)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let latest: BackgroundSample | null = null;
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      latest = JSON.parse(line) as BackgroundSample;
    } catch {
      // a stray line: only JSON samples count
    }
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  await waitReady(o, () => latest, exited);
  if (child.exitCode !== null) throw new LabError('ERR_LOAD_BACKGROUND', `the background allocation client in lab host "${o.host}" exited with code ${child.exitCode}: ${stderr.trim() || 'no output'}`, { hint: `run it by hand: icelab exec ${o.host} -- node ${CLIENT} '<json>'` });
  o.log?.(`background: ${latest === null ? 0 : (latest as BackgroundSample).active} of ${o.allocations} allocations made`);
  return { latest: () => latest, stop: () => stopClient(child, exited).then(() => latest) };
}

async function waitReady(o: BackgroundOptions, latest: () => BackgroundSample | null, exited: Promise<void>): Promise<void> {
  const end = Date.now() + (o.readyTimeoutMs ?? 120_000);
  let done = false;
  void exited.then(() => (done = true));
  let best = -1;
  let bestAt = Date.now();
  while (!done && !o.signal?.aborted && Date.now() < end) {
    const s = latest();
    const made = s ? s.active + Object.values(s.failed).reduce((a, b) => a + b, 0) : 0;
    if (made >= o.allocations) return;
    if (made > best) [best, bestAt] = [made, Date.now()];
    else if (Date.now() - bestAt > 5000) return;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** stdin closed = stop: the client deletes its allocations (a second at most), then exits; killed after 5 s. */
async function stopClient(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null) return;
  child.stdin!.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}
