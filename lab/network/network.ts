import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync, renameSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { LabError } from '../topology/errors.ts';
import type { Link } from '../topology/nat.ts';
import type { Topology } from '../topology/topology.ts';
import { LAB_ID, NETNS_DIR, PREFIX, STATE_ROOT, labIdOfNamespace, nsName } from './names.ts';
import { linkCommands, renderBuild, uplinks } from './render.ts';
import { run, runScript, runScriptSync, type RunResult } from './run.ts';

/** Who owns a lab: a live process (library use), or nobody once `icelab up` has detached it. */
interface Owner {
  pid: number;
  start: string;
}
export interface LabState {
  id: string;
  owner: Owner | null;
  /** False until the lab is fully up: an incomplete lab whose owner died is a crash leftover. */
  complete: boolean;
  createdAt: string;
  dir: string;
  topology: Topology;
  /** Processes outside the lab's namespaces that belong to it (e.g. browser bridges). */
  pids: Owner[];
  /** Written by upper layers (TURN credentials, …) so a later CLI call can use the lab. */
  services: Record<string, unknown>;
}

export const stateDir = (id: string) => join(STATE_ROOT, id);
export const tempDir = (id: string) => `/tmp/${PREFIX}-${id}`;

export function randomLabId(): string {
  return `t${randomBytes(4).toString('hex').slice(0, 7)}`;
}

function processStart(pid: number): string | null {
  try {
    // Field 22 of /proc/<pid>/stat is the start time: it tells a live owner from a reused pid.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}
const alive = (o: Owner) => processStart(o.pid) === o.start;
const self = (): Owner => ({ pid: process.pid, start: processStart(process.pid) ?? '' });

export function readState(id: string): LabState | null {
  try {
    return JSON.parse(readFileSync(join(stateDir(id), 'state.json'), 'utf8')) as LabState;
  } catch {
    return null;
  }
}
function writeState(s: LabState): void {
  mkdirSync(stateDir(s.id), { recursive: true });
  const file = join(stateDir(s.id), 'state.json');
  writeFileSync(`${file}.tmp`, JSON.stringify(s, null, 2));
  renameSync(`${file}.tmp`, file);
}

/** Every lab id with something left on this machine: namespaces, state or temp dir. */
export function knownLabIds(): string[] {
  const ids = new Set<string>();
  const list = (dir: string) => (existsSync(dir) ? readdirSync(dir) : []);
  for (const ns of list(NETNS_DIR)) {
    const id = labIdOfNamespace(ns);
    if (id) ids.add(id);
  }
  for (const id of list(STATE_ROOT)) if (LAB_ID.test(id)) ids.add(id);
  for (const f of list('/tmp')) {
    const m = new RegExp(`^${PREFIX}-([a-z0-9]{1,16})$`).exec(f);
    if (m) ids.add(m[1]!);
  }
  return [...ids].sort();
}

/** A lab is live while its owner runs, or once complete and detached (`icelab up`). */
export function isLive(s: LabState | null): boolean {
  if (!s) return false;
  return s.owner ? alive(s.owner) : s.complete;
}

function teardownScript(id: string, pids: Owner[]): string {
  const own = pids.filter(alive).map((p) => p.pid);
  return [
    own.length ? `kill -9 ${own.join(' ')} 2>/dev/null` : '',
    `for ns in $(ls ${NETNS_DIR} 2>/dev/null | grep '^${nsName(id, '')}'); do`,
    '  pids=$(ip netns pids "$ns" 2>/dev/null); [ -n "$pids" ] && kill -9 $pids 2>/dev/null',
    '  ip netns del "$ns" 2>/dev/null',
    'done',
    `rm -rf ${tempDir(id)} ${stateDir(id)} /etc/netns/${nsName(id, '')}*`,
    'true',
  ].join('\n');
}

/** Removes everything of one lab: processes in its namespaces, the namespaces (and their nft tables), files. */
export async function removeLab(id: string): Promise<void> {
  await run(['sh', '-s'], { input: teardownScript(id, readState(id)?.pids ?? []) });
}

/** Removes leftovers of labs whose owner died (kill -9, crash) or that never finished coming up. */
export async function removeStaleLabs(): Promise<string[]> {
  const stale = knownLabIds().filter((id) => !isLive(readState(id)));
  await Promise.all(stale.map(removeLab));
  return stale;
}

// Labs owned by this process, torn down synchronously if the process is interrupted or exits.
const owned = new Map<string, StartedNetwork>();
let handlersInstalled = false;
function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  const sweep = () => {
    for (const lab of owned.values()) lab.stopSync();
  };
  process.once('exit', sweep);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      sweep();
      process.kill(process.pid, sig);
    });
  }
}

export interface NetworkOptions {
  /** Lab id (namespace infix); random when left out. */
  id?: string;
}

