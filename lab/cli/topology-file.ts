import { usage } from './usage.ts';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { LabError, TopologyError } from '../topology/errors.ts';
import { PRESET_NAMES, type PresetName } from '../topology/nat.ts';
import { checkLinks, defaultTopology, planTopology, type Topology, type TopologyInput, type TurnProviderName } from '../topology/topology.ts';
import { probeLinkSupport } from '../network/link-support.ts';

/** What `--topology` names: a comma-separated preset list, or a JSON/YAML file. */
export interface TopologyArg {
  topology: Topology;
  /** The file it came from; null for presets (the default lab's host names). */
  file: string | null;
}

function readFile(path: string): unknown {
  const json = path.endsWith('.json');
  const text = readFileSync(path, 'utf8');
  try {
    return json ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new LabError('ERR_TOPOLOGY_FILE', `--topology: ${path} is not valid ${json ? 'JSON' : 'YAML'}: ${(e as Error).message.split('\n')[0]}`, {
      hint: 'fix the syntax error above (README, "Topology files", shows the format)',
    });
  }
}


export function parseTurnProvider(v: string | undefined): TurnProviderName | undefined {
  if (v === undefined || v === 'process' || v === 'container') return v;
  throw usage(`--turn: "${v}" is not a TURN provider`, "use --turn process (the machine's coturn, default) or --turn container (scripts/build-images first)");
}

/** `--turn` given on the command line replaces the provider of every TURN server of the topology. */
function withProvider(input: unknown, turn: TurnProviderName | undefined): unknown {
  if (!turn || typeof input !== 'object' || input === null) return input;
  const t = input as { turn?: unknown };
  const servers = Array.isArray(t.turn) ? (t.turn as Record<string, unknown>[]) : [{}];
  return { ...t, turn: servers.map((s) => ({ ...s, provider: turn })) };
}

/** A service's relative `cwd` is where the file's author meant it: next to the file, not where icelab runs. */
function cwdsFrom(input: unknown, dir: string): unknown {
  if (typeof input !== 'object' || input === null) return input;
  const t = input as { services?: unknown };
  if (!Array.isArray(t.services)) return input;
  const services = (t.services as unknown[]).map((s) => {
    const cwd = typeof s === 'object' && s !== null ? (s as { cwd?: unknown }).cwd : undefined;
    return typeof cwd === 'string' && cwd !== '' ? { ...(s as object), cwd: resolve(dir, cwd) } : s;
  });
  return { ...t, services };
}

/** Reads and plans `--topology` (presets or a file): every problem is reported with the file it is in. */
export function loadTopology(arg: string | undefined, opts: { turn?: TurnProviderName | undefined } = {}): TopologyArg {
  if (arg && existsSync(arg)) {
    try {
      return { topology: planTopology(withProvider(cwdsFrom(readFile(arg), dirname(arg)), opts.turn)), file: arg };
    } catch (e) {
      throw e instanceof TopologyError ? new TopologyError([...e.problems], arg) : e;
    }
  }
  const names = arg ? arg.split(',').map((s) => s.trim()) : PRESET_NAMES;
  const unknown = names.filter((n) => !(PRESET_NAMES as string[]).includes(n));
  if (unknown.length) {
    const looksLikeFile = /[/.]/.test(arg!);
    const what = looksLikeFile ? `no such file ${arg}` : `unknown preset ${unknown.map((u) => `"${u}"`).join(', ')} (and no such file)`;
    throw new LabError('ERR_UNKNOWN_PRESET', `--topology: ${what}`, {
      hint: `use presets from: ${PRESET_NAMES.join(', ')}, or a path to a JSON/YAML topology file`,
    });
  }
  const input: TopologyInput = defaultTopology(names as PresetName[]);
  return { topology: planTopology(withProvider(input, opts.turn)), file: null };
}

/** Refuses links this machine cannot produce (delay without netem), naming the file. Probes the kernel: needs root. */
export async function checkMachineLinks(arg: TopologyArg): Promise<void> {
  try {
    checkLinks(arg.topology, await probeLinkSupport());
  } catch (e) {
    throw e instanceof TopologyError && arg.file ? new TopologyError([...e.problems], arg.file) : e;
  }
}
