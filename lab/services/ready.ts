import { existsSync, readFileSync } from 'node:fs';
import { LabError } from '../topology/errors.ts';
import type { PlannedReady, PlannedService } from '../topology/topology.ts';
import { run } from '../network/run.ts';
import { procNetAddress } from '../turn/coturn.ts';
import { setTimeout as sleep } from 'node:timers/promises';

/** A started process of a service: its pid (inside the service's namespace) and how it ended, once it has. */
export interface Running {
  pid: number;
  /** Resolves with how the process ended ("exited with code 1", "was killed by SIGKILL"). */
  ended: Promise<string>;
  /** Ends whatever watches for `ended` (a poll, for a container's process); called once the wait is over. */
  unwatch(): void;
}

const POLL_MS = 50;
const LOG_LINES = 15;

/** The last lines of a log, for an error message. */
export function logTail(logFile: string, lines = LOG_LINES): string {
  const text = existsSync(logFile) ? readFileSync(logFile, 'utf8').trimEnd() : '';
  return text ? text.split('\n').slice(-lines).map((l) => `    ${l}`).join('\n') : '    (the log is empty)';
}

/** How a TCP port is listened on in the namespace of `pid`: reachable from other hosts, on loopback only, or not at all. */
export function listening(pid: number, port: number): 'reachable' | 'loopback' | 'no' {
  const loopback = new Set([procNetAddress('127.0.0.1', port), `00000000000000000000000001000000:${procNetAddress('0.0.0.0', port).split(':')[1]}`]);
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let found: 'reachable' | 'loopback' | 'no' = 'no';
  for (const table of ['tcp', 'tcp6']) {
    let text = '';
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (state !== '0A' || !local?.endsWith(hex)) continue;
      if (!loopback.has(local)) return 'reachable';
      found = 'loopback';
    }
  }
  return found;
}

/** What the wait saw last, for the timeout's message. */
type Check = { ready: true } | { ready: false; seen: string };

/** One look at whether a service is up. HTTP is asked at the service's own address, as other lab hosts would reach it. */
async function check(ns: string, svc: PlannedService, ready: PlannedReady, pid: number, logFile: string): Promise<Check> {
  if (ready.kind === 'log') {
    const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
    return log.includes(ready.text) ? { ready: true } : { ready: false, seen: `"${ready.text}" not in the log yet` };
  }
  const l = listening(pid, ready.port);
  if (l === 'no') return { ready: false, seen: `nothing listens on TCP port ${ready.port}` };
  if (l === 'loopback') return { ready: false, seen: `TCP port ${ready.port} is bound to loopback only, which no other lab host reaches: listen on 0.0.0.0 (or $ICELAB_SERVICE_IP)` };
  if (ready.kind === 'tcp') return { ready: true };
  const url = `http://${svc.ip}:${ready.port}${ready.path}`;
  const r = await run(['nsenter', `--net=/run/netns/${ns}`, 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '2', url]);
  const status = Number(r.stdout.trim());
  if (status > 0 && status < 400) return { ready: true };
  return { ready: false, seen: status > 0 ? `GET ${url} answered ${status}` : `GET ${url} got no answer (${r.stderr.trim() || `curl exit ${r.code}`})` };
}

const awaited = (r: PlannedReady): string =>
  r.kind === 'log' ? `the log line "${r.text}"` : r.kind === 'tcp' ? `a listener on TCP port ${r.port}` : `GET ${r.path} on port ${r.port} answering below 400`;

/** Waits until the service is up; a process that ends first, or the timeout, is an error naming the service with its last log lines. */
/** A wait given up because another service of the lab failed first (that failure is the one reported). */
export class AbortedError extends LabError {
  constructor(service: string) {
    super('ERR_SERVICE_ABORTED', `service "${service}" was not awaited further: another service failed`, { context: { service } });
  }
}

export async function waitReady(ns: string, svc: PlannedService, proc: Running, logFile: string, ready: PlannedReady, signal: AbortSignal): Promise<void> {
  try {
    await waitUntilUp(ns, svc, proc, logFile, ready, signal);
  } finally {
    proc.unwatch();
  }
}

async function waitUntilUp(ns: string, svc: PlannedService, proc: Running, logFile: string, ready: PlannedReady, signal: AbortSignal): Promise<void> {
  let ended: string | null = null;
  void proc.ended.then((how) => (ended = how));
  const t0 = Date.now();
  let last: Check = { ready: false, seen: 'nothing checked yet' };
  while (Date.now() - t0 < ready.timeoutMs) {
    if (ended !== null) throw endedError(svc, ended, logFile, ready);
    if (signal.aborted) throw new AbortedError(svc.name);
    last = await check(ns, svc, ready, proc.pid, logFile);
    if (last.ready) return;
    await sleep(POLL_MS);
  }
  if (ended !== null) throw endedError(svc, ended, logFile, ready);
  throw new LabError('ERR_SERVICE_NOT_READY', `service "${svc.name}" was not ready within ${ready.timeoutMs} ms: awaited ${awaited(ready)}; last seen: ${last.ready ? 'ready' : last.seen}\n  last lines of ${logFile}:\n${logTail(logFile)}`, {
    hint: `make it ${awaited(ready)} (other lab hosts reach it at ${svc.ip}), or raise ready.timeoutMs`,
    context: { service: svc.name, log: logFile },
  });
}

const PORT_IN_USE = /EADDRINUSE|address already in use/i;

/** A service that ended before it was up; a bind that failed is named as such. */
export function endedError(svc: PlannedService, how: string, logFile: string, ready: PlannedReady): LabError {
  const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
  const inUse = log.split('\n').find((l) => PORT_IN_USE.test(l));
  const tail = `\n  last lines of ${logFile}:\n${logTail(logFile)}`;
  if (inUse) {
    return new LabError('ERR_SERVICE_PORT_IN_USE', `service "${svc.name}" ${how} before it was ready: a port it binds is already bound in its host (${inUse.trim()})${tail}`, {
      hint: `each service has a host of its own, so the port is taken by the service itself${svc.tls ? ' or by the lab\'s TLS listener on 443' : ''}: bind every server to a port of its own`,
      context: { service: svc.name, log: logFile },
    });
  }
  return new LabError('ERR_SERVICE_EXITED', `service "${svc.name}" ${how} before it was ready (awaited ${awaited(ready)})${tail}`, {
    hint: `fix what the log says; a service must stay in the foreground (its whole log: ${logFile})`,
    context: { service: svc.name, log: logFile },
  });
}
