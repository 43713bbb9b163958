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
  /** A server with a cloud's elastic IP: static 1:1 NAT, every port of the public address forwarded to the one host behind it. */
  'one-to-one': { chain: [{ mapping: 'endpoint-independent', filtering: 'endpoint-independent', oneToOne: true }] },
} as const satisfies Record<string, { chain: readonly NatInput[]; firewall?: FirewallInput }>;
export type PresetName = keyof typeof PRESETS;
/** NATs a server sits behind, not a client: the default lab and the suites' matrix leave them out. */
export const SERVER_PRESET_NAMES: readonly PresetName[] = ['one-to-one'];
/** The clients' NATs: one host each in the default lab, every pair of them in the connectivity matrix. */
export const PRESET_NAMES = (Object.keys(PRESETS) as PresetName[]).filter((p) => !SERVER_PRESET_NAMES.includes(p));
/** Every preset a topology may name. */
export const ALL_PRESET_NAMES = Object.keys(PRESETS) as PresetName[];
export const DEFAULT_PRESET: PresetName = 'port-restricted-cone';