/** Builds a topology on network namespaces. The caller owns the result until `detach()` or `stop()`. */
export async function startNetwork(topology: Topology, opts: NetworkOptions = {}): Promise<StartedNetwork> {
  const id = opts.id ?? randomLabId();
  if (!LAB_ID.test(id)) {
    throw new LabError('ERR_LAB_ID', `invalid lab name "${id}"`, { hint: 'use 1-16 lower-case letters or digits' });
  }
  await removeStaleLabs();
  if (knownLabIds().includes(id)) {
    throw new LabError('ERR_LAB_EXISTS', `a lab named "${id}" is already up`, {
      hint: `run \`npx icelab down --name ${id}\` first, or choose another --name`,
      context: { lab: id },
    });
  }
  const state: LabState = {
    id,
    owner: self(),
    complete: false,
    createdAt: new Date().toISOString(),
    dir: tempDir(id),
    topology,
    pids: [],
    services: {},
  };
  mkdirSync(state.dir, { recursive: true, mode: 0o755 });
  writeState(state);
  const lab = new StartedNetwork(state);
  owned.set(id, lab);
  installExitHandlers();
  try {
    await runScript(renderBuild(topology, id), 'building the lab network', { lab: id });
  } catch (e) {
    await lab.stop();
    throw e;
  }
  return lab;
}

/** Attaches to a lab that is up (a detached one, for the CLI's status/exec/down). */
export function openNetwork(id: string): StartedNetwork {
  const state = readState(id);
  if (!state || !isLive(state)) {
    throw new LabError('ERR_LAB_NOT_FOUND', `no lab named "${id}" is up`, {
      hint: 'start one with `npx icelab up`, or see `npx icelab status` for the labs that are up',
    });
  }
  return new StartedNetwork(state);
}

export class StartedNetwork implements AsyncDisposable {
  #state: LabState;
  #stopped = false;
  constructor(state: LabState) {
    this.#state = state;
  }
  get id(): string {
    return this.#state.id;
  }
  get topology(): Topology {
    return this.#state.topology;
  }
  /** The lab's own temp dir: logs, certificates, browser profiles. Removed with the lab. */
  get dir(): string {
    return this.#state.dir;
  }
  get services(): Record<string, unknown> {
    return this.#state.services;
  }
  ns(node: string): string {
    const known = [...this.topology.turn, ...this.topology.routers, ...this.topology.hosts].map((n) => n.name);
    if (!known.includes(node)) {
      throw new LabError('ERR_UNKNOWN_HOST', `no host named "${node}" in lab "${this.id}"`, {
        hint: `use one of: ${known.join(', ')}`,
        context: { lab: this.id },
      });
    }
    return nsName(this.id, node);
  }
  /** Stores data of upper layers in the lab's state. */
  setService(name: string, value: unknown): void {
    this.#state.services[name] = value;
    writeState(this.#state);
  }
  /** Registers a process outside the namespaces that must die with the lab. */
  track(pid: number): void {
    const start = processStart(pid);
    if (start) this.#state.pids.push({ pid, start });
    writeState(this.#state);
  }
  /** Marks the lab complete; `detach` also gives up ownership so it outlives this process. */
  markComplete({ detach = false } = {}): void {
    this.#state.complete = true;
    if (detach) {
      this.#state.owner = null;
      owned.delete(this.id);
    }
    writeState(this.#state);
  }

  /** Argument vector running a command inside a node's namespace (with /etc/netns/<ns>/ applied). */
  argv(node: string, command: string[]): string[] {
    return ['ip', 'netns', 'exec', this.ns(node), ...command];
  }
  exec(node: string, command: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
    return run(this.argv(node, command), opts);
  }
  spawn(node: string, command: string[], opts: SpawnOptions = {}): ChildProcess {
    const [cmd, ...args] = this.argv(node, command);
    return spawn(cmd!, args, opts);
  }

  /** Forgets every NAT mapping of a router (or all routers): the next packet gets a fresh one. */
  async flushMappings(router?: string): Promise<void> {
    const names = router ? [router] : this.topology.routers.map((r) => r.name);
    const script = names.map((n) => `nsenter --net=/run/netns/${this.ns(n)} conntrack -F 2>/dev/null || true`).join('\n');
    await runScript(script, 'flushing NAT mappings', { lab: this.id });
  }
  /** Changes (or with null removes) the impairment of a node's uplink while the lab runs. */
  async setLink(node: string, link: Link | null): Promise<void> {
    this.ns(node);
    const up = uplinks(this.topology, this.id).find((u) => u.node === node)!;
    await runScript(linkCommands(up, link).join('\n'), `changing the link of ${node}`, { lab: this.id, host: node });
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    owned.delete(this.id);
    await removeLab(this.id);
  }
  stopSync(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    owned.delete(this.id);
    runScriptSync(teardownScript(this.id, this.#state.pids));
  }
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
