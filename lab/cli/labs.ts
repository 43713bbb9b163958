import { usage } from './usage.ts';
import type { LabSummary } from '../lab.ts';
import { isLive, knownLabIds, labStanding, readState, removeLab, removeStaleLabs, type LabStanding } from '../network/network.ts';
import { removeMachineCache } from '../network/machine-cache.ts';
import { LabError } from '../topology/errors.ts';
import type { Topology } from '../topology/topology.ts';

/** The `--name` a follow-up command needs: none for the default lab. */
export const nameFlag = (id: string): string => (id === 'default' ? '' : ` --name ${id}`);
const standings = (): LabStanding[] => knownLabIds().map(labStanding);
/** The lab library is loaded by the commands that start or open a lab: its topology schema (zod) costs ≈0.1 s that down and status never need. */
const labModule = () => import('../lab.ts');

/** `icelab up`: starts the lab and detaches it, so it outlives this process. */
export async function upCommand(topology: Topology, name: string, json: boolean): Promise<number> {
  const t0 = performance.now();
  const { startPlannedLab } = await labModule();
  const lab = await startPlannedLab(topology, { id: name });
  lab.network.markComplete({ detach: true });
  const summary = lab.summary();
  if (json) console.log(JSON.stringify(summary, null, 2));
  else console.log(upStory(summary, Math.round(performance.now() - t0)));
  return 0;
}

/** What `icelab up` prints of a lab: its hosts and services as a person reads them. */
export type UpView = Pick<LabSummary, 'id' | 'hosts'> & {
  turn: Pick<LabSummary['turn'], 'ips'>;
  services: Pick<LabSummary['services'][number], 'name' | 'publicIp' | 'url' | 'logFile'>[];
};

export function upStory(s: UpView, ms: number): string {
  const behaviour = (h: LabSummary['hosts'][number]) =>
    [
      h.nat ? `${h.nat.mapping} mapping, ${h.nat.filtering} filtering` : 'public, no NAT',
      ...(h.firewall ? [`firewall: UDP ${h.firewall.udp}${h.firewall.tcpPorts ? `, TCP ${h.firewall.tcpPorts.join('/')} only` : ''}`] : []),
      ...[h.link, ...h.routers.map((r) => r.link)].filter((l) => l !== null).map((l) => `link: ${JSON.stringify(l)}`),
    ].join('; ');
  return [
    `lab "${s.id}" up in ${ms} ms; TURN ${s.turn.ips.join(', ')}`,
    ...s.hosts.map((h) => `  ${h.name.padEnd(22)} ${h.ip.padEnd(14)} ${behaviour(h)}`),
    ...s.services.map((v) => `  service ${v.name.padEnd(14)} ${v.publicIp.padEnd(14)} ${v.url ?? 'no URL (no port)'}; log: ${v.logFile}`),
    `run a command in a host: npx icelab exec${nameFlag(s.id)} ${s.hosts[0]?.name} -- <command>; remove it: npx icelab down${nameFlag(s.id)}`,
    ...(s.hosts.length >= 2 ? [`call between two hosts (browsers kept warm): npx icelab connect --lab ${s.id} --a chromium@${s.hosts[0]!.name} --b firefox@${s.hosts[1]!.name} --ice stun`] : []),
  ].join('\n');
}

export function statusCommand(json: boolean): number {
  const labs = standings().map((l) => ({ ...l, hosts: readState(l.id)?.topology.hosts.map((h) => h.name) ?? [] }));
  const what = (l: (typeof labs)[number]) => (l.kind === 'owned' ? `in use by process ${l.owner.pid} (${l.owner.command})` : l.kind === 'detached' ? 'up' : 'stale (removed by the next up or down)');
  if (json) console.log(JSON.stringify({ labs }, null, 2));
  else if (!labs.length) console.log('no lab is up');
  else for (const l of labs) console.log(`${l.id}: ${what(l)} — ${l.hosts.join(', ')}`);
  return 0;
}

/** The lab a command means: the named one, else the only one up (else the error lists them). */
export function chooseLab(name: string | undefined, labs: readonly LabStanding[]): string {
  if (name !== undefined) return name;
  const up = labs.filter((l) => l.kind !== 'stale');
  if (up.length === 1) return up[0]!.id;
  if (!up.length) throw new LabError('ERR_LAB_NOT_FOUND', 'no lab is up', { hint: 'start one with `npx icelab up`' });
  throw usage(`${up.length} labs are up (${up.map((l) => l.id).join(', ')}): which one?`, `add --name <lab>, e.g. --name ${up[0]!.id}`);
}

