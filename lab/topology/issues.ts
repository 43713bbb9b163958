import { z } from 'zod';
import type { Problem } from './errors.ts';

type Issue = z.core.$ZodIssue;
type Path = readonly PropertyKey[];

/**
 * zod's issues, with each failed union replaced by the issues of the branch the value took (a list
 * for a list, an object for an object), so a mistake inside a NAT chain is reported where it is.
 */
export function resolveUnions(issues: readonly Issue[]): Issue[] {
  return issues.flatMap((i) => {
    if (i.code !== 'invalid_union') return [i];
    // A branch whose value had the wrong type or was not one of its literals is not the one meant.
    const meant = i.errors.filter((branch) => !branch.some((b) => b.path.length === 0 && (b.code === 'invalid_type' || b.code === 'invalid_value')));
    if (meant.length !== 1) return [i];
    return resolveUnions(meant[0]!.map((b) => ({ ...b, path: [...i.path, ...b.path] })));
  });
}

/** One problem per issue, and per unknown key (with the nearest allowed key when one is close). */
export function problemsOf(issues: readonly Issue[], root: z.ZodType, input: unknown): Problem[] {
  return issues.flatMap((i): Problem[] => {
    if (i.code === 'unrecognized_keys') {
      const allowed = keysAt(root, i.path, input);
      return i.keys.map((k) => ({ path: formatPath([...i.path, k]), message: unknownKey(k, allowed) }));
    }
    const missing = i.code === 'invalid_type' && valueAt(input, i.path) === undefined;
    return [{ path: formatPath(i.path), message: missing ? `required (${i.expected})` : i.message }];
  });
}

/** The input without the keys zod did not recognise: what is left is checked further, not thrown away. */
export function withoutUnknownKeys(input: unknown, issues: readonly Issue[]): unknown {
  return issues.reduce((v, i) => (i.code === 'unrecognized_keys' ? omitAt(v, i.path, i.keys) : v), input);
}

function formatPath(path: Path): string {
  return path.reduce<string>((s, k) => (typeof k === 'number' ? `${s}[${k}]` : s ? `${s}.${String(k)}` : String(k)), '') || '(topology)';
}

export const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The fields of an object that pass their own schema; the others are left out (their problems are reported already). */
export function validFields<S extends z.ZodObject>(schema: S, value: unknown): Partial<z.output<S>> {
  const raw = isRecord(value) ? value : {};
  const out: Record<string, unknown> = {};
  for (const [k, field] of Object.entries(schema.shape)) {
    const r = field.safeParse(raw[k]);
    if (r.success && r.data !== undefined) out[k] = r.data;
  }
  return out as Partial<z.output<S>>;
}

function unknownKey(key: string, allowed: readonly string[]): string {
  const near = nearest(key, allowed);
  if (near) return `unknown key; did you mean "${near}"?`;
  return allowed.length ? `unknown key; allowed here: ${allowed.join(', ')}` : 'unknown key';
}

/** The allowed key a typo most likely meant: a small edit away, or the start of it ("delay" → "delayMs"). */
export function nearest(key: string, allowed: readonly string[]): string | null {
  const k = key.toLowerCase();
  const scored = allowed.map((a) => ({ a, d: a.toLowerCase().startsWith(k) && k.length >= 3 ? 0.5 : editDistance(k, a.toLowerCase()) }));
  const best = scored.sort((x, y) => x.d - y.d)[0];
  return best && best.d <= Math.min(2, Math.max(1, Math.floor(key.length / 3))) ? best.a : null;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours ("nta" → "nat" is 1). */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** Keys of the object schema that describes the value at `path` (unions resolved by the value's shape). */
function keysAt(root: z.ZodType, path: Path, input: unknown): string[] {
  let schema = concrete(root, input);
  let value = input;
  for (const k of path) {
    value = isRecord(value) || Array.isArray(value) ? (value as Record<PropertyKey, unknown>)[k] : undefined;
    if (schema instanceof z.ZodObject && typeof k === 'string') schema = concrete(schema.shape[k] as z.ZodType, value);
    else if (schema instanceof z.ZodArray) schema = concrete(schema.element as z.ZodType, value);
    else return [];
  }
  return schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
}

function concrete(schema: z.ZodType, value: unknown): z.ZodType {
  if (schema instanceof z.ZodDefault || schema instanceof z.ZodOptional) return concrete(schema.unwrap() as z.ZodType, value);
  if (schema instanceof z.ZodUnion) {
    const options = schema.options as readonly z.ZodType[];
    const fit = options.find((o) => (Array.isArray(value) ? o instanceof z.ZodArray : isRecord(value) && o instanceof z.ZodObject));
    return fit ? concrete(fit, value) : schema;
  }
  return schema;
}

function valueAt(input: unknown, path: Path): unknown {
  return path.reduce<unknown>((v, k) => (isRecord(v) || Array.isArray(v) ? (v as Record<PropertyKey, unknown>)[k] : undefined), input);
}

function omitAt(value: unknown, path: Path, keys: readonly string[]): unknown {
  if (path.length === 0) return isRecord(value) ? Object.fromEntries(Object.entries(value).filter(([k]) => !keys.includes(k))) : value;
  const [head, ...rest] = path;
  if (Array.isArray(value) && typeof head === 'number') return value.map((v, i) => (i === head ? omitAt(v, rest, keys) : v));
  if (isRecord(value) && typeof head === 'string') return { ...value, [head]: omitAt(value[head], rest, keys) };
  return value;
}
