import { z } from 'zod';
import type { Problem } from './errors.ts';

/** RFC 4787 behaviours, shared by mapping (section 4.1) and filtering (section 5). */
export const BEHAVIOURS = ['endpoint-independent', 'address-dependent', 'address-and-port-dependent'] as const;
export const Behaviour = z.enum(BEHAVIOURS);
export type Behaviour = z.infer<typeof Behaviour>;

/** A NAT in RFC 4787 words. Defaults describe a typical home router (port-restricted cone). */
export const NatSchema = z
  .object({
    mapping: Behaviour.default('endpoint-independent'),
    filtering: Behaviour.default('address-and-port-dependent'),
    /** RFC 4787 section 6: a LAN host can reach another LAN host through the NAT's public mapping. */
    hairpinning: z.boolean().default(true),
    /** Mapped port equals the LAN port when free. Derived from `mapping` when left out. */
    portPreservation: z.boolean().optional(),
    /** Seconds an idle UDP mapping lives (RFC 4787 REQ-5 asks for at least 120). */
    mappingLifetime: z.number().int().min(1).max(86400).default(120),
    /** What the router does with unsolicited inbound packets: drop silently (home routers) or answer ICMP port unreachable. */
    unsolicited: z.enum(['drop', 'reject']).default('drop'),
    /**
     * Static 1:1 NAT (RFC 2663 section 4.1, a cloud's elastic IP): the router's public address is
     * its one LAN client's, every port of it forwarded, TCP as UDP. Needs endpoint-independent
     * mapping and filtering (all ports forwarded is no filtering at all).
     */
    oneToOne: z.boolean().default(false),
  })
  .strict();
export type NatInput = z.input<typeof NatSchema>;
export type Nat = z.infer<typeof NatSchema> & { portPreservation: boolean };

export const FirewallSchema = z
  .object({
    /** `block` drops every UDP packet the LAN sends out. */
    udp: z.enum(['allow', 'block']).default('allow'),
    /** Outbound TCP destination ports allowed; left out = all. */
    tcpPorts: z.array(z.number().int().min(1).max(65535)).min(1).optional(),
  })
  .strict();
export type Firewall = z.infer<typeof FirewallSchema>;
export type FirewallInput = z.input<typeof FirewallSchema>;

/**
 * What a path of firewalls lets out, each applying its rules in turn: UDP unless one blocks it; TCP
 * to the ports every list allows (a list left out allows all, so an empty result allows none).
 * Null when the path has no firewall.
 */
export function combinedFirewall(path: readonly (Firewall | null)[]): Firewall | null {
  const given = path.filter((f): f is Firewall => f !== null);
  if (given.length === 0) return null;
  const lists = given.flatMap((f) => (f.tcpPorts ? [f.tcpPorts] : []));
  const tcpPorts = lists.length ? lists.reduce((acc, l) => acc.filter((p) => l.includes(p))) : null;
  return { udp: given.some((f) => f.udp === 'block') ? 'block' : 'allow', ...(tcpPorts ? { tcpPorts } : {}) };
}

/**
 * Impairment of a link, in both directions: loss is dropped by nftables, rate is a token bucket
 * (tbf), delay and jitter need the kernel's netem qdisc (delay is one-way).
 */
export const LinkSchema = z
  .object({
    delayMs: z.number().min(0).max(10000).default(0),
    jitterMs: z.number().min(0).max(10000).default(0),
    // Dropped in steps of 0.01 % (nftables draws a random number below 10000).
    lossPercent: z
      .number()
      .min(0)
      .max(100)
      .refine((x) => Math.abs(x * 100 - Math.round(x * 100)) < 1e-9, 'at most two decimals (loss is dropped in steps of 0.01 %)')
      .default(0),
    rateKbit: z.number().int().min(8).optional(),
  })
  .strict();
export type Link = z.infer<typeof LinkSchema>;

/** What this machine's kernel can do to a link: loss (nftables) and rate (tbf) need nothing more; delay and jitter need netem. */
export interface LinkSupport {
  netem: boolean;
}

/** One line for `icelab doctor`: which link settings this machine can produce. */
export function describeLinkSupport(support: LinkSupport): string {
  const always = 'lossPercent (nftables) and rateKbit (tbf)';
  return support.netem
    ? `${always}, delayMs and jitterMs (netem)`
    : `${always}; no delayMs or jitterMs: the kernel has no netem qdisc (CONFIG_NET_SCH_NETEM)`;
}

