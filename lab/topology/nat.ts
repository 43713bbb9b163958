import { z } from 'zod';

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

/** netem impairment of a link, applied in both directions (delay is one-way). */
export const LinkSchema = z
  .object({
    delayMs: z.number().min(0).max(10000).default(0),
    jitterMs: z.number().min(0).max(10000).default(0),
    lossPercent: z.number().min(0).max(100).default(0),
    rateKbit: z.number().int().min(8).optional(),
  })
  .strict();
export type Link = z.infer<typeof LinkSchema>;

/** Familiar NAT names, each a shortcut for RFC 4787 values. `open` means no NAT. */
export const PRESETS = {
  open: { chain: [] },
  'full-cone': { chain: [{ mapping: 'endpoint-independent', filtering: 'endpoint-independent' }] },
  'restricted-cone': { chain: [{ mapping: 'endpoint-independent', filtering: 'address-dependent' }] },
  'port-restricted-cone': { chain: [{ mapping: 'endpoint-independent', filtering: 'address-and-port-dependent' }] },
  symmetric: {
    chain: [{ mapping: 'address-and-port-dependent', filtering: 'address-and-port-dependent', hairpinning: false }],
  },
  'udp-blocked': {
    chain: [{ mapping: 'endpoint-independent', filtering: 'address-and-port-dependent' }],
    firewall: { udp: 'block', tcpPorts: [80, 443] },
  },
  /** A home NAT (port-restricted cone) behind a carrier-grade NAT (RFC 6888: endpoint-independent mapping). */
  'double-nat': {
    chain: [
      { mapping: 'endpoint-independent', filtering: 'address-and-port-dependent' },
      { mapping: 'endpoint-independent', filtering: 'address-and-port-dependent', hairpinning: false },
    ],
  },
} as const satisfies Record<string, { chain: readonly NatInput[]; firewall?: z.input<typeof FirewallSchema> }>;
export type PresetName = keyof typeof PRESETS;
export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];
export const DEFAULT_PRESET: PresetName = 'port-restricted-cone';

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
  }));
}
