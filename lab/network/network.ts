import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { LabError } from '../topology/errors.ts';
import type { Link } from '../topology/nat.ts';
import type { Topology } from '../topology/topology.ts';
import { LAB_ID, NETNS_DIR, PREFIX, STATE_ROOT, labIdOfNamespace, nsName } from './names.ts';
import { probeLinkSupport } from './link-support.ts';
import { BUILT, linkCommands, renderBuild, uplinks } from './render.ts';
import { hintFor, run, runScript, runScriptSync, type RunResult } from './run.ts';

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
  /** Docker containers of the lab (container TURN provider), recorded before they are created. */
  containers?: string[];
  /** Written by upper layers (TURN credentials, …) so a later CLI call can use the lab. */
  services: Record<string, unknown>;
}

export const stateDir = (id: string) => join(STATE_ROOT, id);
export const tempDir = (id: string) => `/tmp/${PREFIX}-${id}`;
/** `ip netns exec` bind-mounts files from here (hosts files of the lab). */
const ETC_NETNS = '/etc/netns';
const DOCKER_SOCKET = '/var/run/docker.sock';

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

const CLAIM = /^\.claim-[a-z0-9]{1,16}-(\d+)-/;
/**
 * Creates the lab's state directory with its state file in one rename, so another process never sees
 * a state directory without a state (which it would take for a crash leftover and remove), and two
 * processes starting the same lab name cannot both win. False when the name is taken.
 */
