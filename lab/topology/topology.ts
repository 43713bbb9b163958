import { z } from 'zod';
import {
  DEFAULT_PRESET,
  FirewallSchema,
  LinkSchema,
  NatSchema,
  ALL_PRESET_NAMES,
  PRESETS,
  PRESET_NAMES,
  combinedFirewall,
  effectiveNat,
  linkProblems,
  natProblems,
  normaliseNat,
  type Firewall,
  type Link,
  type LinkSupport,
  type Nat,
  type NatInput,
  type PresetName,
} from './nat.ts';
import { TopologyError, type Problem } from './errors.ts';
import { isRecord, problemsOf, resolveUnions, validFields, withoutUnknownKeys } from './issues.ts';

const Name = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,31}$/, 'a name is 1-32 characters: lower-case letters, digits and "-", starting with a letter');

const PresetRef = z.enum(ALL_PRESET_NAMES as [PresetName, ...PresetName[]]);

export const TurnSchema = z
  .object({
    name: Name.default('turn'),
    /** `process`: the machine's turnserver in the TURN host's namespace; `container`: a coturn image. */
    provider: z.enum(['process', 'container']).default('process'),
    /** Image of the container provider; left out: ICELAB_COTURN_IMAGE, else the upstream coturn/coturn. */
    image: z.string().min(1).optional(),
  })
  .strict();

export const RouterSchema = z
  .object({
    name: Name,
    nat: NatSchema,
    /** The router this one sits behind (a carrier-grade NAT, say); left out = the public segment. */
    upstream: Name.optional(),
    firewall: FirewallSchema.optional(),
    link: LinkSchema.optional(),
  })
  .strict();

export const HostSchema = z
  .object({
    name: Name,
    /** Shorthand: a preset name, one NAT, or a chain of NATs (innermost first), each given its own router. */
    nat: z
      .union([PresetRef, NatSchema, z.array(NatSchema).min(1)], {
        // A string that is not a preset is the usual mistake: name the presets instead of "Invalid input".
        error: (iss) => (typeof iss.input === 'string' ? `unknown preset "${iss.input}"; presets: ${ALL_PRESET_NAMES.join(', ')}` : 'a preset name, a NAT object ({ mapping, filtering, … }) or a list of them (double NAT)'),
      })
      .optional(),
    /** A router declared in `routers` (several hosts may share one LAN). Excludes `nat`. */
    behind: Name.optional(),
    firewall: FirewallSchema.optional(),
    link: LinkSchema.optional(),
  })
  .strict();

const Port = z.number().int().min(1).max(65535);

