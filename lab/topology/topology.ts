import { z } from 'zod';
import {
  DEFAULT_PRESET,
  FirewallSchema,
  LinkSchema,
  NatSchema,
  PRESETS,
  PRESET_NAMES,
  effectiveNat,
  normaliseNat,
  type Firewall,
  type Link,
  type Nat,
  type PresetName,
} from './nat.ts';
import { TopologyError, type Problem } from './errors.ts';

const Name = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,31}$/, 'a name is 1-32 characters: lower-case letters, digits and "-", starting with a letter');

const PresetRef = z.enum(PRESET_NAMES as [PresetName, ...PresetName[]]);

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
        error: (iss) => (typeof iss.input === 'string' ? `unknown preset "${iss.input}"; presets: ${PRESET_NAMES.join(', ')}` : 'a preset name, a NAT object ({ mapping, filtering, … }) or a list of them (double NAT)'),
      })
      .optional(),
    /** A router declared in `routers` (several hosts may share one LAN). Excludes `nat`. */
    behind: Name.optional(),
    firewall: FirewallSchema.optional(),
    link: LinkSchema.optional(),
  })
  .strict();

export const TopologySchema = z
  .object({
    turn: z.array(TurnSchema).min(1).default([{ name: 'turn', provider: 'process' }]),
    routers: z.array(RouterSchema).default([]),
    hosts: z.array(HostSchema).min(1),
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
  firewall: Firewall | null;
  link: Link | null;
}
/** A validated topology with every address assigned: what the network layer builds. */
export interface Topology {
  turn: PlannedTurn[];
  routers: PlannedRouter[];
  hosts: PlannedHost[];
  publicSubnet: string;
}

export const PUBLIC_SUBNET = '198.18.0.0/15';
const PUBLIC_PREFIX = 15;
const MAX_ROUTERS = 200;

/** The default lab: one TURN server and one LAN host behind each preset, named after it. */
export function defaultTopology(presets: readonly PresetName[] = PRESET_NAMES): TopologyInput {
  return { hosts: presets.map((p) => ({ name: p, nat: p })) };
}

/** Name of the second host behind its own router of the same preset (calls between two such NATs). */
export const twinHost = (preset: string): string => `${preset}-2`;

/**
 * The suites' lab: the default one plus a twin of each preset host, so a call between two
 * port-restricted NATs crosses two routers instead of staying on one LAN.
 */
export function suiteTopology(presets: readonly PresetName[] = PRESET_NAMES): TopologyInput {
  return { hosts: [...presets.map((p) => ({ name: p, nat: p })), ...presets.map((p) => ({ name: twinHost(p), nat: p }))] };
}

/** Validates a topology and assigns addresses. Throws a TopologyError listing every problem. */
export function planTopology(input: unknown): Topology {
  const parsed = TopologySchema.safeParse(input);
  if (!parsed.success) {
    throw new TopologyError(
      parsed.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message })),
    );
  }
  const t = parsed.data;
  const problems: Problem[] = [];

  type RouterDraft = Omit<PlannedRouter, 'wanIp' | 'wanPrefix' | 'wanGateway' | 'lanIp' | 'lanPrefix' | 'lanSubnet' | 'lanHosts'> & { path: string };
  const routers: RouterDraft[] = t.routers.map((r, i) => ({
    name: r.name,
    nat: normaliseNat(r.nat),
    firewall: r.firewall ?? null,
    link: r.link ?? null,
    upstream: r.upstream ?? null,
    path: `routers[${i}]`,
  }));
  const hostDrafts: { name: string; preset: PresetName | 'custom'; behind: string | null; firewall: Firewall | null; link: Link | null; path: string }[] = [];

  t.hosts.forEach((h, i) => {
    const path = `hosts[${i}]`;
    if (h.nat !== undefined && h.behind !== undefined) {
      problems.push({ path, message: 'give either "nat" (a private NAT for this host) or "behind" (a shared router), not both' });
    }
    let preset: PresetName | 'custom' = 'custom';
    let chain: Nat[] = [];
    let firewall = h.firewall ?? null;
    if (h.behind === undefined) {
      const nat = h.nat ?? DEFAULT_PRESET;
      if (typeof nat === 'string') {
        preset = nat;
        const p: { chain: readonly z.input<typeof NatSchema>[]; firewall?: z.input<typeof FirewallSchema> } = PRESETS[nat];
        chain = p.chain.map(normaliseNat);
        if (!firewall && p.firewall) firewall = FirewallSchema.parse(p.firewall);
      } else {
        chain = (Array.isArray(nat) ? nat : [nat]).map(normaliseNat);
      }
    }
    // A private chain becomes routers named after the host, innermost first.
    let behind: string | null = h.behind ?? null;
    const own = chain.map((nat, k) => ({
      name: chain.length === 1 ? `${h.name}-nat` : `${h.name}-nat${k + 1}`,
      nat,
      firewall: k === 0 ? firewall : null,
      link: null,
      upstream: null as string | null,
      path: `${path}.nat${Array.isArray(h.nat) ? `[${k}]` : ''}`,
    }));
    own.forEach((r, k) => (r.upstream = own[k + 1]?.name ?? null));
    if (own.length > 0) {
      behind = own[0]!.name;
      firewall = null; // the router applies it
    }
    routers.push(...own);
    hostDrafts.push({ name: h.name, preset, behind, firewall, link: h.link ?? null, path });
  });

  // Names are namespace suffixes: they must be unique across the lab.
  const seen = new Map<string, string>();
  for (const [name, path] of [
    ...t.turn.map((x, i) => [x.name, `turn[${i}].name`] as const),
    ...routers.map((r) => [r.name, `${r.path}.name`] as const),
    ...hostDrafts.map((h) => [h.name, `${h.path}.name`] as const),
  ]) {
    if (name === 'pub') problems.push({ path, message: '"pub" is reserved for the public segment' });
    const first = seen.get(name);
    if (first) problems.push({ path, message: `name "${name}" is already used by ${first}; names must be unique` });
    else seen.set(name, path);
  }

  const byName = new Map(routers.map((r) => [r.name, r]));
  for (const r of routers) {
    if (r.upstream !== null && !byName.has(r.upstream)) {
      problems.push({ path: `${r.path}.upstream`, message: `no router named "${r.upstream}"; declare it under "routers"` });
    }
    checkNat(r.nat, r.path, problems);
    // Walk upstream to catch cycles.
    const visited = new Set<string>();
    for (let cur: RouterDraft | undefined = r; cur; cur = cur.upstream ? byName.get(cur.upstream) : undefined) {
      if (visited.has(cur.name)) {
        problems.push({ path: `${r.path}.upstream`, message: `routers form a cycle through "${cur.name}"` });
        break;
      }
      visited.add(cur.name);
    }
  }
  t.turn.forEach((x, i) => {
    if (x.image !== undefined && x.provider !== 'container') {
      problems.push({ path: `turn[${i}].image`, message: 'an image is only used by provider "container"; add provider: container or remove image' });
    }
  });
  for (const h of hostDrafts) {
    if (h.behind !== null && !byName.has(h.behind)) {
      problems.push({ path: `${h.path}.behind`, message: `no router named "${h.behind}"; declare it under "routers"` });
    }
  }
  if (routers.length > MAX_ROUTERS) problems.push({ path: 'routers', message: `at most ${MAX_ROUTERS} routers` });
  if (problems.length > 0) throw new TopologyError(problems);

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
      firewall: h.firewall ?? (first?.firewall ?? null),
      link: h.link,
    };
  });
  return { turn: plannedTurn, routers: [...plannedRouters.values()], hosts, publicSubnet: PUBLIC_SUBNET };
}