/** A lab that is up, as `connect --lab <name>` names it. */
export interface LabArg {
  id: string;
  topology: Topology;
}

/** `connect --lab <name>`: a lab that is up; its topology names the hosts the call may use. */
export function labArg(name: string): LabArg {
  const state = readState(name);
  if (!state || !isLive(state)) {
    const up = standings().filter((l) => l.kind !== 'stale').map((l) => l.id);
    throw new LabError('ERR_LAB_NOT_FOUND', `--lab: no lab named "${name}" is up`, { hint: up.length ? `labs up: ${up.join(', ')}` : 'start one with `npx icelab up`, or keep the lab of a call with `npx icelab connect … --keep`' });
  }
  return { id: name, topology: state.topology };
}

export interface DownOptions {
  name: string | undefined;
  all: boolean;
  force: boolean;
  json: boolean;
}
export interface DownPlan {
  remove: LabStanding[];
  /** Held by a live process and not forced: removing them would kill that process's browsers mid-run. */
  keep: LabStanding[];
  /** A --name that matches no lab. */
  missing: string | null;
  /** --all also removes what labs share (the lab CA, the kernel probe): the machine is left as before icelab. */
  machineCache: boolean;
}

/**
 * What `icelab down` removes: the named lab (without a name, the only lab up that nobody holds);
 * with --all, every lab nobody holds. A lab a live process holds only with --force. Stale labs
 * are removed in any case (removeStaleLabs).
 */
export function planDown(o: Pick<DownOptions, 'name' | 'all' | 'force'>, labs: readonly LabStanding[]): DownPlan {
  const up = labs.filter((l) => l.kind !== 'stale');
  const detached = up.filter((l) => l.kind === 'detached');
  const name = o.name ?? (detached.length === 1 ? detached[0]!.id : 'default');
  const asked = o.all ? up : up.filter((l) => l.id === name);
  const keep = asked.filter((l) => l.kind === 'owned' && !o.force);
  const missing = !o.all && o.name !== undefined && !labs.some((l) => l.id === o.name) ? o.name : null;
  return { remove: asked.filter((l) => !keep.includes(l)), keep, missing, machineCache: o.all };
}

/** `icelab down`: exit 1 when a named lab was kept (it is in use), else 0 (removing nothing is fine). */
export async function downCommand(o: DownOptions): Promise<number> {
  const plan = planDown(o, standings());
  for (const l of plan.remove) await removeLab(l.id);
  const stale = (await removeStaleLabs()).map((id): LabStanding => ({ id, kind: 'stale' }));
  if (plan.machineCache) removeMachineCache();
  const removed = [...plan.remove, ...stale];
  if (o.json) console.log(JSON.stringify({ removed, kept: plan.keep, missing: plan.missing, machineCache: plan.machineCache }, null, 2));
  else console.log(downStory(removed, plan));
  return plan.keep.length && !o.all ? 1 : 0;
}

function downStory(removed: LabStanding[], plan: DownPlan): string {
  const was = (l: LabStanding) => (l.kind === 'stale' ? ' (stale: its owner had died)' : l.kind === 'owned' ? ` (was in use by process ${l.owner.pid})` : '');
  const lines = removed.map((l) => `removed lab "${l.id}"${was(l)}`);
  for (const l of plan.keep) {
    if (l.kind === 'owned') lines.push(`kept lab "${l.id}": in use by process ${l.owner.pid} (${l.owner.command}); stop that process, or add --force to remove it anyway`);
  }
  if (plan.missing) lines.push(`no lab named "${plan.missing}" (nothing to remove); see npx icelab status`);
  return lines.join('\n') || 'no lab to remove';
}

/** `icelab exec`: runs a command in a lab host with the terminal attached; returns its exit code. */
export async function execCommand(name: string | undefined, host: string | undefined, command: string[]): Promise<number> {
  if (!host || command.length === 0) throw usage('exec needs a host and a command', 'icelab exec [--name <lab>] <host> -- <command…>');
  const lab = (await labModule()).openLab(chooseLab(name, standings()));
  const child = lab.network.spawn(host, command, { stdio: 'inherit' });
  return await new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)));
}