/** When a service is up: exactly one of `http`, `tcp`, `log`, awaited for at most `timeoutMs`. */
export const ReadySchema = z
  .object({
    /** A GET of this path on the service's `port` answers with a status below 400. */
    http: z.string().regex(/^\//, 'a path starting with "/", e.g. /health').optional(),
    /** Something listens on this TCP port in the service's host. */
    tcp: Port.optional(),
    /** This text appears in the service's log (its stdout and stderr). */
    log: z.string().min(1).optional(),
    timeoutMs: z.number().int().min(100).max(600_000).default(30_000),
  })
  .strict();

/** A server of the app under test, in a lab host of its own named after it (`<name>.lab.test`). */
export const ServiceSchema = z
  .object({
    name: Name,
    /** Run by /bin/sh inside the service's host (with `cwd` and `env`). */
    command: z.string().min(1).optional(),
    cwd: z.string().min(1).optional(),
    env: z.record(z.string(), z.string()).optional(),
    /** A container image (started with testcontainers, wired into the service's host); `command` replaces its command. */
    image: z.string().min(1).optional(),
    /** A server on this machine's loopback (a dev server) at this port, reachable in the lab under the service's name (TCP only). */
    forward: Port.optional(),
    /** The port the service serves on (a forward's: the same as on the loopback unless given). */
    port: Port.optional(),
    /** The lab terminates TLS on 443 with a certificate for `<name>.lab.test` and passes plain HTTP on to `port`. */
    tls: z.boolean().default(false),
    ready: ReadySchema.optional(),
    /** As for hosts: a preset (`one-to-one` for a server with a cloud elastic IP) or NAT object(s); left out = a public address. */
    nat: HostSchema.shape.nat,
    /** A router declared in `routers`. Excludes `nat`. */
    behind: Name.optional(),
  })
  .strict();

export const TopologySchema = z
  .object({
    turn: z.array(TurnSchema).min(1).default([{ name: 'turn', provider: 'process' }]),
    routers: z.array(RouterSchema).default([]),
    hosts: z.array(HostSchema).min(1),
    services: z.array(ServiceSchema).default([]),
  })
  .strict();

/** A topology as written by a user (TypeScript value, or JSON/YAML file). */
export type TopologyInput = z.input<typeof TopologySchema>;

export type TurnProviderName = 'process' | 'container';
export interface PlannedTurn {
  name: string;
  provider: TurnProviderName;
  /** Container image as given; null = the configured default (only the container provider uses one). */
  image: string | null;
  /** Primary and alternate address (RFC 5780 needs two). */
  ips: [string, string];
}
export interface PlannedRouter {
  name: string;
  nat: Nat;
  firewall: Firewall | null;
  link: Link | null;
  upstream: string | null;
  /** Address on the upstream segment (public or the upstream router's LAN). */
  wanIp: string;
  wanPrefix: number;
  wanGateway: string | null;
  /** LAN segment this router serves: its own address on it. */
  lanIp: string;
  lanPrefix: number;
  lanSubnet: string;
  /** Hosts directly on the LAN (for filtering/hairpinning rules). */
  lanHosts: string[];
}
export interface PlannedHost {
  name: string;
  /** Preset name when the host was described by one; `custom` otherwise. */
  preset: PresetName | 'custom';
  ip: string;
  prefix: number;
  gateway: string | null;
  /** Routers from the host outwards. */
  routers: string[];
  /** What the host sees from outside: the chain combined; null = public address. */
  nat: Nat | null;
  /** What the host's packets out of its LAN meet: its own firewall and every router's on its way out, combined. */
  firewall: Firewall | null;
  /**
   * The firewall the host applies itself, on its interface, to what it sends out of its LAN
   * (everything it sends, when public). One written on a host with a NAT of its own is applied by
   * that NAT router instead.
   */
  ownFirewall: Firewall | null;
  link: Link | null;
}
/** What runs a service: a command in its host, a container wired into it, or a relay to this machine's loopback. */
export type ServiceSource =
  | { kind: 'command'; command: string; cwd: string | null; env: Record<string, string> }
  | { kind: 'image'; image: string; command: string | null; cwd: string | null; env: Record<string, string> }
  | { kind: 'forward'; loopbackPort: number };
/** What "up" means for a service. */
export type PlannedReady = { timeoutMs: number } & ({ kind: 'http'; path: string; port: number } | { kind: 'tcp'; port: number } | { kind: 'log'; text: string });
export interface PlannedService {
  /** Also the name of the lab host it runs in. */
  name: string;
  /** What every lab host resolves to `publicIp`. */
  hostname: string;
  source: ServiceSource;
  port: number | null;
  tls: boolean;
  ready: PlannedReady;
  /** Its address on its own segment (private behind a NAT). */
  ip: string;
  /** Where the rest of the lab reaches it: its own address, or its outermost router's behind NATs. */
  publicIp: string;
}
/** A validated topology with every address assigned: what the network layer builds. */
export interface Topology {
  turn: PlannedTurn[];
  routers: PlannedRouter[];
  /** LAN hosts, then the hosts of the services (named after them). */
  hosts: PlannedHost[];
  services: PlannedService[];
  publicSubnet: string;
}

/** The name lab hosts resolve a TURN server or a service by (each host's /etc/hosts). */
export const labHostname = (name: string): string => `${name}.lab.test`;

/** The routers on a host's way out, innermost first. */
export const routersOf = (t: Topology, h: PlannedHost): PlannedRouter[] => h.routers.map((name) => t.routers.find((r) => r.name === name)!);

export const PUBLIC_SUBNET = '198.18.0.0/15';
const PUBLIC_PREFIX = 15;
const MAX_ROUTERS = 200;

/** The default lab: one TURN server and one LAN host behind each preset, named after it. */
export function defaultTopology(presets: readonly PresetName[] = PRESET_NAMES): TopologyInput {
  return { hosts: presets.map((p) => ({ name: p, nat: p })) };
}

/** The suites' i-th host (from 0) of a preset, each behind its own router: `<preset>`, `<preset>-2`, `<preset>-3`, … */
export const presetHost = (preset: string, i: number): string => (i === 0 ? preset : `${preset}-${i + 1}`);

/** Name of the second host behind its own router of the same preset (calls between two such NATs). */
export const twinHost = (preset: string): string => presetHost(preset, 1);

/**
 * Presets whose calls the suites spread over more than one lane (a lane: a host and its twin).
 * Every udp-blocked call over STUN or TURN/UDP is a predicted failure that waits out the connect
 * timeout, and every udp-blocked call needs that host: in the full matrix of 2026-12-01 its 140
 * calls kept it busy 537 s of the run's 589 s, while every other host was busy at most 262 s.
 */
export const SUITE_LANES: Readonly<Partial<Record<PresetName, number>>> = { 'udp-blocked': 2 };
export const lanesOf = (preset: PresetName): number => SUITE_LANES[preset] ?? 1;

/**
 * The suites' lab: the default one plus a twin of each preset host, so a call between two
 * port-restricted NATs crosses two routers instead of staying on one LAN, and the hosts of the
 * further lanes of SUITE_LANES.
 */
export function suiteTopology(presets: readonly PresetName[] = PRESET_NAMES): TopologyInput {
  const lanes = presets.flatMap((p) => Array.from({ length: 2 * (lanesOf(p) - 1) }, (_, i) => ({ name: presetHost(p, i + 2), nat: p })));
  return { hosts: [...presets.map((p) => ({ name: p, nat: p })), ...presets.map((p) => ({ name: twinHost(p), nat: p })), ...lanes] };
}

export interface PlanOptions {
  /**
   * What this machine can do to a link (lab/network's `probeLinkSupport()`): settings it cannot
   * produce are problems too. Left out, a link is checked for its format only.
   */
  linkSupport?: LinkSupport;
}

/**
 * Validates a topology and assigns addresses. Throws a TopologyError listing every problem at once:
 * the schema's, and those found in whatever parts of the input passed the schema.
 */
export function planTopology(input: unknown, opts: PlanOptions = {}): Topology {
  const parsed = TopologySchema.safeParse(input);
  const issues = parsed.success ? [] : resolveUnions(parsed.error.issues);
  const problems = [...problemsOf(issues, TopologySchema, input), ...semanticProblems(written(withoutUnknownKeys(input, issues)), opts.linkSupport ?? null)];
  if (!parsed.success || problems.length > 0) throw new TopologyError(problems);
  return assignAddresses(parsed.data);
}

/** A planned topology checked against what this machine can do to links (for one planned without `linkSupport`). */
export function checkLinks(t: Topology, support: LinkSupport): Topology {
  // Hosts and declared routers keep the order of the input; the routers a host's NAT makes have no link.
  const problems = [
    ...t.routers.flatMap((r, i) => (r.link ? linkProblems(r.link, `routers[${i}].link`, support) : [])),
    ...t.hosts.flatMap((h, i) => (h.link ? linkProblems(h.link, `hosts[${i}].link`, support) : [])),
  ];
  if (problems.length > 0) throw new TopologyError(problems);
  return t;
}

type Parsed = z.output<typeof TopologySchema>;
type ParsedHost = Parsed['hosts'][number];

/** A list entry as written, with those of its fields that passed their schema. */
interface Entry<T> {
  path: string;
  raw: Record<string, unknown>;
  valid: Partial<T>;
}
type ParsedService = Parsed['services'][number];
interface Written {
  turn: Entry<Parsed['turn'][number]>[];
  routers: Entry<Parsed['routers'][number]>[];
  /** LAN hosts, then each service as the host it runs in. */
  hosts: Entry<ParsedHost>[];
  services: Entry<ParsedService>[];
}

function written(input: unknown): Written {
  const list = <S extends z.ZodObject>(key: 'turn' | 'routers' | 'hosts' | 'services', schema: S): Entry<z.output<S>>[] => {
    const given = isRecord(input) ? input[key] : undefined;
    // A list left out is its default (one TURN server, no routers).
    const items: unknown[] = given === undefined ? (TopologySchema.shape[key].safeParse(undefined).data ?? []) : Array.isArray(given) ? given : [];
    return items.map((item, i) => ({ path: `${key}[${i}]`, raw: isRecord(item) ? item : {}, valid: validFields(schema, item) }));
  };
  const services = list('services', ServiceSchema);
  return { turn: list('turn', TurnSchema), routers: list('routers', RouterSchema), hosts: [...list('hosts', HostSchema), ...services.map(serviceHostEntry)], services };
}

/** A service's host as a host entry: its name, NAT and router; public unless it says otherwise. */
function serviceHostEntry(e: Entry<ParsedService>): Entry<ParsedHost> {
  const raw = Object.fromEntries(Object.entries(e.raw).filter(([k]) => k === 'name' || k === 'nat' || k === 'behind'));
  const valid = validFields(HostSchema, raw);
  return { path: e.path, raw, valid: raw.nat === undefined && raw.behind === undefined ? { ...valid, nat: 'open' } : valid };
}
const serviceHost = (s: ParsedService): ParsedHost => ({ name: s.name, nat: s.nat ?? (s.behind === undefined ? 'open' : undefined), behind: s.behind });

/** What a host's `nat` stands for: its NATs innermost first, the preset's name, and the preset's firewall. */
function hostNats(nat: ParsedHost['nat']): { preset: PresetName | 'custom'; chain: Nat[]; firewall: Firewall | null } {
  const given = nat ?? DEFAULT_PRESET;
  if (typeof given !== 'string') return { preset: 'custom', chain: (Array.isArray(given) ? given : [given]).map(normaliseNat), firewall: null };
  const p: { chain: readonly NatInput[]; firewall?: z.input<typeof FirewallSchema> } = PRESETS[given];
  return { preset: given, chain: p.chain.map(normaliseNat), firewall: p.firewall ? FirewallSchema.parse(p.firewall) : null };
}
/** A host's own NAT routers are named after it, innermost first. */
const ownRouterName = (host: string, k: number, count: number) => (count === 1 ? `${host}-nat` : `${host}-nat${k + 1}`);
/** Where the k-th NAT of a host was written: `hosts[1].nat`, or `hosts[1].nat[0]` in a chain. */
const natPath = (hostPath: string, nat: unknown, k: number) => `${hostPath}.nat${Array.isArray(nat) ? `[${k}]` : ''}`;
/** The keys a user wrote in the k-th NAT of a host (a preset wrote all of its own). */
function natKeys(nat: unknown, k: number, preset: PresetName | 'custom'): Set<string> {
  if (preset !== 'custom') return new Set(Object.keys(PRESETS[preset].chain[k] ?? {}));
  const obj = Array.isArray(nat) ? nat[k] : nat;
  return new Set(isRecord(obj) ? Object.keys(obj) : []);
}

/** Problems among the parts that passed the schema; a part that did not is not judged again. */
function semanticProblems(t: Written, links: LinkSupport | null): Problem[] {
  const problems: Problem[] = [];
  const routerNames = new Set(t.routers.flatMap((r) => (r.valid.name ? [r.valid.name] : [])));
  // [name, path, how a clash is reported]
  const names: [string, string, (first: string) => string][] = [];
  const clash = (name: string) => (first: string) => `name "${name}" is already used by ${first}; names must be unique`;
  for (const x of t.turn) if (x.valid.name) names.push([x.valid.name, `${x.path}.name`, clash(x.valid.name)]);
  for (const r of t.routers) if (r.valid.name) names.push([r.valid.name, `${r.path}.name`, clash(r.valid.name)]);
  let routerCount = t.routers.length;

  for (const h of t.hosts) {
    const natGiven = h.raw.nat !== undefined;
    const behindGiven = h.raw.behind !== undefined;
    if (natGiven && behindGiven) problems.push({ path: h.path, message: 'give either "nat" (a private NAT for this host) or "behind" (a shared router), not both' });
    // A NAT with problems of its own, or one next to "behind", is not judged further.
    if (behindGiven || (natGiven && h.valid.nat === undefined)) continue;
    const { preset, chain } = hostNats(h.valid.nat);
    routerCount += chain.length;
    chain.forEach((nat, k) => {
      problems.push(...natProblems(nat, natKeys(h.raw.nat, k, preset), natPath(h.path, h.raw.nat, k)));
      if (!h.valid.name) return;
      const name = ownRouterName(h.valid.name, k, chain.length);
      routerNames.add(name);
      names.push([name, `${h.path}.name`, (first) => `this host's NAT router is named "${name}", which ${first} already uses; rename the host or that router`]);
    });
  }
  for (const h of t.hosts) if (h.valid.name) names.push([h.valid.name, `${h.path}.name`, clash(h.valid.name)]);

  // Names are namespace suffixes: they must be unique across the lab.
  const seen = new Map<string, string>();
  for (const [name, path, clashMessage] of names) {
    if (name === 'pub') problems.push({ path, message: '"pub" is reserved for the public segment' });
    const first = seen.get(name);
    if (first) problems.push({ path, message: clashMessage(first) });
    else seen.set(name, path);
  }

  const upstreamOf = new Map(t.routers.flatMap((r) => (r.valid.name ? [[r.valid.name, r.valid.upstream ?? null] as const] : [])));
  for (const r of t.routers) {
    if (r.valid.upstream !== undefined && !routerNames.has(r.valid.upstream)) {
      problems.push({ path: `${r.path}.upstream`, message: `no router named "${r.valid.upstream}"; declare it under "routers"` });
    }
    if (r.valid.nat) problems.push(...natProblems(normaliseNat(r.valid.nat), new Set(isRecord(r.raw.nat) ? Object.keys(r.raw.nat) : []), `${r.path}.nat`));
    const cycle = cycleThrough(r.valid.name, upstreamOf);
    if (cycle) problems.push({ path: `${r.path}.upstream`, message: `routers form a cycle through "${cycle}"` });
  }
  // lab.ts starts one coturn and hands every peer its iceServers: a second entry would be accepted and never run.
  for (const x of t.turn.slice(1)) {
    problems.push({ path: x.path, message: 'the lab runs one TURN server; remove this entry (the one server answers STUN, TURN over UDP, TCP and TLS)' });
  }
  for (const x of t.turn) {
    if (x.valid.image !== undefined && x.valid.provider !== undefined && x.valid.provider !== 'container') {
      const provider = x.raw.provider === undefined ? 'provider defaults to "process" and an image' : 'an image';
      problems.push({ path: `${x.path}.image`, message: `${provider} is only used by provider "container"; add provider: container or remove image` });
    }
  }
  for (const h of t.hosts) {
    if (h.valid.behind !== undefined && !routerNames.has(h.valid.behind)) {
      problems.push({ path: `${h.path}.behind`, message: `no router named "${h.valid.behind}"; declare it under "routers"` });
    }
  }
  if (links) {
    for (const e of [...t.routers, ...t.hosts]) if (e.valid.link) problems.push(...linkProblems(e.valid.link, `${e.path}.link`, links));
  }
  problems.push(...t.services.flatMap(serviceProblems), ...oneToOneProblems(t), ...t.services.flatMap((e) => unreachableService(e, t.routers)));
  if (routerCount > MAX_ROUTERS) problems.push({ path: 'routers', message: `at most ${MAX_ROUTERS} routers (declared ones and those of hosts' NATs); this topology has ${routerCount}` });
  return problems;
}

/** What a service entry leaves open or contradicts: what runs, when it is up, where TLS passes HTTP on to. */
function serviceProblems(e: Entry<ParsedService>): Problem[] {
  const problems: Problem[] = [];
  const at = (field: string, message: string) => problems.push({ path: field ? `${e.path}.${field}` : e.path, message });
  const given = (k: string) => e.raw[k] !== undefined;
  const port = e.valid.port ?? e.valid.forward;
  if (!given('command') && !given('image') && !given('forward')) at('', 'say what runs: "command" (in the service\'s host), "image" (a container) or "forward" (a server on this machine\'s loopback)');
  if (given('forward')) {
    for (const k of ['command', 'image', 'cwd', 'env']) if (given(k)) at(k, `a forward relays to a server already running on this machine, so "${k}" would never be used; remove it, or remove "forward"`);
  }
  if (given('cwd') && !given('command') && !given('image')) at('cwd', '"cwd" is where "command" runs; add a command or remove cwd');
  const ready = e.valid.ready;
  if (ready) {
    const kinds = (['http', 'tcp', 'log'] as const).filter((k) => ready[k] !== undefined);
    if (kinds.length !== 1) at('ready', `give exactly one of http, tcp, log${kinds.length ? ` (found ${kinds.join(' and ')})` : ''}`);
    if (ready.http !== undefined && port === undefined) at('ready.http', 'an HTTP check asks the service\'s "port": add port');
  } else if (!given('ready') && port === undefined && !given('forward')) {
    at('ready', 'required: the lab must know when the service is up; give ready (http, tcp or log), or port (up once it listens there)');
  }
  if (e.valid.tls && port === undefined) at('tls', 'TLS is terminated on 443 and passed on as plain HTTP to "port": add port');
  if (e.valid.tls && port === 443) at('port', 'with tls: true the lab listens on 443 itself; serve plain HTTP on another port');
  return problems;
}

/**
 * A service that serves (a port, TLS, a forward) behind a NAT that forwards nothing is reached by
 * no other lab host: its name resolves to the NAT's public address, which admits only replies.
 */
function unreachableService(e: Entry<ParsedService>, routers: readonly Entry<Parsed['routers'][number]>[]): Problem[] {
  if (e.valid.port === undefined && e.valid.forward === undefined && !e.valid.tls) return [];
  const nats: Nat[] = [];
  if (e.valid.nat !== undefined && e.raw.behind === undefined) nats.push(...hostNats(e.valid.nat).chain);
  if (e.valid.behind !== undefined && e.raw.nat === undefined) {
    const seen = new Set<string>();
    for (let r = routers.find((x) => x.valid.name === e.valid.behind); r?.valid.nat && !seen.has(r.path); r = routers.find((x) => x.valid.name === r!.valid.upstream)) {
      seen.add(r.path);
      nats.push(normaliseNat(r.valid.nat));
    }
  }
  if (nats.every((n) => n.oneToOne)) return [];
  const field = e.raw.behind !== undefined ? 'behind' : 'nat';
  return [{ path: `${e.path}.${field}`, message: 'behind a NAT that forwards nothing, no other lab host reaches the port this service serves; use nat: one-to-one (a server\'s elastic IP), leave nat out (a public address), or drop port/tls if it only connects out' }];
}

/** A one-to-one NAT forwards every port of its public address to one client: a second would get nothing. */
function oneToOneProblems(t: Written): Problem[] {
  return t.routers.flatMap((r) => {
    if (!r.valid.nat || !normaliseNat(r.valid.nat).oneToOne || !r.valid.name) return [];
    const clients = [...t.hosts.filter((h) => h.valid.behind === r.valid.name), ...t.routers.filter((d) => d.valid.upstream === r.valid.name)];
    return clients.length > 1
      ? [{ path: `${r.path}.nat`, message: `a one-to-one NAT forwards every port to one client, and ${clients.length} are behind "${r.valid.name}" (${clients.map((c) => c.path).join(', ')}); give each its own router` }]
      : [];
  });
}

/** The router where walking upstream from `start` comes back to a router already passed, if it does. */
function cycleThrough(start: string | undefined, upstreamOf: ReadonlyMap<string, string | null>): string | null {
  const visited = new Set<string>();
  for (let cur = start; cur !== undefined; cur = upstreamOf.get(cur) ?? undefined) {
    if (visited.has(cur)) return cur;
    visited.add(cur);
  }
  return null;
}

/** Turns a valid topology into the planned one: the hosts' NATs become routers, everything gets an address. */
function assignAddresses(t: Parsed): Topology {
  type RouterDraft = Pick<PlannedRouter, 'name' | 'nat' | 'firewall' | 'link' | 'upstream'>;
  const routers: RouterDraft[] = t.routers.map((r) => ({ name: r.name, nat: normaliseNat(r.nat), firewall: r.firewall ?? null, link: r.link ?? null, upstream: r.upstream ?? null }));
  const hostDrafts = [...t.hosts, ...t.services.map(serviceHost)].map((h) => {
    const own = h.behind === undefined ? hostNats(h.nat) : { preset: 'custom' as const, chain: [], firewall: null };
    const firewall = h.firewall ?? own.firewall;
    const mine = own.chain.map((nat, k) => ({
      name: ownRouterName(h.name, k, own.chain.length),
      nat,
      // The innermost router applies the host's firewall.
      firewall: k === 0 ? firewall : null,
      link: null,
      upstream: k + 1 < own.chain.length ? ownRouterName(h.name, k + 1, own.chain.length) : null,
    }));
    routers.push(...mine);
    return { name: h.name, preset: own.preset, behind: mine[0]?.name ?? h.behind ?? null, firewall: mine.length ? null : firewall, link: h.link ?? null };
  });

  // Addresses: TURN 198.18.0.x, public hosts 198.18.1.x, router WANs 198.18.2.x (all /15);
  // a router's LAN is 10.<n>.0.0/24, or 100.64.<n>.0/24 when other routers sit behind it (carrier-grade NAT).
  const pub = (third: number, n: number) => `198.18.${third}.${n}`;
  const plannedTurn: PlannedTurn[] = t.turn.map((x, i) => ({
    name: x.name,
    provider: x.provider,
    image: x.image ?? null,
    ips: [pub(0, 10 + 2 * i), pub(0, 11 + 2 * i)],
  }));
  const plannedRouters = new Map<string, PlannedRouter>();
  routers.forEach((r, i) => {
    const carrier = routers.some((d) => d.upstream === r.name);
    const base = carrier ? `100.64.${i + 1}` : `10.${i + 1}.0`;
    plannedRouters.set(r.name, {
      name: r.name,
      nat: r.nat,
      firewall: r.firewall,
      link: r.link,
      upstream: r.upstream,
      wanIp: '',
      wanPrefix: 0,
      wanGateway: null,
      lanIp: `${base}.1`,
      lanPrefix: 24,
      lanSubnet: `${base}.0/24`,
      lanHosts: [],
    });
  });
  const nextOnLan = new Map<string, number>();
  const lanAddress = (router: PlannedRouter) => {
    const n = (nextOnLan.get(router.name) ?? 9) + 1;
    if (n > 254) throw new TopologyError([{ path: `routers.${router.name}`, message: 'more than 245 hosts on one LAN' }]);
    nextOnLan.set(router.name, n);
    return router.lanIp.replace(/\.1$/, `.${n}`);
  };
  let wanN = 0;
  for (const r of plannedRouters.values()) {
    if (r.upstream === null) {
      wanN += 1;
      Object.assign(r, { wanIp: pub(2, wanN), wanPrefix: PUBLIC_PREFIX, wanGateway: null });
    } else {
      const up = plannedRouters.get(r.upstream)!;
      Object.assign(r, { wanIp: lanAddress(up), wanPrefix: up.lanPrefix, wanGateway: up.lanIp });
    }
  }
  let publicN = 0;
  const hosts: PlannedHost[] = hostDrafts.map((h) => {
    const chain: PlannedRouter[] = [];
    for (let r = h.behind ? plannedRouters.get(h.behind) : undefined; r; r = r.upstream ? plannedRouters.get(r.upstream) : undefined) {
      chain.push(r);
    }
    const first = chain[0];
    if (first) first.lanHosts.push(h.name);
    return {
      name: h.name,
      preset: h.preset,
      ip: first ? lanAddress(first) : pub(1, (publicN += 1)),
      prefix: first ? first.lanPrefix : PUBLIC_PREFIX,
      gateway: first ? first.lanIp : null,
      routers: chain.map((r) => r.name),
      nat: effectiveNat(chain.map((r) => r.nat)),
      firewall: combinedFirewall([h.firewall, ...chain.map((r) => r.firewall)]),
      ownFirewall: h.firewall,
      link: h.link,
    };
  });
  const services = t.services.map((s) => planService(s, hosts.find((h) => h.name === s.name)!, plannedRouters));
  return { turn: plannedTurn, routers: [...plannedRouters.values()], hosts, services, publicSubnet: PUBLIC_SUBNET };
}

function planService(s: ParsedService, host: PlannedHost, routers: ReadonlyMap<string, PlannedRouter>): PlannedService {
  const outer = host.routers.length ? routers.get(host.routers.at(-1)!)! : null;
  const port = s.port ?? s.forward ?? null;
  const env = s.env ?? {};
  const source: ServiceSource =
    s.forward !== undefined
      ? { kind: 'forward', loopbackPort: s.forward }
      : s.image !== undefined
        ? { kind: 'image', image: s.image, command: s.command ?? null, cwd: s.cwd ?? null, env }
        : { kind: 'command', command: s.command!, cwd: s.cwd ?? null, env };
  return { name: s.name, hostname: labHostname(s.name), source, port, tls: s.tls, ready: planReady(s.ready, port), ip: host.ip, publicIp: outer ? outer.wanIp : host.ip };
}

/** Validation made sure of one kind (or a port to wait for) and of a port for an HTTP check. */
function planReady(r: ParsedService['ready'], port: number | null): PlannedReady {
  if (!r) return { kind: 'tcp', port: port!, timeoutMs: 30_000 };
  if (r.http !== undefined) return { kind: 'http', path: r.http, port: port!, timeoutMs: r.timeoutMs };
  if (r.tcp !== undefined) return { kind: 'tcp', port: r.tcp, timeoutMs: r.timeoutMs };
  return { kind: 'log', text: r.log!, timeoutMs: r.timeoutMs };
}
