import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AllureResult } from '../report/results.ts';
import { renderChart } from './chart.ts';
import type { LoadResult } from './run.ts';

const ms = (x: number | null) => (x === null ? '—' : `${x} ms`);
const pct = (x: number | null) => (x === null ? '—' : `${x}%`);
const codes = (f: Record<string, number | undefined>) => Object.entries(f).map(([k, v]) => `${k}×${v}`).join(', ') || 'none';

/** The one line a person reads first (and the notes quote). */
export function summaryLine(r: LoadResult): string {
  const s = r.spec;
  return [
    `${r.verdict.pass ? 'PASS' : 'FAIL'}${r.interrupted ? ' (interrupted)' : ''}: ${r.calls.connected}/${r.calls.started} ${s.traffic} calls over ${s.ice} connected, ${r.interrupted ? `stopped after ${r.wallS} s` : `held ${s.durationS} s`}`,
    `failed ${r.calls.failed} (${codes(r.calls.failures)})`,
    `connect p50/p95/p99 ${r.connectMs.p50 ?? '—'}/${r.connectMs.p95 ?? '—'}/${r.connectMs.p99 ?? '—'} ms`,
    `RTT p50/p95 ${r.rttMs.p50 ?? '—'}/${r.rttMs.p95 ?? '—'} ms`,
    `loss ${pct(r.lossPct)} (worst call ${pct(r.worstCallLossPct)}${r.skippedPct ? `; ${r.skippedPct}% not sent, browsers behind` : ''})`,
    ...(r.jitterMs === null ? [] : [`jitter p95 ${r.jitterMs} ms`]),
    `turnserver CPU max ${r.server.cpuPctMax ?? '—'}% RSS ${r.server.rssMbMax ?? '—'} MB, ${r.server.allocationsMax ?? '—'} allocations max, ${r.server.relayedPpsMax ?? '—'} pkt/s max`,
    ...(r.background ? [`background ${r.background.active} allocations, loss ${pct(r.background.lossPct)}`] : []),
    `load average ${r.loadAverage.before[0]} → max ${r.loadAverage.max1m}`,
    ...(r.verdict.pass ? [] : [`because ${r.verdict.reasons.join('; ')}`]),
  ].join(', ');
}

/** The summary table (name, value) of the HTML page and the Allure result. */
export function summaryRows(r: LoadResult): [string, string][] {
  return [
    ['verdict', `${r.verdict.pass ? 'pass' : 'fail'}${r.verdict.reasons.length ? `: ${r.verdict.reasons.join('; ')}` : ''}`],
    ['calls', `${r.spec.calls} ${r.spec.traffic} calls over ${r.spec.ice}, ${r.spec.engines.join('+')}, ramp ${r.spec.ramp}/s, held ${r.spec.durationS} s${r.interrupted ? ' (interrupted)' : ''}`],
    ['connected / failed', `${r.calls.connected} / ${r.calls.failed}`],
    ['failures by code', codes(r.calls.failures)],
    ['connect p50 / p95 / p99', `${ms(r.connectMs.p50)} / ${ms(r.connectMs.p95)} / ${ms(r.connectMs.p99)} (threshold ${r.spec.thresholds.maxConnectP95Ms} ms)`],
    ['RTT p50 / p95 (echo)', `${ms(r.rttMs.p50)} / ${ms(r.rttMs.p95)}`],
    ['loss (all calls) / worst call', `${pct(r.lossPct)} / ${pct(r.worstCallLossPct)} (threshold ${r.spec.thresholds.maxLossPct}%)`],
    ['probes not sent (browser send buffer full, counted as lost)', pct(r.skippedPct)],
    ['jitter p95 (RTP)', ms(r.jitterMs)],
    ['TURN server', r.turn],
    ['server CPU max / mean', `${pct(r.server.cpuPctMax)} / ${pct(r.server.cpuPctMean)} of one core`],
    ['server RSS max', r.server.rssMbMax === null ? '—' : `${r.server.rssMbMax} MB`],
    ['allocations max', `${r.server.allocationsMax ?? '—'} (${r.server.allocationCount})`],
    ['relayed packets/s max', `${r.server.relayedPpsMax ?? '—'}`],
    ['background allocations', r.background ? `${r.background.active} active, failed ${codes(r.background.failed)}, loss ${pct(r.background.lossPct)}` : 'none'],
    ['load average (1 min)', `before ${r.loadAverage.before.join(' ')}, max ${r.loadAverage.max1m}, after ${r.loadAverage.after.join(' ')}`],
  ];
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
export function summaryHtml(r: LoadResult, svg: string): string {
  const rows = summaryRows(r).map(([k, v]) => `<tr><th align="left">${esc(k)}</th><td>${esc(v)}</td></tr>`).join('\n');
  return `<!doctype html><meta charset="utf-8"><title>icelab load</title><table cellpadding="3">\n${rows}\n</table>\n${svg}\n`;
}

export interface LoadFiles {
  json: string;
  svg: string;
  html: string;
}

/** load.json (summary, samples, every call), load.svg (the chart) and load.html (table + chart) in `dir`. */
export function writeLoadReport(r: LoadResult, dir: string): LoadFiles {
  mkdirSync(dir, { recursive: true });
  const svg = renderChart(r.samples, r.spec.thresholds, `icelab load: ${r.spec.calls} ${r.spec.traffic} calls over ${r.spec.ice} — ${r.verdict.pass ? 'pass' : 'fail'}`);
  const files = { json: join(dir, 'load.json'), svg: join(dir, 'load.svg'), html: join(dir, 'load.html') };
  writeFileSync(files.json, JSON.stringify(r, null, 2));
  writeFileSync(files.svg, svg);
  writeFileSync(files.html, summaryHtml(r, svg));
  return files;
}

/**
 * The run as one Allure result in `resultsDir` (the chart and table as attachments), so the
 * project's Allure report shows it next to the suites. Status: the verdict.
 */
export function writeAllureResult(r: LoadResult, files: LoadFiles, resultsDir: string): string {
  mkdirSync(resultsDir, { recursive: true });
  const attach = (name: string, from: string, type: string, ext: string) => {
    const source = `${randomUUID()}-attachment.${ext}`;
    writeFileSync(join(resultsDir, source), readFileSync(from));
    return { name, source, type };
  };
  const uuid = randomUUID();
  const name = `load: ${r.spec.calls} ${r.spec.traffic} calls over ${r.spec.ice}`;
  const result: AllureResult = {
    uuid,
    name,
    fullName: `icelab load ${name}`,
    historyId: `load-${r.spec.traffic}-${r.spec.ice}-${r.spec.calls}`,
    status: r.verdict.pass ? 'passed' : 'failed',
    ...(r.verdict.pass ? {} : { statusDetails: { message: r.verdict.reasons.join('; ') } }),
    labels: [{ name: 'suite', value: 'load' }, { name: 'feature', value: 'load' }],
    parameters: summaryRows(r).map(([n, value]) => ({ name: n, value })),
    attachments: [attach('load chart', files.svg, 'image/svg+xml', 'svg'), attach('load summary', files.html, 'text/html', 'html'), attach('load.json', files.json, 'application/json', 'json')],
    start: Date.parse(r.startedAt),
    stop: Date.parse(r.startedAt) + r.wallS * 1000,
  };
  const file = join(resultsDir, `${uuid}-result.json`);
  writeFileSync(file, JSON.stringify(result));
  return file;
}
