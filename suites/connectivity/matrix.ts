import { ENGINES, type EngineName } from '../../lab/browsers/engines.ts';
import type { CallSpec, MediaKind } from '../../lab/scenario/call.ts';
import { PRESET_NAMES, type PresetName } from '../../lab/topology/nat.ts';
import { lanesOf, presetHost } from '../../lab/topology/topology.ts';
import type { IceTransport } from '../../lab/turn/coturn.ts';

/** The ICE configurations of the matrix, by the name reports and `--ice` use. */
export const ICE_CONFIGS = {
  stun: { ice: ['stun'], policy: 'all' },
  'turn-udp': { ice: ['stun', 'turn-udp'], policy: 'all' },
  'turn-tcp': { ice: ['stun', 'turn-tcp'], policy: 'all' },
  turns: { ice: ['stun', 'turns-tcp'], policy: 'all' },
  'relay-only': { ice: ['turn-udp'], policy: 'relay' },
} as const satisfies Record<string, { ice: readonly IceTransport[]; policy: 'all' | 'relay' }>;
export type IceConfigName = keyof typeof ICE_CONFIGS;

export interface MatrixCase {
  id: string;
  a: { engine: EngineName; preset: PresetName };
  b: { engine: EngineName; preset: PresetName };
  iceName: IceConfigName;
  spec: CallSpec;
}

/**
 * The PR selection: the cases that tell the NAT classes apart (direct srflx, the symmetric
 * failure and its relay rescue, prflx through a full cone, TCP relay through a UDP-blocking
 * firewall, TLS relay, relay-only, double NAT), each for every ordered engine pair.
 */
export const PR_NAT_CASES: readonly [PresetName, PresetName, IceConfigName][] = [
  ['port-restricted-cone', 'port-restricted-cone', 'stun'],
  ['symmetric', 'port-restricted-cone', 'stun'],
  ['symmetric', 'port-restricted-cone', 'turn-udp'],
  ['symmetric', 'full-cone', 'stun'],
  ['udp-blocked', 'open', 'turn-tcp'],
  ['double-nat', 'restricted-cone', 'turns'],
  ['port-restricted-cone', 'symmetric', 'relay-only'],
];

/**
 * What flows. The PR selection checks data, audio and video on every call; the full selection
 * checks data and audio: they share the transport the pair class is about (bundle), and video
 * encoding was the CPU cost that bounds how many of its 560 calls a small machine runs at once.
 */
const MEDIA: Record<'pr' | 'full', readonly MediaKind[]> = { pr: ['data', 'audio', 'video'], full: ['data', 'audio'] };

/** Every unordered preset pair (both orders are the engines' job) × every ICE configuration. */
function fullNatCases(): [PresetName, PresetName, IceConfigName][] {
  const out: [PresetName, PresetName, IceConfigName][] = [];
  PRESET_NAMES.forEach((p, i) => PRESET_NAMES.slice(i).forEach((q) => (Object.keys(ICE_CONFIGS) as IceConfigName[]).forEach((ice) => out.push([p, q, ice]))));
  return out;
}

export function caseId(c: Pick<MatrixCase, 'a' | 'b' | 'iceName'>): string {
  return `connectivity/${c.a.engine}@${c.a.preset}--${c.b.engine}@${c.b.preset}/${c.iceName}`;
}

/**
 * Each case's hosts: a preset's first host, or its twin when both ends have that preset. The
 * cases of a preset with several lanes (SUITE_LANES; the full selection only: the PR selection's
 * few udp-blocked calls would only add browser launches) take them in turn, in id order, so a
 * case always runs on the same hosts and its command reproduces it.
 */
function assignHosts(cases: MatrixCase[], lanes: (p: PresetName) => number): void {
  const next = new Map<PresetName, number>();
  for (const c of cases) {
    const laned = [c.a.preset, c.b.preset].find((p) => lanes(p) > 1);
    const lane = laned ? (next.get(laned) ?? 0) : 0;
    if (laned) next.set(laned, (lane + 1) % lanes(laned));
    const host = (p: PresetName, twin: boolean) => presetHost(p, 2 * (lane % lanes(p)) + Number(twin));
    c.spec.a.host = host(c.a.preset, false);
    c.spec.b.host = host(c.b.preset, c.a.preset === c.b.preset);
  }
}

/**
 * The matrix as data: ordered engine pairs × NAT cases. Sharding is deterministic: cases sorted by
 * id, shard i of n takes every n-th from position i, so n machines cover the matrix exactly once.
 */
export function matrixCases(opts: { engines: readonly EngineName[]; selection: 'pr' | 'full'; shard?: { index: number; total: number } | null; connectTimeoutMs?: number }): MatrixCase[] {
  const nat = opts.selection === 'full' ? fullNatCases() : PR_NAT_CASES;
  const engines = ENGINES.filter((e) => opts.engines.includes(e));
  const cases: MatrixCase[] = [];
  for (const ea of engines) {
    for (const eb of engines) {
      for (const [pa, pb, iceName] of nat) {
        const cfg = ICE_CONFIGS[iceName];
        const a = { engine: ea, preset: pa };
        const b = { engine: eb, preset: pb };
        cases.push({
          id: caseId({ a, b, iceName }),
          a,
          b,
          iceName,
          spec: { a: { engine: ea, host: pa }, b: { engine: eb, host: pb }, ice: cfg.ice, policy: cfg.policy, media: MEDIA[opts.selection], connectTimeoutMs: opts.connectTimeoutMs ?? 5000 },
        });
      }
    }
  }
  cases.sort((x, y) => (x.id < y.id ? -1 : 1));
  assignHosts(cases, opts.selection === 'full' ? lanesOf : () => 1);
  const s = opts.shard;
  return s ? cases.filter((_, i) => i % s.total === s.index - 1) : cases;
}
