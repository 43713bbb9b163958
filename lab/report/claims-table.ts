import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { ENGINES } from '../browsers/engines.ts';
import { LabError } from '../topology/errors.ts';
import { escapeHtml as esc } from './html.ts';
import { reportsDir } from './results.ts';

/**
 * The claims table: each factual claim of the seed guide and what every engine actually does.
 * The API suite writes it (reports/claims.json); the report builder and `icelab suite` read it.
 */
export const VERDICTS = ['true', 'false', 'unavailable', 'error'] as const;
export type Verdict = (typeof VERDICTS)[number];

const VerdictSchema = z.object({ verdict: z.enum(VERDICTS), detail: z.string() }).strict();
const ClaimRowSchema = z
  .object({
    id: z.string().min(1),
    claim: z.string().min(1),
    source: z.string().regex(/^seed\/[^:]+:\d+$/, 'use seed/<file>:<line>'),
    verdicts: z.partialRecord(z.enum(ENGINES), VerdictSchema),
  })
  .strict();
export const ClaimsFileSchema = z
  .object({
    generated: z.iso.datetime(),
    engines: z.partialRecord(z.enum(ENGINES), z.string().nullable()),
    claims: z.array(ClaimRowSchema),
  })
  .strict();
export type ClaimVerdict = z.infer<typeof VerdictSchema>;
export type ClaimRow = z.infer<typeof ClaimRowSchema>;
export type ClaimsFile = z.infer<typeof ClaimsFileSchema>;

/** claims.json in the reports directory (ICELAB_REPORTS_DIR, default <cwd>/reports). */
export const claimsFile = (env = process.env): string => join(reportsDir(env), 'claims.json');

export function writeClaims(data: ClaimsFile, file = claimsFile()): string {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(ClaimsFileSchema.parse(data), null, 2)}\n`);
  return file;
}

export function readClaims(file = claimsFile()): ClaimsFile {
  if (!existsSync(file)) {
    throw new LabError('ERR_CLAIMS_MISSING', `no claims table at ${file}`, { hint: 'run the API suite first: npx icelab suite api (it writes reports/claims.json)' });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new LabError('ERR_CLAIMS_INVALID', `${file}: not JSON (${(e as Error).message})`, { cause: e, hint: 'rerun the API suite to rewrite it' });
  }
  const parsed = ClaimsFileSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `[${i.path.join('.')}] ${i.message}`).join('; ');
    throw new LabError('ERR_CLAIMS_INVALID', `${file}: ${problems}`, { hint: 'rerun the API suite to rewrite it' });
  }
  return parsed.data;
}

type Input = ClaimsFile | readonly ClaimRow[];
const rowsOf = (c: Input): readonly ClaimRow[] => ('claims' in c ? c.claims : c);
/** Engines as columns: those the file lists, else those any row has, in the usual order. */
function enginesOf(c: Input): string[] {
  const named = 'claims' in c ? Object.keys(c.engines) : [];
  const seen = new Set([...named, ...rowsOf(c).flatMap((r) => Object.keys(r.verdicts))]);
  return ENGINES.filter((e) => seen.has(e));
}
const versionOf = (c: Input, e: string): string | null => ('claims' in c ? (c.engines[e as keyof ClaimsFile['engines']] ?? null) : null);
const headerOf = (c: Input, e: string): string => {
  const v = versionOf(c, e);
  return v ? `${e} ${v.split('.')[0]}` : e;
};
const MARK: Record<Verdict, string> = { true: 'true', false: 'FALSE', unavailable: 'n/a', error: 'ERROR' };

const clip = (s: string, n: number): string => (s.length <= n ? s : `${s.slice(0, n - 1)}…`);

/** A plain-text table for the terminal: claim, source line, one verdict column per engine, then the false ones explained. */
export function formatClaimsTable(claims: Input): string {
  const rows = rowsOf(claims);
  const engines = enginesOf(claims);
  const head = ['claim', 'source', ...engines.map((e) => headerOf(claims, e))];
  const body = rows.map((r) => [clip(r.claim.replace(/`/g, ''), 70), r.source.replace(/^seed\/[^:]+:/, 'line '), ...engines.map((e) => (r.verdicts[e as keyof ClaimRow['verdicts']] ? MARK[r.verdicts[e as keyof ClaimRow['verdicts']]!.verdict] : '-'))]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  const out = [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)];
  const notes = rows.flatMap((r) =>
    engines.flatMap((e) => {
      const v = r.verdicts[e as keyof ClaimRow['verdicts']];
      return v && v.verdict !== 'true' && v.verdict !== 'unavailable' ? [`  ${r.id} [${e}] ${v.verdict}: ${v.detail}`] : [];
    }),
  );
  const counts = engines.map((e) => {
    const vs = rows.map((r) => r.verdicts[e as keyof ClaimRow['verdicts']]?.verdict);
    const n = (v: Verdict) => vs.filter((x) => x === v).length;
    return `${e}: ${n('true')} true, ${n('false')} false${n('error') ? `, ${n('error')} error` : ''}${n('unavailable') ? `, ${n('unavailable')} unavailable` : ''}`;
  });
  return [...out, '', `${rows.length} claims — ${counts.join('; ')}`, ...(notes.length ? ['', 'Where a claim does not hold:', ...notes] : [])].join('\n') + '\n';
}

const COLOURS: Record<Verdict | 'none', string> = { true: '#d4f4dd', false: '#f9d0d0', unavailable: '#e4e4e4', error: '#f9d0d0', none: '#e4e4e4' };

/** A self-contained HTML page (inline styles only): green true, red false/error, grey unavailable. */
export function claimsTableHtml(claims: Input): string {
  const rows = rowsOf(claims);
  const engines = enginesOf(claims);
  const generated = 'claims' in claims ? claims.generated : null;
  const th = (s: string) => `<th style="text-align:left;padding:4px 8px;border-bottom:2px solid #888">${esc(s)}</th>`;
  const cell = (v: ClaimVerdict | undefined) => {
    const bg = COLOURS[v?.verdict ?? 'none'];
    const weight = v?.verdict === 'false' || v?.verdict === 'error' ? 'bold' : 'normal';
    return `<td style="background:${bg};padding:4px 8px;vertical-align:top;border-bottom:1px solid #ccc"><span style="font-weight:${weight}">${esc(v?.verdict ?? '-')}</span>${v?.detail ? `<br><small>${esc(v.detail)}</small>` : ''}</td>`;
  };
  const td = (s: string) => `<td style="padding:4px 8px;vertical-align:top;border-bottom:1px solid #ccc">${s}</td>`;
  const body = rows
    .map((r) => `<tr data-claim="${esc(r.id)}">${td(`${esc(r.claim)}<br><small style="color:#666">${esc(r.id)}</small>`)}${td(`<code>${esc(r.source)}</code>`)}${engines.map((e) => cell(r.verdicts[e as keyof ClaimRow['verdicts']])).join('')}</tr>`)
    .join('\n');
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>icelab claims table</title></head>
<body style="font-family:sans-serif;font-size:14px">
<h2>Seed guide claims, per engine</h2>
${generated ? `<p style="color:#666">generated ${esc(generated)}</p>` : ''}
<table style="border-collapse:collapse">
<thead><tr>${th('claim')}${th('source')}${engines.map((e) => th(headerOf(claims, e))).join('')}</tr></thead>
<tbody>
${body}
</tbody></table>
</body></html>
`;
}