/** Settings of a link this machine cannot produce, each named (`path` is where the link was written). */
export function linkProblems(link: Link, path: string, support: LinkSupport): Problem[] {
  if (support.netem) return [];
  return (['delayMs', 'jitterMs'] as const)
    .filter((k) => link[k] > 0)
    .map((k) => ({
      path: `${path}.${k}`,
      message: "needs the kernel's netem qdisc (CONFIG_NET_SCH_NETEM), which this machine lacks; remove delayMs/jitterMs or run on a kernel with sch_netem",
    }));
}

export { ALL_PRESET_NAMES, DEFAULT_PRESET, PRESETS, PRESET_NAMES, SERVER_PRESET_NAMES, type PresetName } from './presets.ts';

const RANK: Record<Behaviour, number> = {
  'endpoint-independent': 0,
  'address-dependent': 1,
  'address-and-port-dependent': 2,
};
export const stricter = (a: Behaviour, b: Behaviour): Behaviour => (RANK[a] >= RANK[b] ? a : b);

/** Fills defaults; port preservation follows the mapping unless stated. */
export function normaliseNat(input: NatInput): Nat {
  const nat = NatSchema.parse(input);
  return { ...nat, portPreservation: nat.portPreservation ?? nat.mapping === 'endpoint-independent' };
}

/**
 * What a peer behind a chain of NATs (innermost first) sees from outside: the strictest mapping and
 * filtering of the chain; hairpinning only when every NAT hairpins; the shortest lifetime.
 */
export function effectiveNat(chain: readonly Nat[]): Nat | null {
  if (chain.length === 0) return null;
  return chain.reduce((acc, n) => ({
    mapping: stricter(acc.mapping, n.mapping),
    filtering: stricter(acc.filtering, n.filtering),
    hairpinning: acc.hairpinning && n.hairpinning,
    portPreservation: acc.portPreservation && n.portPreservation,
    mappingLifetime: Math.min(acc.mappingLifetime, n.mappingLifetime),
    unsolicited: acc.unsolicited === 'reject' || n.unsolicited === 'reject' ? 'reject' : 'drop',
    // Inbound connections reach the host only when every NAT on the way forwards them.
    oneToOne: acc.oneToOne && n.oneToOne,
  }));
}

/**
 * Combinations Linux NAT (conntrack + nftables) cannot produce faithfully are errors, not approximations.
 * `written` are the keys the user gave: a conflict with a default says so and names the key to change.
 */
export function natProblems(nat: Nat, written: ReadonlySet<string>, path: string): Problem[] {
  const problems: Problem[] = [];
  const at = (key: keyof Nat, message: string) => problems.push({ path: `${path}.${key}`, message });
  const eim = nat.mapping === 'endpoint-independent';
  if (nat.oneToOne) {
    const ei = (key: 'mapping' | 'filtering') => {
      if (nat[key] !== 'endpoint-independent') at(key, `a one-to-one NAT forwards every port, which is endpoint-independent ${key}; set ${key}: endpoint-independent or remove "oneToOne"`);
    };
    ei('mapping');
    ei('filtering');
    if (nat.mapping !== 'endpoint-independent') return problems;
  }
  if (nat.mapping === 'address-dependent') {
    // The mapping has to change anyway: what else depends on it would only repeat that.
    at('mapping', 'address-dependent mapping is not supported by the lab yet; use "endpoint-independent" or "address-and-port-dependent"');
    return problems;
  }
  if (eim && !nat.portPreservation) {
    at(
      'portPreservation',
      written.has('mapping')
        ? 'endpoint-independent mapping is produced with port preservation; remove "portPreservation: false"'
        : 'mapping defaults to endpoint-independent, which the lab produces with port preservation; remove "portPreservation: false", or set mapping: address-and-port-dependent for random ports',
    );
  }
  if (!eim && nat.portPreservation) at('portPreservation', `${nat.mapping} mapping picks random ports; remove "portPreservation: true"`);
  if (!eim && nat.filtering !== 'address-and-port-dependent') {
    at('filtering', `"${nat.filtering}" filtering needs endpoint-independent mapping (inbound packets must find the LAN port); use "address-and-port-dependent" or change the mapping`);
  }
  if (!eim && nat.hairpinning) {
    if (written.has('hairpinning')) at('hairpinning', 'hairpinning needs endpoint-independent mapping (the hairpinned packet must find the LAN port); set "hairpinning: false"');
    else at('mapping', `${nat.mapping} mapping cannot hairpin (the hairpinned packet must find the LAN port) and hairpinning defaults to true: add "hairpinning: false", or use endpoint-independent mapping`);
  }
  return problems;
}
