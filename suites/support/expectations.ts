import { existsSync, readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { LabError } from '../../lab/topology/errors.ts';
import { ENGINES, type EngineName } from '../../lab/browsers/engines.ts';
import { PRESET_NAMES } from '../../lab/topology/nat.ts';
import { RELAY_FIRST_PENDING } from '../../lab/scenario/verdict.ts';

/**
 * Known deviations, so CI gates only on the unexpected. An entry says: for tests whose id matches
 * `test` and that involve `engine` (within `versions`), the observed result is `result` instead of
 * what the spec (or the oracle) says (`insteadOf`, when given), because of `reason`. A result that
 * matches an entry is "known"; a result that differs from it — including the spec result, i.e. a
 * deviation that went away — fails the run so the file gets updated. `sometimes` entries are the
 * exception: the spec result passes too, so one that no longer happens fails nothing.
 *
 * A connectivity entry names one call (no `*`, NAT presets spelled out) and the prediction it stands
 * in for (`insteadOf`), and is accepted there and nowhere else. A relay nominated while the direct
 * path was still being checked is no entry: the same call with STUN only decides it (runCall).
 */
/** connectivity/<engine>@<preset>--<engine>@<preset>/<ice>[/flow] (suites/connectivity/matrix.ts caseId). */
const CONNECTIVITY_ID = /^connectivity\/[a-z]+@([a-z-]+)--[a-z]+@([a-z-]+)\/[a-z-]+(\/[a-z]+)?$/;

export const ExpectationSchema = z
  .object({
    test: z.string().min(1).describe('test id; * matches any run of characters'),
    engine: z.enum(ENGINES).optional(),
    versions: z
      .string()
      .regex(/^(\s*(<|<=|>|>=|=)?\d+\s*)+$/, 'use major-version comparisons like ">=150 <160"')
      .optional(),
    result: z.string().min(1),
    /** The spec result (the oracle's prediction) this entry replaces; it applies to no other. */
    insteadOf: z.string().min(1).optional(),
    /** A timing-dependent deviation: the spec result passes too, instead of counting as fixed. */
    sometimes: z.boolean().optional(),
    reason: z.string().min(10, 'say why the engine deviates (a bug link or the behaviour seen)'),
  })
  .strict()
  .superRefine((e, ctx) => {
    if (!e.test.startsWith('connectivity/')) return;
    const m = CONNECTIVITY_ID.exec(e.test);
    if (!m || e.test.includes('*') || ![m[1], m[2]].every((p) => (PRESET_NAMES as string[]).includes(p!))) {
      ctx.addIssue({ code: 'custom', path: ['test'], message: `"${e.test}": a connectivity entry names one call, connectivity/<engine>@<preset>--<engine>@<preset>/<ice>, with NAT presets of ${PRESET_NAMES.join(', ')} and no *` });
    }
    if (!e.insteadOf) ctx.addIssue({ code: 'custom', path: ['insteadOf'], message: 'a connectivity entry says which predicted class it replaces (insteadOf: srflx)' });
    if (e.result.endsWith(RELAY_FIRST_PENDING)) {
      ctx.addIssue({ code: 'custom', path: ['result'], message: `"${e.result}" is decided by the same call with STUN only (lab/scenario/call.ts runCall), not listed: remove the entry` });
    }
  });
export type Expectation = z.infer<typeof ExpectationSchema>;

export const EXPECTATIONS_FILE = new URL('../expectations.yaml', import.meta.url).pathname;

export function loadExpectations(file = EXPECTATIONS_FILE): Expectation[] {
  if (!existsSync(file)) return [];
  const parsed = z.array(ExpectationSchema).safeParse(parseYaml(readFileSync(file, 'utf8')) ?? []);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `[${i.path.join('.')}] ${i.message}`).join('; ');
    throw new LabError('ERR_EXPECTATIONS_INVALID', `${file}: ${problems}`, { hint: 'each entry needs test, result and reason (connectivity entries: one call by name and insteadOf); engine, versions and sometimes are optional' });
  }
  return parsed.data;
}

const major = (v: string) => Number(/^(\d+)/.exec(v)?.[1] ?? NaN);
export function versionMatches(range: string | undefined, version: string): boolean {
  if (!range) return true;
  const v = major(version);
  return [...range.matchAll(/(<=|>=|<|>|=)?\s*(\d+)/g)].every(([, op = '=', n]) => {
    const x = Number(n);
    return { '<': v < x, '<=': v <= x, '>': v > x, '>=': v >= x, '=': v === x }[op]!;
  });
}

const globToRegExp = (g: string) => new RegExp(`^${g.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);

export interface Participant {
  engine: EngineName;
  version: string;
}
export interface Judgement {
  /** pass: as the spec says; known: a listed deviation; unexpected: neither; fixed: a listed deviation no longer seen. */
  status: 'pass' | 'known' | 'unexpected' | 'fixed';
  expected: string;
  observed: string;
  reason?: string;
}

/** Compares an observed result with the spec's and with the known deviations for the engines involved. */
export function judge(list: readonly Expectation[], id: string, who: readonly Participant[], observed: string, specResult: string): Judgement {
  // A test without browsers (a TURN server check) matches entries that name no engine.
  const entry = list.find(
    (e) =>
      globToRegExp(e.test).test(id) &&
      (!e.insteadOf || e.insteadOf === specResult) &&
      (who.length === 0 ? !e.engine : who.some((p) => (!e.engine || e.engine === p.engine) && versionMatches(e.versions, p.version))),
  );
  if (!entry || (entry.sometimes && observed === specResult)) return { status: observed === specResult ? 'pass' : 'unexpected', expected: specResult, observed };
  if (observed === entry.result) return { status: 'known', expected: entry.result, observed, reason: entry.reason };
  return { status: observed === specResult ? 'fixed' : 'unexpected', expected: entry.result, observed, reason: entry.reason };
}
