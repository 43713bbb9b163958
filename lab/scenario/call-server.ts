/**
 * The call server of a lab that is up (`icelab connect --lab`): one process per lab that keeps its
 * browsers and their call pages open between commands, so a repeated call costs the call, not a
 * browser launch (Firefox takes ≈3 s to start here). A command sends the call; the server runs it
 * as `runCall` does anywhere (evidence into the command's folder) and answers with the result.
 *
 * It listens on a Unix socket in the lab's temp dir (mode 0700: root's only), and its command line
 * names that dir: the lab's teardown (`icelab down`, or the next run after a crash) kills it, and its
 * browsers die with the namespaces. It ends by itself once its lab or its socket is gone, and a
 * command running other code (an edit, a new build) replaces it.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer, request as httpRequest, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { BrowserFleet, EngineUnavailableError } from '../browsers/fleet.ts';
import type { StartedLab } from '../lab.ts';
import { endedOf } from '../services/services.ts';
import { logTail } from '../services/ready.ts';
import { LabError } from '../topology/errors.ts';
import { runCall, type CallOrigin, type CallResult, type CallSpec } from './call.ts';

/** How long a command waits for a server it started to answer (the server loads Playwright first). */
const SERVER_START_MS = 15_000;
/** How often the server checks that its lab and its socket are still there. */
const SELF_CHECK_MS = 2000;

type ServerLab = Pick<StartedLab, 'id' | 'dir'>;
const serverDir = (lab: ServerLab) => join(lab.dir, 'call-server');
export const serverSocket = (lab: ServerLab): string => join(serverDir(lab), 'server.sock');
const serverLog = (lab: ServerLab) => join(serverDir(lab), 'server.log');

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
/** What `GET /` answers: who the server is, and the code it runs (codeStamp). */
interface ServerInfo {
  pid: number;
  code: string;
}

/**
 * The code this process runs: the build's stamp, or from a checkout's sources the newest source
 * file's time (bin/icelab.js's own rule). A server whose stamp differs runs older code.
 */
function codeStamp(): string {
  const root = new URL('../../', import.meta.url);
  if (fileURLToPath(import.meta.url).endsWith('.js')) return String(statSync(new URL('.built', root)).mtimeMs);
  const files = readdirSync(new URL('lab/', root), { recursive: true, encoding: 'utf8' }).filter((f) => /\.(ts|c?js)$/.test(f) && !f.endsWith('.test.ts'));
  return String(Math.max(...files.map((f) => statSync(new URL(`lab/${f}`, root)).mtimeMs)));
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
  return { code: 'ERR_CALL_SERVER', message: `the call server failed: ${(e as Error).message}`, hint: 'see call-server/server.log in the lab\'s temp dir' };
}
function fromWire(w: WireError): LabError {
  if (w.code === 'ERR_ENGINE_UNAVAILABLE' && w.engine && w.reason) return new EngineUnavailableError(w.engine, w.reason, w.hint ?? '');
  return new LabError(w.code, w.message, w.hint ? { hint: w.hint } : {});
}

