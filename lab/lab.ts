import { mkdirSync, writeFileSync } from 'node:fs';
import { LabError } from './topology/errors.ts';
import type { Firewall, Link, Nat } from './topology/nat.ts';
import { checkLinks, planTopology, type PlannedHost, type Topology, type TopologyInput } from './topology/topology.ts';
import { probeLinkSupport } from './network/link-support.ts';
import { nsName } from './network/names.ts';
import { openNetwork, startNetwork, type StartedNetwork } from './network/network.ts';
import type { RunResult } from './network/run.ts';
import { openServices, startServices, type ServiceInfo, type StartedService } from './services/services.ts';
import { ICE_TRANSPORTS, StartedCoturn, iceServersFor, prepareCoturn, turnHostname, type CoturnOptions, type IceServer, type IceTransport, type PreparedCoturn, type TurnInfo } from './turn/coturn.ts';

export interface LabOptions {
  /** Lab name (namespace infix). Random when left out; `icelab up` uses "default". */
  id?: string;
  coturn?: CoturnOptions;
}

/** A router on a host's path out, innermost first, with what it applies. */
export interface RouterSummary {
  name: string;
  wanIp: string;
  nat: Nat;
  firewall: Firewall | null;
  link: Link | null;
}
/** A host as the lab built it: what it sees from outside (the chain combined) and every router on its way. */
export interface HostSummary {
  name: string;
  netns: string;
  ip: string;
  preset: string;
  /** Effective NAT of the whole chain; null = a public address. */
  nat: Nat | null;
  /** Every firewall on its way out, combined (its own and each router's). */
  firewall: Firewall | null;
  /** The impairment of the host's own uplink; routers' links are under `routers`. */
  link: Link | null;
  routers: RouterSummary[];
}

/** What `icelab up --json` prints. */
export interface LabSummary {
  id: string;
  hosts: HostSummary[];
  turn: {
    host: string;
    ips: [string, string];
    hostname: string;
    iceServers: Record<IceTransport, IceServer[]>;
    secret: string;
    staticUser: { username: string; credential: string };
    logFile: string;
    caFile: string;
    metrics: string;
  };
  /** The app's services: where they are reached, whether their process still runs, their logs. */
  services: (ServiceInfo & { running: boolean })[];
}

