import { ENGINES } from '../browsers/engines.ts';
import { PRESET_NAMES } from '../topology/nat.ts';
import { escapeHtml as esc } from './html.ts';
import { label, outcomeOf, OUTCOMES, parameter, SETTLED_PARAMETER, unavailableReason, knownReason, type AllureResult, type Outcome } from './results.ts';

/** One test in a grid cell: the ICE configuration it ran with, the class its pair settled on, how it ended. */
export interface GridEntry {
  ice: string;
  /** null when the call never got that far (engine unavailable, lab broken). */
  settled: string | null;
  outcome: Outcome;
  test: string;
  detail: string;
}
/** Connectivity results as a grid: one row per NAT pair, one column per ordered engine pair. */
export interface OverviewGrid {
  natPairs: string[];
  enginePairs: string[];
  /** Keyed by `cellKey(natPair, enginePair)`. */
  cells: Record<string, GridEntry[]>;
}

export const cellKey = (natPair: string, enginePair: string): string => `${natPair}|${enginePair}`;

export const OUTCOME_STYLE: Record<Outcome, { fill: string; text: string; tint: string; label: string }> = {
  passed: { fill: '#2e9d4f', text: '#fff', tint: '#e3f4e8', label: 'passed' },
  known: { fill: '#c98f00', text: '#fff', tint: '#fbf0d2', label: 'known deviation' },
  failed: { fill: '#d0342c', text: '#fff', tint: '#fbe1df', label: 'unexpected failure' },
  broken: { fill: '#7d3c98', text: '#fff', tint: '#efe3f4', label: 'lab broken' },
  unavailable: { fill: '#8a9096', text: '#fff', tint: '#eceef0', label: 'engine unavailable' },
  skipped: { fill: '#c8ccd0', text: '#222', tint: '#f4f5f6', label: 'skipped' },
};

/** What a cell is coloured by: its worst result (a failure outweighs everything else). */
const SEVERITY: readonly Outcome[] = ['failed', 'broken', 'known', 'unavailable', 'skipped', 'passed'];
export const worstOutcome = (entries: readonly GridEntry[]): Outcome | null =>
  SEVERITY.find((o) => entries.some((e) => e.outcome === o)) ?? null;

const rank = (order: readonly string[], v: string) => (order.includes(v) ? order.indexOf(v) : order.length);
const byOrder = (order: readonly string[]) => (a: string, b: string) => rank(order, a) - rank(order, b) || a.localeCompare(b);

/** Builds the grid from results labelled by `labelCall` (engineA/B, natA/B, iceTransport); others are left out. */
export function overviewGrid(results: readonly AllureResult[]): OverviewGrid {
  const cells: Record<string, GridEntry[]> = {};
  const rows: [string, string][] = [];
  const cols: [string, string][] = [];
  for (const r of results) {
    const [ea, eb, na, nb] = ['engineA', 'engineB', 'natA', 'natB'].map((n) => label(r, n));
    if (!ea || !eb || !na || !nb) continue;
    const natPair = `${na} ↔ ${nb}`;
    const enginePair = `${ea} → ${eb}`;
    if (!rows.some(([a, b]) => a === na && b === nb)) rows.push([na, nb]);
    if (!cols.some(([a, b]) => a === ea && b === eb)) cols.push([ea, eb]);
    const outcome = outcomeOf(r);
    const detail = unavailableReason(r) ?? knownReason(r) ?? r.statusDetails?.message ?? outcome;
    (cells[cellKey(natPair, enginePair)] ??= []).push({ ice: label(r, 'iceTransport') ?? '?', settled: parameter(r, SETTLED_PARAMETER) ?? null, outcome, test: r.name, detail });
  }
  for (const list of Object.values(cells)) list.sort((a, b) => a.ice.localeCompare(b.ice));
  const pairOrder = (order: readonly string[]) => ([a1, b1]: [string, string], [a2, b2]: [string, string]) => byOrder(order)(a1, a2) || byOrder(order)(b1, b2);
  return {
    natPairs: rows.sort(pairOrder(PRESET_NAMES)).map(([a, b]) => `${a} ↔ ${b}`),
    enginePairs: cols.sort(pairOrder(ENGINES)).map(([a, b]) => `${a} → ${b}`),
    cells,
  };
}

/** What a chip says: the ICE configuration and, once the call got that far, what it settled on. */
export const chipText = (e: GridEntry): string => (e.settled ? `${e.ice} → ${e.settled}` : e.ice);

// Width estimate for 12 px sans-serif text (bold headers: 8.5 px a character), generous so labels never overflow their boxes.
const textWidth = (s: string): number => s.length * 7;