/** One request over the socket: the JSON answer, or the error the server sent. No timeout: a server that dies closes the socket. */
function ask<T>(socket: string, path: string, body?: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ socketPath: socket, path, method: body === undefined ? 'GET' : 'POST' }, (res) => {
      text(res)
        .then((answer) => {
          const parsed = JSON.parse(answer) as T & { error?: WireError };
          if (res.statusCode === 200) resolve(parsed);
          else reject(fromWire(parsed.error ?? { code: 'ERR_CALL_SERVER', message: `the call server answered ${res.statusCode}` }));
        })
        .catch(reject);
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** The server on the socket, if one answers within a second. */
function serverOn(socket: string): Promise<ServerInfo | null> {
  if (!existsSync(socket)) return Promise.resolve(null);
  return Promise.race([ask<ServerInfo>(socket, '/').catch(() => null), sleep(1000).then(() => null)]);
}

/** A lab's call server, as a command uses it. */
export interface CallServer {
  call(spec: CallSpec, dir: string, origin: CallOrigin): Promise<ServedCall>;
}

/** The lab's call server, started when none answers, replaced when it runs other code than this command. */
export async function callServer(lab: ServerLab): Promise<CallServer> {
  const socket = serverSocket(lab);
  const running = await serverOn(socket);
  const current = running?.code === codeStamp();
  if (running && !current) await stopServer(running.pid);
  if (!current) await untilAnswering(lab, socket, spawnServer(lab, socket));
  return { call: (spec, dir, origin) => callOn(lab, socket, { spec, dir, origin }) };
}

/** One call on the server; a server that went away mid-call is named, with where to look. */
function callOn(lab: ServerLab, socket: string, request: CallRequest): Promise<ServedCall> {
  return ask<ServedCall>(socket, '/call', request).catch((e: Error) => {
    if (e instanceof LabError) throw e;
    throw new LabError('ERR_CALL_SERVER', `the call server of lab "${lab.id}" stopped answering: ${e.message}`, {
      hint: `see ${serverLog(lab)}; was the lab taken down? (npx icelab status)`,
    });
  });
}

/** SIGTERM (the server closes its browsers), SIGKILL if it is still there after 5 s. */
async function stopServer(pid: number): Promise<void> {
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  process.kill(pid, 'SIGTERM');
  for (const end = Date.now() + 5000; alive() && Date.now() < end; ) await sleep(50);
  if (alive()) process.kill(pid, 'SIGKILL');
}

/** Spawns the server detached (it outlives this command), its output in a fresh log; resolves how it ended, if it does. */
function spawnServer(lab: ServerLab, socket: string): Promise<string> {
  mkdirSync(serverDir(lab), { recursive: true, mode: 0o700 });
  const log = openSync(serverLog(lab), 'w');
  const entry = fileURLToPath(import.meta.url);
  // From a checkout's sources the server runs through tsx, as the CLI does; an installed package runs its build.
  const loader = entry.endsWith('.ts') ? ['--import', import.meta.resolve('tsx')] : [];
  const child = spawn(process.execPath, [...loader, entry, lab.id, socket], { detached: true, cwd: lab.dir, stdio: ['ignore', log, log] });
  closeSync(log);
  child.unref();
  return endedOf(child);
}

/** Waits until the server answers; an error with its log's last lines when it ended or took too long. */
async function untilAnswering(lab: ServerLab, socket: string, ended: Promise<string>): Promise<void> {
  let how: string | null = null;
  void ended.then((h) => (how = h));
  for (const deadline = Date.now() + SERVER_START_MS; !(await serverOn(socket)); await sleep(50)) {
    if (how === null && Date.now() < deadline) continue;
    const logFile = serverLog(lab);
    const why = how ?? `did not answer in ${SERVER_START_MS} ms`;
    throw new LabError('ERR_CALL_SERVER', `the call server of lab "${lab.id}" ${why}; last lines of ${logFile}:\n${logTail(logFile, 5)}`, {
      hint: `see ${logFile}; connect without --lab makes a lab of its own`,
    });
  }
}

/**
 * The server: one fleet for the lab's life; each call runs as runCall runs it, calls side by side.
 * A browser that crashed is launched again by the next call (BrowserFleet forgets a disconnected one).
 */
export async function serve(lab: StartedLab, socket: string): Promise<Server | null> {
  const fleet = new BrowserFleet(lab);
  const code = codeStamp();
  let inFlight = 0;
  const reply = (res: ServerResponse, status: number, body: unknown) =>
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  const http = createServer((req, res) => {
    if (req.url === '/') return reply(res, 200, { pid: process.pid, code } satisfies ServerInfo);
    if (req.url !== '/call' || req.method !== 'POST') {
      return reply(res, 404, { error: { code: 'ERR_CALL_SERVER', message: `no such request: ${req.method} ${req.url}` } });
    }
    inFlight++;
    text(req)
      .then((body) => serveCall(lab, fleet, JSON.parse(body) as CallRequest))
      .then((served) => reply(res, 200, served), (e: unknown) => reply(res, 500, { error: toWire(e) }))
      .catch((e: unknown) => console.error(`${new Date().toISOString()} could not answer: ${String(e)}`))
      .finally(() => inFlight--);
  });
  http.on('error', (e) => console.error(`${new Date().toISOString()} ${e.message}`));
  if (!(await listen(http, socket))) return null;
  const stop = async () => {
    await fleet.close();
    http.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  // Gone with its lab (a teardown that began while this server started) or replaced by another server: end when idle.
  const ino = statSync(socket).ino;
  const gone = () => !existsSync(lab.dir) || statSync(socket, { throwIfNoEntry: false })?.ino !== ino;
  setInterval(() => inFlight === 0 && gone() && void stop(), SELF_CHECK_MS).unref();
  console.log(`${new Date().toISOString()} call server of lab "${lab.id}" (pid ${process.pid}) on ${socket}`);
  return http;
}

async function serveCall(lab: StartedLab, fleet: BrowserFleet, { spec, dir, origin }: CallRequest): Promise<ServedCall> {
  const launchMs: Record<string, number> = {};
  const ready = async (engine: CallSpec['a']['engine'], host: string) => {
    const t0 = performance.now();
    await fleet.browser(engine, host).catch(() => undefined); // the call reports a failed launch
    launchMs[`${engine}@${host}`] = Math.round(performance.now() - t0);
  };
  await Promise.all([ready(spec.a.engine, spec.a.host), ready(spec.b.engine, spec.b.host)]);
  const result = await runCall(lab, fleet, spec, dir, origin);
  const ice = spec.ice.join(',') || 'no ICE servers';
  console.log(`${new Date().toISOString()} ${spec.a.engine}@${spec.a.host} → ${spec.b.engine}@${spec.b.host} (${ice}): ${result.outcome}, ${result.observed}`);
  return { result, launchMs };
}

/** Listens on the socket; false when another server answers there. A socket no server answers on is a crashed server's, and is replaced. */
async function listen(http: Server, socket: string): Promise<boolean> {
  if (await serverOn(socket)) return false;
  rmSync(socket, { force: true });
  return new Promise<boolean>((resolve, reject) => {
    const failed = (e: NodeJS.ErrnoException) => (e.code === 'EADDRINUSE' ? resolve(false) : reject(e));
    http.once('error', failed);
    http.listen(socket, () => {
      http.off('error', failed);
      resolve(true);
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [id, socket] = process.argv.slice(2);
  // Playwright makes browser profiles in the temp dir: inside the lab's, they go with the lab.
  const tmp = join(serverDir({ id: id!, dir: process.cwd() }), 'tmp');
  mkdirSync(tmp, { recursive: true });
  process.env.TMPDIR = tmp;
  process.on('unhandledRejection', (e) => console.error(`${new Date().toISOString()} ${String(e)}`));
  const { openLab } = await import('../lab.ts');
  if (!(await serve(openLab(id!), socket!))) process.exit(0);
}
