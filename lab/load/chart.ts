import { cpus } from 'node:os';
import type { LoadSample, Thresholds } from './summary.ts';

interface Series {
  name: string;
  color: string;
  values: (number | null)[];
}
interface Panel {
  title: string;
  unit: string;
  series: Series[];
  /** A dashed line at the threshold the verdict uses. */
  limit?: { value: number; name: string };
}

const W = 900;
const LEFT = 70;
const RIGHT = 180;
const PANEL_H = 100;
const GAP = 34;
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (x: number) => (Number.isInteger(x) ? String(x) : x >= 100 ? Math.round(x).toString() : x >= 10 ? x.toFixed(1) : x.toFixed(2));

/** The panels of a load run: what the calls saw, then what the server did, all on one time axis. */
export function loadPanels(samples: readonly LoadSample[], t: Thresholds): Panel[] {
  const col = (f: (s: LoadSample) => number | null | undefined) => samples.map((s) => f(s) ?? null);
  return [
    { title: 'calls', unit: 'calls', series: [{ name: 'connected', color: '#2a9d3f', values: col((s) => s.connected) }, { name: 'failed', color: '#d62828', values: col((s) => s.failed) }, { name: 'started', color: '#999', values: col((s) => s.started) }] },
    {
      title: 'connect and round trip',
      unit: 'ms',
      series: [{ name: 'connect p95', color: '#7b2cbf', values: col((s) => s.connectMs.p95) }, { name: 'RTT p95 (echo)', color: '#f77f00', values: col((s) => s.rttMs.p95) }, { name: 'RTT p50 (echo)', color: '#fcbf49', values: col((s) => s.rttMs.p50) }, { name: 'jitter (RTP)', color: '#0077b6', values: col((s) => s.jitterMs) }],
      limit: { value: t.maxConnectP95Ms, name: '--max-connect-p95' },
    },
    {
      title: 'loss',
      unit: '%',
      series: [{ name: 'probe loss', color: '#d62828', values: col((s) => s.lossPct) }, { name: 'not sent (browser behind)', color: '#f77f00', values: col((s) => s.skippedPct) }, { name: 'RTP loss', color: '#0077b6', values: col((s) => s.rtpLossPct) }, { name: 'background loss', color: '#999', values: col((s) => s.background?.lossPct) }],
      limit: { value: t.maxLossPct, name: '--max-loss' },
    },
    { title: 'TURN server CPU (100 = one core)', unit: '%', series: [{ name: 'turnserver CPU', color: '#d62828', values: col((s) => s.server?.cpuPct) }] },
    { title: 'TURN allocations', unit: 'allocations', series: [{ name: 'on the server', color: '#2a9d3f', values: col((s) => s.server?.allocations) }, { name: 'background client', color: '#999', values: col((s) => s.background?.active) }] },
    { title: 'relayed packets per second (into the server)', unit: 'pkt/s', series: [{ name: 'relayed', color: '#0077b6', values: col((s) => s.server?.relayedPps) }] },
    // Above the core count the machine itself is short of CPU: every figure above is then the machine's too.
    { title: '1-min load average of the machine', unit: '', series: [{ name: 'load average', color: '#555', values: col((s) => s.loadAverage) }], limit: { value: cpus().length, name: 'cores' } },
  ];
}

/** A time-series chart, one panel per unit, each scaled to its own maximum (written on its axis). */
export function renderChart(samples: readonly LoadSample[], t: Thresholds, title: string): string {
  const panels = loadPanels(samples, t);
  const height = 40 + panels.length * (PANEL_H + GAP) + 20;
  const tMax = Math.max(1, ...samples.map((s) => s.t));
  const x = (sec: number) => LEFT + ((W - LEFT - RIGHT) * sec) / tMax;
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="sans-serif" font-size="11">`, `<rect width="100%" height="100%" fill="white"/>`, `<text x="${LEFT}" y="22" font-size="14" font-weight="bold">${esc(title)}</text>`];
  panels.forEach((p, i) => {
    const top = 40 + i * (PANEL_H + GAP) + 14;
    const values = p.series.flatMap((s) => s.values.filter((v): v is number => v !== null));
    const max = Math.max(p.limit && values.length ? Math.min(p.limit.value * 1.5, Math.max(p.limit.value, ...values)) : 0, ...values, 1e-9) || 1;
    const y = (v: number) => top + PANEL_H - (PANEL_H * Math.min(v, max)) / max;
    out.push(`<text x="${LEFT}" y="${top - 4}" font-weight="bold">${esc(p.title)}</text>`);
    out.push(`<rect x="${LEFT}" y="${top}" width="${W - LEFT - RIGHT}" height="${PANEL_H}" fill="none" stroke="#ccc"/>`);
    out.push(`<text x="${LEFT - 4}" y="${top + 8}" text-anchor="end">${fmt(max)} ${esc(p.unit)}</text>`, `<text x="${LEFT - 4}" y="${top + PANEL_H}" text-anchor="end">0</text>`);
    if (p.limit && p.limit.value <= max) out.push(`<line x1="${LEFT}" x2="${W - RIGHT}" y1="${y(p.limit.value)}" y2="${y(p.limit.value)}" stroke="#d62828" stroke-dasharray="4 3"/><text x="${W - RIGHT - 2}" y="${y(p.limit.value) - 2}" text-anchor="end" fill="#d62828">${esc(p.limit.name)} ${p.limit.value}</text>`);
    p.series.forEach((s, k) => {
      const pts = s.values.map((v, j) => (v === null ? null : `${x(samples[j]!.t).toFixed(1)},${y(v).toFixed(1)}`));
      // A gap (null) breaks the line: no value is drawn where nothing was measured.
      const runs = pts.reduce<string[][]>((acc, pt) => (pt === null ? [...acc, []] : (acc.at(-1)!.push(pt), acc)), [[]]).filter((r) => r.length);
      for (const r of runs) out.push(r.length === 1 ? `<circle cx="${r[0]!.split(',')[0]}" cy="${r[0]!.split(',')[1]}" r="2" fill="${s.color}"/>` : `<polyline fill="none" stroke="${s.color}" stroke-width="1.5" points="${r.join(' ')}"/>`);
      const last = s.values.filter((v): v is number => v !== null).at(-1);
      out.push(`<rect x="${W - RIGHT + 10}" y="${top + k * 16 + 2}" width="10" height="3" fill="${s.color}"/><text x="${W - RIGHT + 24}" y="${top + k * 16 + 7}">${esc(s.name)}${last === undefined ? ' (none)' : `: ${fmt(last)}`}</text>`);
    });
  });
  const axisY = 40 + panels.length * (PANEL_H + GAP) + 4;
  for (let k = 0; k <= 5; k++) out.push(`<text x="${x((tMax * k) / 5)}" y="${axisY}" text-anchor="middle">${Math.round((tMax * k) / 5)} s</text>`);
  out.push('</svg>');
  return out.join('\n');
}