function claimState(s: LabState): boolean {
  mkdirSync(STATE_ROOT, { recursive: true });
  const tmp = join(STATE_ROOT, `.claim-${s.id}-${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(tmp);
  writeFileSync(join(tmp, 'state.json'), JSON.stringify(s, null, 2));
  try {
    renameSync(tmp, stateDir(s.id));
    return true;
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if ((e as NodeJS.ErrnoException).code === 'ENOTEMPTY' || (e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}
/** Claim directories of processes that died between creating and renaming them. */
function removeDeadClaims(): void {
  if (!existsSync(STATE_ROOT)) return;
  for (const f of readdirSync(STATE_ROOT)) {
    const m = CLAIM.exec(f);
    if (m && !existsSync(`/proc/${m[1]}`)) rmSync(join(STATE_ROOT, f), { recursive: true, force: true });
  }
}

/** Every lab id with something left on this machine: namespaces, state or temp dir. */
export function knownLabIds(): string[] {
  const ids = new Set<string>();
  const list = (dir: string) => (existsSync(dir) ? readdirSync(dir) : []);
  for (const ns of list(NETNS_DIR)) {
    const id = labIdOfNamespace(ns);
    if (id) ids.add(id);
  }
  for (const ns of list(ETC_NETNS)) {
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

/**
 * How a lab stands: `detached` (complete and owned by nobody: `icelab up`, `connect --keep`), `owned`
 * (a live process holds it: a suite, a library user), or `stale` (its owner died, or it never came up).
 */
export type LabStanding = { id: string; kind: 'detached' | 'stale' } | { id: string; kind: 'owned'; owner: { pid: number; command: string } };
export function labStanding(id: string): LabStanding {
  const s = readState(id);
  if (s?.owner && alive(s.owner)) return { id, kind: 'owned', owner: { pid: s.owner.pid, command: brief(commandLine(String(s.owner.pid))) } };
  return { id, kind: isLive(s) ? 'detached' : 'stale' };
}

function teardownScript(id: string, pids: Owner[], containers: string[] = []): string {
  const own = pids.filter(alive).map((p) => p.pid);
  // A process that entered a namespace just as its name was removed is no longer found through the
  // namespace; every lab process names the lab's temp dir in its command line (coturn's config,
  // browser profiles). "[/]" keeps grep from matching its own command line.
  const tmpPattern = `${tempDir(id)}[/]`;
  return [
    own.length ? `kill -9 ${own.join(' ')} 2>/dev/null` : '',
    `cd ${NETNS_DIR} 2>/dev/null && ns=$(ls | grep '^${nsName(id, '')}') || ns=''`,
    'if [ -n "$ns" ]; then',
    // The processes inside: their /proc/<pid>/ns/net link names the namespace inode (one find, no spawn per namespace).
    `  inodes=$(stat -L -c 'net:[%i]' $ns)`,
    `  pids=$(find /proc/[0-9]*/ns/net -maxdepth 0 -printf '%l %p\n' 2>/dev/null | grep -F "$inodes" | cut -d/ -f3)`,
    '  [ -n "$pids" ] && kill -9 $pids 2>/dev/null',
    `  printf 'netns del %s\n' $ns | ip -force -b - 2>/dev/null`,
    'fi',
    `for p in $(grep -ls '${tmpPattern}' /proc/[0-9]*/cmdline | cut -d/ -f3); do [ "$p" != "$$" ] && kill -9 "$p" 2>/dev/null; done`,
    // Only labs that made containers call docker (its CLI costs tens of ms); no reaper needed.
    containers.length ? `docker rm -f -v ${containers.join(' ')} >/dev/null 2>&1` : '',
    `rm -rf ${tempDir(id)} ${stateDir(id)} ${ETC_NETNS}/${nsName(id, '')}*`,
    'true',
  ].join('\n');
}

/** Removes everything of one lab: processes in its namespaces, the namespaces (and their nft tables), files. */
export async function removeLab(id: string): Promise<void> {
  const state = readState(id);
  await run(['sh', '-s'], { input: teardownScript(id, state?.pids ?? [], state?.containers) });
}

/** Removes leftovers of labs whose owner died (kill -9, crash) or that never finished coming up. */
export async function removeStaleLabs(): Promise<string[]> {
  removeDeadClaims();
  removeOrphanProfiles();
  const stale = knownLabIds().filter((id) => !isLive(readState(id)));
  await Promise.all(stale.map(removeLab));
  return stale;
}

/**
 * Playwright makes each browser's profile in this process's temp dir (`playwright_<engine>dev_profile-*`)
 * and removes it on close; a run killed with -9 leaves it. One no browser's command line names,
 * older than a launch takes, is such a leftover.
 */
function removeOrphanProfiles(): void {
  const dir = tmpdir();
  const profiles = readdirSync(dir).filter((f) => /^playwright_\w+dev_profile-/.test(f)).map((f) => join(dir, f));
  if (!profiles.length) return;
  const inUse = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map(commandLine).join('\n');
  for (const p of profiles) {
    const old = Date.now() - (statSync(p, { throwIfNoEntry: false })?.mtimeMs ?? Date.now()) > 60_000;
    if (old && !inUse.includes(p)) rmSync(p, { recursive: true, force: true });
  }
}

/**
 * Everything of a lab that is still on this machine, each item named: namespaces (with the nft tables
 * and processes inside), `/etc/netns` entries, the temp and state dirs, and processes anywhere whose
 * command line names the lab's temp dir (coturn, browsers). Empty once a lab is fully removed.
 */
export async function leftovers(id: string): Promise<string[]> {
  const out: string[] = [];
  const list = (dir: string) => (existsSync(dir) ? readdirSync(dir) : []);
  const prefix = nsName(id, '');
  for (const ns of list(NETNS_DIR).filter((n) => n.startsWith(prefix))) {
    out.push(`namespace ${ns}`);
    // One after the other: nsenter would otherwise show up among the namespace's processes.
    const pids = await run(['ip', 'netns', 'pids', ns]);
    const tables = await run(['nsenter', `--net=${NETNS_DIR}/${ns}`, 'nft', 'list', 'tables']);
    for (const t of tables.stdout.split('\n').filter(Boolean)) out.push(`nft ${t} in namespace ${ns}`);
    for (const pid of pids.stdout.split('\n').filter(Boolean)) out.push(`process ${pid} (${brief(commandLine(pid))}) in namespace ${ns}`);
  }
  for (const f of list(ETC_NETNS).filter((n) => n.startsWith(prefix))) out.push(`${ETC_NETNS}/${f}`);
  for (const dir of [tempDir(id), stateDir(id)]) if (existsSync(dir)) out.push(dir);
  if (existsSync(DOCKER_SOCKET)) {
    const ps = await run(['docker', 'ps', '-a', '--filter', `name=^${nsName(id, '')}`, '--format', '{{.Names}}']);
    for (const name of ps.stdout.split('\n').filter(Boolean)) out.push(`container ${name}`);
  }
  for (const pid of list('/proc').filter((p) => /^\d+$/.test(p) && p !== String(process.pid))) {
    const cmd = commandLine(pid);
    if (cmd.includes(`${tempDir(id)}/`) && !out.some((o) => o.startsWith(`process ${pid} `))) out.push(`process ${pid} (${brief(cmd)})`);
  }
  return out;
}
const brief = (cmd: string) => cmd.slice(0, 200);
/** A process's whole command line (a browser's runs to kilobytes: shown, it is cut with `brief`). */
function commandLine(pid: string): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    return '';
  }
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
  /**
   * Called while the rest is still being built, once a node's interfaces, addresses and routes are up
   * (its firewall may still be loading): a server there can start early. Errors of work it starts are the
   * caller's; the network's own failure stops the lab, with every process started in it.
   */
  onNodeBuilt?: (node: string, network: StartedNetwork) => void;
}

/** Builds a topology on network namespaces. The caller owns the result until `detach()` or `stop()`. */
export async function startNetwork(topology: Topology, opts: NetworkOptions = {}): Promise<StartedNetwork> {
  const id = opts.id ?? randomLabId();
  if (!LAB_ID.test(id)) {
    throw new LabError('ERR_LAB_ID', `invalid lab name "${id}"`, { hint: 'use 1-16 lower-case letters or digits' });
  }
  // Before anything exists: a signal from here on finds the lab in `owned` and removes it.
  installExitHandlers();
  await removeStaleLabs();
  const exists = () =>
    new LabError('ERR_LAB_EXISTS', `a lab named "${id}" is already up`, {
      hint: `run \`npx icelab down --name ${id}\` first, or choose another --name`,
      context: { lab: id },
    });
  if (knownLabIds().includes(id)) throw exists();
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
  if (!claimState(state)) throw exists();
  const lab = new StartedNetwork(state);
  owned.set(id, lab);
  try {
    mkdirSync(state.dir, { recursive: true, mode: 0o755 });
    const nodeOf = new Map([...topology.turn, ...topology.routers, ...topology.hosts].map((n) => [nsName(id, n.name), n.name]));
    const built = (line: string) => {
      const node = line.startsWith(BUILT) ? nodeOf.get(line.slice(BUILT.length)) : undefined;
      if (node !== undefined) opts.onNodeBuilt?.(node, lab);
    };
    await lab.runOwnedScript(renderBuild(topology, id), 'building the lab network', built);
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
  /** Set once teardown began; `#removed` once it finished (a signal during an async stop still sweeps). */
  #stopping: Promise<void> | null = null;
  #removed = false;
  /** Children this object started that may still run (build script, spawned servers): killed first on stop. */
  readonly #children = new Set<ChildProcess>();
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
  /** A node's namespace; `pub` is the public segment's (its bridge br0 carries every router's WAN side). */
  ns(node: string): string {
    const known = ['pub', ...[...this.topology.turn, ...this.topology.routers, ...this.topology.hosts].map((n) => n.name)];
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
  /** Containers of the lab (by name), as recorded by trackContainer. */
  get containers(): string[] {
    return this.#state.containers ?? [];
  }
  /** Records a container (by its name) before it is created: teardown, even after a crash, removes it. */
  trackContainer(name: string): void {
    this.#state.containers = [...(this.#state.containers ?? []), name];
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
    return this.#adopt(spawn(cmd!, args, opts));
  }
  #adopt(child: ChildProcess): ChildProcess {
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
    child.once('error', () => this.#children.delete(child));
    return child;
  }
  /** SIGKILL to every child still running, and to its process group when it leads one (detached). */
  #killChildren(): void {
    for (const child of this.#children) {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) continue;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
    }
    this.#children.clear();
  }
  /**
   * Runs a build script as a child of this lab, in its own process group: an interrupt kills the whole
   * script (ip, nft, nsenter) before the teardown, so nothing is created after the teardown looked.
   */
  async runOwnedScript(script: string, what: string, onLine?: (line: string) => void): Promise<RunResult> {
    const child = this.#adopt(spawn('sh', ['-e', '-s'], { stdio: ['pipe', 'pipe', 'pipe'], detached: true }));
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => {
      const lines = (stdout.slice(stdout.lastIndexOf('\n') + 1) + d.toString()).split('\n').slice(0, -1);
      stdout += d.toString();
      for (const l of lines) onLine?.(l);
    });
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(script);
    const code = await new Promise<number>((resolve) => {
      child.once('error', (e) => {
        stderr += String(e);
        resolve(127);
      });
      child.once('close', (c, signal) => resolve(c ?? (signal ? 137 : 1)));
    });
    if (code !== 0) {
      const said = stdout.split('\n').filter((l) => !l.startsWith(BUILT)).join('\n').trim();
      const detail = stderr.trim() || said || (this.#stopping ? 'interrupted' : '');
      throw new LabError('ERR_NETWORK_COMMAND', `${what} failed (exit ${code}): ${detail}`, {
        hint: hintFor(detail) ?? 'rerun with ICELAB_DEBUG=1 to print the script',
        context: { lab: this.id, script: process.env.ICELAB_DEBUG ? script : undefined },
      });
    }
    return { code, stdout, stderr };
  }

  /**
   * Forgets every NAT mapping of a router (or of all routers): the next packet gets a fresh one.
   * `conntrack -F` exits 0 on an empty table too, so any failure (no conntrack binary, the
   * namespace gone) is an error naming the router.
   */
  async flushMappings(router?: string): Promise<void> {
    const routers = this.topology.routers.map((r) => r.name);
    if (router !== undefined && !routers.includes(router)) {
      throw new LabError('ERR_UNKNOWN_HOST', `no router named "${router}" in lab "${this.id}"`, {
        hint: routers.length ? `use one of: ${routers.join(', ')} (a host's NAT router is named after it: <host>-nat)` : 'this lab has no routers: every host is public',
        context: { lab: this.id },
      });
    }
    const flush = (n: string) => runScript(`nsenter --net=/run/netns/${this.ns(n)} conntrack -F`, `flushing the NAT mappings of router "${n}"`, { lab: this.id, router: n });
    await Promise.all((router === undefined ? routers : [router]).map(flush));
  }
  /**
   * Changes the impairment of a node's uplink while the lab runs, replacing the one it had; null
   * removes it (loss table and qdiscs). Settings this machine cannot produce are refused first.
   */
  async setLink(node: string, link: Link | null): Promise<void> {
    this.ns(node);
    const up = uplinks(this.topology, this.id).find((u) => u.node === node)!;
    // Loaded here: the link schema pulls in zod (≈0.1 s), which down, status and exec never need.
    const { linkProblems } = await import('../topology/nat.ts');
    const problems = link ? linkProblems(link, `${node}.link`, await probeLinkSupport()) : [];
    if (problems.length > 0) {
      throw new LabError('ERR_LINK_UNSUPPORTED', `cannot set the link of "${node}": ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, {
        hint: 'leave out delayMs and jitterMs here (lossPercent and rateKbit work without netem), or run on a kernel with sch_netem',
        context: { lab: this.id, host: node },
      });
    }
    await runScript(linkCommands(up, link).join('\n'), `changing the link of ${node}`, { lab: this.id, host: node });
  }

  /** Removes the lab. Stays in `owned` until done, so a signal meanwhile still sweeps it synchronously. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#killChildren();
      await removeLab(this.id);
      this.#removed = true;
      owned.delete(this.id);
    })();
    return this.#stopping;
  }
  /** For exit and signal handlers: runs the teardown even when an asynchronous stop is under way. */
  stopSync(): void {
    if (this.#removed) return;
    this.#stopping ??= Promise.resolve();
    this.#killChildren();
    runScriptSync(teardownScript(this.id, this.#state.pids, this.#state.containers));
    this.#removed = true;
    owned.delete(this.id);
  }
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
