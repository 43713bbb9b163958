/**
 * The call server of a lab that is up (`icelab connect --lab`): one process per lab that keeps its
 * browsers and their call pages open between commands, so a repeated call costs the call, not a
 * browser launch (Firefox takes ≈3 s to start here). A command sends the call; the server runs it
 * as `runCall` does anywhere (evidence into the command's folder) and answers with the result.
 *
 * It listens on a Unix socket in the lab's temp dir, which its command line names: the lab's
 * teardown (`icelab down`, or the next run after a crash) kills it, and its browsers die with the
 * namespaces. It launches each engine@host on the first call that needs it.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { BrowserFleet, EngineUnavailableError } from '../browsers/fleet.ts';
import type { StartedLab } from '../lab.ts';
import { LabError } from '../topology/errors.ts';
import { runCall, type CallOrigin, type CallResult, type CallSpec } from './call.ts';

/** How long a command waits for a server it started to answer (the server loads Playwright first). */
const SERVER_START_MS = 15_000;
/** A call's longest wait is its connect timeout; a first call also launches browsers (30 s each at most). */
const CALL_MS = 120_000;

export const serverSocket = (lab: Pick<StartedLab, 'dir'>): string => join(lab.dir, 'call-server', 'server.sock');

/** What the server answers for a call: its result, and how long each browser took to be ready for it. */
export interface ServedCall {
  result: CallResult;
  /** Per engine@host: ms the call waited for the browser (a launch on first use, else about 0). */
  launchMs: Record<string, number>;
}
interface CallRequest {
  spec: CallSpec;
  dir: string;
  origin: CallOrigin;
}

/** An error as it crosses the socket, and back into the LabError (or EngineUnavailableError) it was. */
interface WireError {
  code: string;
  message: string;
  hint?: string | undefined;
  engine?: EngineUnavailableError['engine'];
  reason?: string;
}
function toWire(e: unknown): WireError {
  if (e instanceof EngineUnavailableError) return { code: e.code, message: e.message, hint: e.hint, engine: e.engine, reason: e.reason };
  if (e instanceof LabError) return { code: e.code, message: e.message, hint: e.hint };
  return { code: 'ERR_CALL_SERVER', message: (e as Error).stack ?? String(e) };
}
function fromWire(w: WireError): LabError {
  if (w.code === 'ERR_ENGINE_UNAVAILABLE' && w.engine && w.reason) return new EngineUnavailableError(w.engine, w.reason, w.hint ?? '');
  return new LabError(w.code, w.message, w.hint ? { hint: w.hint } : {});
}