/** The grid as a standalone SVG picture: rows NAT pairs, columns engine pairs, one chip per ICE configuration and its settled class. */
export function overviewSvg(grid: OverviewGrid, title = 'icelab connectivity matrix'): string {
  const chipW = (e: GridEntry) => textWidth(chipText(e)) + 12;
  const cellW = Math.max(120, ...grid.enginePairs.map((c) => Math.ceil(c.length * 8.5) + 16), ...Object.values(grid.cells).map((l) => l.reduce((w, e) => w + chipW(e) + 4, 8)));
  const rowH = 28;
  const left = Math.max(140, ...grid.natPairs.map((r) => textWidth(r) + 16));
  const top = 56;
  const width = left + cellW * grid.enginePairs.length + 16;
  const legendY = top + rowH * Math.max(1, grid.natPairs.length) + 24;
  const height = legendY + 28;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Arial, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="8" y="20" font-size="15" font-weight="bold">${esc(title)}</text>`,
  ];
  grid.enginePairs.forEach((c, j) => out.push(`<text x="${left + j * cellW + 8}" y="${top - 10}" font-weight="bold">${esc(c)}</text>`));
  if (!grid.natPairs.length) out.push(`<text x="8" y="${top + 18}">no connectivity results (no test carries engineA/engineB/natA/natB labels)</text>`);
  grid.natPairs.forEach((r, i) => {
    const y = top + i * rowH;
    out.push(`<text x="8" y="${y + 18}">${esc(r)}</text>`);
    grid.enginePairs.forEach((c, j) => {
      const x = left + j * cellW;
      const entries = grid.cells[cellKey(r, c)] ?? [];
      const worst = worstOutcome(entries);
      out.push(`<rect x="${x + 1}" y="${y + 1}" width="${cellW - 2}" height="${rowH - 2}" fill="${worst ? OUTCOME_STYLE[worst].tint : '#fff'}" stroke="#d0d4d8"/>`);
      if (!entries.length) out.push(`<text x="${x + 8}" y="${y + 18}" fill="#999">—</text>`);
      let cx = x + 6;
      for (const e of entries) {
        const s = OUTCOME_STYLE[e.outcome];
        out.push(
          `<g><title>${esc(`${e.test}: ${s.label} — ${e.detail}`)}</title>` +
            `<rect x="${cx}" y="${y + 5}" width="${chipW(e)}" height="${rowH - 10}" rx="4" fill="${s.fill}"/>` +
            `<text x="${cx + 6}" y="${y + 18}" fill="${s.text}">${esc(chipText(e))}</text></g>`,
        );
        cx += chipW(e) + 4;
      }
    });
  });
  let lx = 8;
  for (const o of OUTCOMES) {
    const s = OUTCOME_STYLE[o];
    out.push(`<rect x="${lx}" y="${legendY}" width="14" height="14" rx="3" fill="${s.fill}"/><text x="${lx + 19}" y="${legendY + 12}">${esc(s.label)}</text>`);
    lx += textWidth(s.label) + 34;
  }
  out.push('</svg>');
  return out.join('\n');
}

export interface OverviewPage {
  grid: OverviewGrid;
  counts: Record<string, number>;
  environment: Record<string, string>;
  /** The claims table with its heading (lab/report/claims-table.ts), or a sentence saying why there is none. */
  claimsHtml: string;
  generated: string;
}

/** The overview as one self-contained HTML page (no scripts, no external files): counts, grid, claims, environment. */
export function overviewHtml(p: OverviewPage): string {
  const { grid } = p;
  const chip = (e: GridEntry) => {
    const s = OUTCOME_STYLE[e.outcome];
    return `<span class="chip" data-outcome="${e.outcome}" style="background:${s.fill};color:${s.text}" title="${esc(`${e.test}: ${s.label} — ${e.detail}`)}">${esc(chipText(e))}</span>`;
  };
  const rows = grid.natPairs.map((r) => {
    const tds = grid.enginePairs.map((c) => {
      const entries = grid.cells[cellKey(r, c)] ?? [];
      const worst = worstOutcome(entries);
      return `<td${worst ? ` data-worst="${worst}" style="background:${OUTCOME_STYLE[worst].tint}"` : ''}>${entries.map(chip).join(' ') || '<span class="none">—</span>'}</td>`;
    });
    return `<tr><th scope="row">${esc(r)}</th>${tds.join('')}</tr>`;
  });
  const legend = OUTCOMES.map((o) => `<span class="chip" style="background:${OUTCOME_STYLE[o].fill};color:${OUTCOME_STYLE[o].text}">${esc(OUTCOME_STYLE[o].label)}: ${p.counts[o] ?? 0}</span>`).join(' ');
  const env = Object.entries(p.environment).map(([k, v]) => `<tr><th scope="row">${esc(k)}</th><td>${esc(v)}</td></tr>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>icelab overview</title>
<style>
body{font:14px/1.4 system-ui,"DejaVu Sans",Arial,sans-serif;margin:16px;color:#222}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:20px 0 6px}
table{border-collapse:collapse}th,td{border:1px solid #d0d4d8;padding:4px 8px;text-align:left;vertical-align:top}
thead th{background:#f4f5f6}.chip{display:inline-block;border-radius:4px;padding:1px 7px;margin:1px;font-size:12px;white-space:nowrap}
.none{color:#999}.muted{color:#666}
</style></head><body>
<h1>icelab overview</h1>
<p class="muted">Generated ${esc(p.generated)} — ${p.counts.total ?? 0} tests. ${legend}</p>
<h2>Connectivity matrix: NAT pair × engine pair</h2>
<p class="muted">One chip per ICE configuration with the class its pair settled on (ICE configuration → class), coloured by outcome; a cell is tinted by its worst result. Hover a chip for the test and why.</p>
${grid.natPairs.length ? `<table id="matrix"><thead><tr><th>NAT A ↔ NAT B</th>${grid.enginePairs.map((c) => `<th scope="col">${esc(c)}</th>`).join('')}</tr></thead><tbody>${rows.join('\n')}</tbody></table>` : '<p id="matrix">No connectivity results in this run (no test carries engineA/engineB/natA/natB labels).</p>'}
<div id="claims">${p.claimsHtml}</div>
<h2>Environment</h2>
<table id="environment"><tbody>${env}</tbody></table>
</body></html>
`;
}