/** A running lab: the network plus its TURN server(s). Dispose it (or `stop()`) to remove everything. */
export class StartedLab implements AsyncDisposable {
  readonly network: StartedNetwork;
  readonly turn: StartedCoturn;
  readonly services: readonly StartedService[];
  constructor(network: StartedNetwork, turn: StartedCoturn, services: readonly StartedService[] = []) {
    this.network = network;
    this.turn = turn;
    this.services = services;
  }
  get id(): string {
    return this.network.id;
  }
  get topology(): Topology {
    return this.network.topology;
  }
  /** The lab's temp dir (logs, certificates, browser profiles), removed with the lab. */
  get dir(): string {
    return this.network.dir;
  }
  /** The lab CA that signed the TURN server's certificate; browsers in the lab trust it. */
  get caFile(): string {
    return this.turn.info.caFile;
  }
  ns(node: string): string {
    return this.network.ns(node);
  }
  host(name: string): PlannedHost {
    const h = this.topology.hosts.find((x) => x.name === name);
    if (!h) {
      throw new LabError('ERR_UNKNOWN_HOST', `no LAN host named "${name}" in lab "${this.id}"`, {
        hint: `use one of: ${this.topology.hosts.map((x) => x.name).join(', ')}`,
      });
    }
    return h;
  }
  iceServers(transport: IceTransport, user?: string): IceServer[] {
    return this.turn.iceServers(transport, user);
  }
  exec(node: string, command: string[], opts?: { input?: string; timeoutMs?: number }): Promise<RunResult> {
    return this.network.exec(node, command, opts);
  }
  summary(): LabSummary {
    const info = this.turn.info;
    return {
      id: this.id,
      hosts: this.topology.hosts.map((h) => this.#hostSummary(h)),
      turn: {
        host: info.host,
        ips: info.ips,
        hostname: info.hostname,
        iceServers: Object.fromEntries(ICE_TRANSPORTS.map((t) => [t, iceServersFor(info, t)])) as Record<IceTransport, IceServer[]>,
        secret: info.secret,
        staticUser: info.staticUser,
        logFile: info.logFile,
        caFile: info.caFile,
        metrics: info.metrics,
      },
      services: this.services.map((s) => ({ ...s.info, running: s.running() })),
    };
  }
  #hostSummary(h: PlannedHost): HostSummary {
    const routers = h.routers.map((name) => this.topology.routers.find((r) => r.name === name)!);
    return {
      name: h.name,
      netns: nsName(this.id, h.name),
      ip: h.ip,
      preset: h.preset,
      nat: h.nat,
      firewall: h.firewall,
      link: h.link,
      routers: routers.map((r) => ({ name: r.name, wanIp: r.wanIp, nat: r.nat, firewall: r.firewall, link: r.link })),
    };
  }
  async stop(): Promise<void> {
    await this.network.stop();
  }
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** Validates a topology as a user writes it (every problem at once), then starts it as startPlannedLab does. */
export async function startLab(topology: TopologyInput, opts: LabOptions = {}): Promise<StartedLab> {
  return startPlannedLab(planTopology(topology, { linkSupport: await probeLinkSupport() }), opts);
}

/** Builds a planned topology and starts coturn; ready = STUN answers. Links this kernel cannot produce are refused first. */
export async function startPlannedLab(plan: Topology, opts: LabOptions = {}): Promise<StartedLab> {
  return (await startingLab(plan, opts)).started();
}

/**
 * A lab whose network is built and whose TURN server is still starting: browsers can launch in its
 * hosts meanwhile (they need the namespaces and the lab CA, not the server). `started()` waits for it.
 */
export class StartingLab implements AsyncDisposable {
  readonly network: StartedNetwork;
  /** The lab CA that signed the TURN server's certificate, in place already. */
  readonly caFile: string;
  readonly #turn: Promise<StartedCoturn>;
  constructor(network: StartedNetwork, caFile: string, turn: Promise<StartedCoturn>) {
    this.network = network;
    this.caFile = caFile;
    this.#turn = turn;
  }
  get id(): string {
    return this.network.id;
  }
  get dir(): string {
    return this.network.dir;
  }
  ns(node: string): string {
    return this.network.ns(node);
  }
  /** The lab once its TURN server answers STUN; if it never does, the lab is removed and the error thrown. */
  async started(): Promise<StartedLab> {
    try {
      const turn = await this.#turn;
      this.network.setService('turn', turn.info);
      // Services are told the TURN secret and signed by the lab CA: they start once the server is up.
      const services = await startServices(this.network, turn.info);
      this.network.markComplete();
      return new StartedLab(this.network, turn, services);
    } catch (e) {
      await this.network.stop();
      throw e;
    }
  }
  async stop(): Promise<void> {
    await this.network.stop();
  }
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/**
 * Builds the network and starts coturn as soon as the TURN host's interfaces are up, while routers and
 * hosts are still being built; returns once the network is built. Links this kernel cannot produce are refused first.
 */
export async function startingLab(plan: Topology, opts: LabOptions = {}): Promise<StartingLab> {
  checkLinks(plan, await probeLinkSupport());
  const server = plan.turn[0]!;
  let prepared: Promise<PreparedCoturn> | null = null;
  const prepare = (net: StartedNetwork) => (prepared ??= (async () => {
    writeHostsFiles(net);
    return prepareCoturn(net, server, opts.coturn);
  })());
  let turn: Promise<StartedCoturn> | null = null;
  const start = (net: StartedNetwork) => {
    turn ??= prepare(net).then((p) => p.start());
    // Awaited by started(); if the build fails first, the lab's teardown ends the server and this error is moot.
    turn.catch(() => undefined);
    return turn;
  };
  const network = await startNetwork(plan, { ...(opts.id === undefined ? {} : { id: opts.id }), onNodeBuilt: (node, net) => {
      if (node === server.name) start(net);
    },
  });
  try {
    const running = start(network);
    return new StartingLab(network, (await prepare(network)).caFile, running);
  } catch (e) {
    await network.stop();
    throw e;
  }
}

/** Re-attaches to a lab that is up (for the CLI's status, exec and connect). */
export function openLab(id: string): StartedLab {
  const network = openNetwork(id);
  const info = network.services.turn as TurnInfo | undefined;
  if (!info) throw new LabError('ERR_LAB_NOT_FOUND', `lab "${id}" has no TURN server yet`, { hint: 'wait for `icelab up` to finish' });
  return new StartedLab(network, new StartedCoturn(network, network.topology.turn[0]!, info), openServices(network));
}

/** `ip netns exec` bind-mounts /etc/netns/<ns>/*: every lab host resolves the TURN names from its hosts file. */
function writeHostsFiles(network: StartedNetwork): void {
  const t = network.topology;
  const names = [...t.turn.map((x) => `${x.ips[0]} ${turnHostname(x.name)}`), ...(t.services ?? []).map((s) => `${s.publicIp} ${s.hostname}`)];
  const lines = ['127.0.0.1 localhost', ...names, ''].join('\n');
  for (const node of [...t.hosts, ...t.turn]) {
    const dir = `/etc/netns/${network.ns(node.name)}`;
    mkdirSync(dir, { recursive: true });
    writeFileSync(`${dir}/hosts`, lines);
    // No resolver inside the lab: lookups fail at once instead of timing out (Firefox starts
    // seconds faster), and no DNS query leaves the lab.
    writeFileSync(`${dir}/resolv.conf`, 'nameserver 127.0.0.1\n');
  }
}