/** One request over the socket: the JSON answer, or the error the server sent. */
function ask<T>(socket: string, path: string, body: unknown, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ socketPath: socket, path, method: body === undefined ? 'GET' : 'POST', timeout: timeoutMs }, (res) => {
      readBody(res).then((text) => {
        const parsed = JSON.parse(text) as T & { error?: WireError };
        if (res.statusCode === 200) resolve(parsed);
        else reject(fromWire(parsed.error ?? { code: 'ERR_CALL_SERVER', message: `status ${res.statusCode}` }));
      }, reject);
    });
    req.on('timeout', () => req.destroy(new LabError('ERR_CALL_SERVER', `no answer from the lab's call server in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}
function readBody(stream: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => (text += d));
    stream.on('end', () => resolve(text));
    stream.on('error', reject);
  });
}

const answers = (socket: string): Promise<boolean> => (existsSync(socket) ? ask(socket, '/', undefined, 2000).then(() => true, () => false) : Promise.resolve(false));

/** The lab's call server, started when none answers yet. */
export async function callServer(lab: Pick<StartedLab, 'id' | 'dir'>): Promise<{ call(spec: CallSpec, dir: string, origin: CallOrigin): Promise<ServedCall> }> {
  const socket = serverSocket(lab);
  if (!(await answers(socket))) await startServer(lab, socket);
  return { call: (spec, dir, origin) => ask<ServedCall>(socket, '/call', { spec, dir, origin } satisfies CallRequest, CALL_MS) };
}

/** Spawns the server detached (it outlives this command) and waits until it answers. */
async function startServer(lab: Pick<StartedLab, 'id' | 'dir'>, socket: string): Promise<void> {
  const dir = join(lab.dir, 'call-server');
  const tmp = join(dir, 'tmp');
  mkdirSync(tmp, { recursive: true });
  const logFile = join(dir, 'server.log');
  const log = openSync(logFile, 'a');
  const entry = fileURLToPath(import.meta.url);
  // From a checkout's sources the server runs through tsx, as the CLI does; an installed package runs its build.
  const loader = entry.endsWith('.ts') ? ['--import', import.meta.resolve('tsx')] : [];
  // Playwright makes browser profiles in TMPDIR: inside the lab's dir, they go with the lab.
  const child = spawn(process.execPath, [...loader, entry, lab.id, socket], { detached: true, stdio: ['ignore', log, log], env: { ...process.env, TMPDIR: tmp } });
  closeSync(log);
  child.unref();
  let exited: number | null = null;
  child.once('exit', (code) => (exited = code ?? 1));
  const deadline = Date.now() + SERVER_START_MS;
  while (!(await answers(socket))) {
    if (exited !== null || Date.now() > deadline) {
      const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').trim().split('\n').slice(-5).join('\n') : '';
      const why = exited !== null ? `exited (code ${exited})` : `did not answer in ${SERVER_START_MS} ms`;
      throw new LabError('ERR_CALL_SERVER', `the call server of lab "${lab.id}" ${why}${tail ? `:\n${tail}` : ''}`, { hint: `see ${logFile}; connect without --lab makes a lab of its own` });
    }
    await sleep(50);
  }
}

/** The server: one fleet for the lab's life; each call is run as runCall runs it, concurrent calls side by side. */
export async function serve(lab: StartedLab, socket: string): Promise<Server> {
  const fleet = new BrowserFleet(lab);
  const reply = (res: ServerResponse, status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  const call = async ({ spec, dir, origin }: CallRequest): Promise<ServedCall> => {
    const launchMs: Record<string, number> = {};
    await Promise.all(
      [spec.a, spec.b].map(async (p) => {
        const t0 = performance.now();
        await fleet.browser(p.engine, p.host).catch(() => undefined); // the call reports a failed launch
        launchMs[`${p.engine}@${p.host}`] = Math.round(performance.now() - t0);
      }),
    );
    const result = await runCall(lab, fleet, spec, dir, origin);
    console.log(`${new Date().toISOString()} ${spec.a.engine}@${spec.a.host} → ${spec.b.engine}@${spec.b.host} (${spec.ice.join(',') || 'no ICE servers'}): ${result.outcome}, ${result.observed}`);
    return { result, launchMs };
  };
  const http = createServer((req, res) => {
    if (req.url === '/') return reply(res, 200, { pid: process.pid });
    if (req.url !== '/call' || req.method !== 'POST') return reply(res, 404, { error: { code: 'ERR_CALL_SERVER', message: `no such request: ${req.method} ${req.url}` } });
    readBody(req)
      .then((text) => call(JSON.parse(text) as CallRequest))
      .then(
        (served) => reply(res, 200, served),
        (e: unknown) => reply(res, 500, { error: toWire(e) }),
      );
  });
  await listen(http, socket);
  console.log(`${new Date().toISOString()} call server of lab "${lab.id}" (pid ${process.pid}) on ${socket}`);
  return http;
}

/** Listens on the socket. One no server answers on is a crashed server's, and is replaced; another server answering: this one ends. */
async function listen(http: Server, socket: string): Promise<void> {
  if (existsSync(socket)) {
    if (await answers(socket)) process.exit(0);
    rmSync(socket, { force: true });
  }
  await new Promise<void>((resolve, reject) => {
    http.once('error', (e: NodeJS.ErrnoException) => (e.code === 'EADDRINUSE' ? process.exit(0) : reject(e)));
    http.listen(socket, resolve);
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [id, socket] = process.argv.slice(2);
  const { openLab } = await import('../lab.ts');
  await serve(openLab(id!), socket!);
}
