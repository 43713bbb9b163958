import type { FirewallInput, NatInput } from './nat.ts';

// Plain data, no zod: `icelab --help` lists the presets without loading the schema.
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
} as const satisfies Record<string, { chain: readonly NatInput[]; firewall?: FirewallInput }>;
export type PresetName = keyof typeof PRESETS;
export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];
export const DEFAULT_PRESET: PresetName = 'port-restricted-cone';
