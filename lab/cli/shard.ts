import { LabError } from '../topology/errors.ts';

/** Parses `i/n` (1-based). */
export function parseShard(v: string | undefined): { index: number; total: number } | null {
  if (!v) return null;
  const m = /^(\d+)\/(\d+)$/.exec(v);
  const index = Number(m?.[1]);
  const total = Number(m?.[2]);
  if (!m || total < 1 || index < 1 || index > total) throw new LabError('ERR_BAD_SHARD', `--shard: "${v}" is not i/n with 1 ≤ i ≤ n`, { hint: 'e.g. --shard 2/4 runs the second of four parts' });
  return { index, total };
}