/** Combinations Linux NAT (conntrack + nftables) cannot produce faithfully are errors, not approximations. */
function checkNat(nat: Nat, path: string, problems: Problem[]): void {
  if (nat.mapping === 'address-dependent') {
    problems.push({
      path: `${path}.mapping`,
      message: 'address-dependent mapping is not supported by the lab yet; use "endpoint-independent" or "address-and-port-dependent"',
    });
  }
  if (nat.mapping === 'endpoint-independent' && !nat.portPreservation) {
    problems.push({
      path: `${path}.portPreservation`,
      message: 'endpoint-independent mapping is produced with port preservation; remove "portPreservation: false"',
    });
  }
  if (nat.mapping === 'address-and-port-dependent' && nat.portPreservation) {
    problems.push({
      path: `${path}.portPreservation`,
      message: 'address-and-port-dependent mapping picks random ports; remove "portPreservation: true"',
    });
  }
  if (nat.mapping !== 'endpoint-independent' && nat.filtering !== 'address-and-port-dependent') {
    problems.push({
      path: `${path}.filtering`,
      message: `"${nat.filtering}" filtering needs endpoint-independent mapping (inbound packets must find the LAN port); use "address-and-port-dependent" or change the mapping`,
    });
  }
  if (nat.mapping !== 'endpoint-independent' && nat.hairpinning) {
    problems.push({
      path: `${path}.hairpinning`,
      message: 'hairpinning needs endpoint-independent mapping (the hairpinned packet must find the LAN port); set "hairpinning: false"',
    });
  }
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((s, k) => (typeof k === 'number' ? `${s}[${k}]` : s ? `${s}.${String(k)}` : String(k)), '') || '(topology)';
}
