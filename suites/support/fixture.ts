import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as allure from 'allure-js-commons';
import { AssertionError } from 'chai';
import type { Context } from 'mocha';
import type { Page } from 'playwright';
import { startLab, type StartedLab } from '../../lab/lab.ts';
import { logMarks, writeServiceLogs } from '../../lab/services/services.ts';
import { BrowserFleet, EngineUnavailableError, PAGE_ORIGIN } from '../../lab/browsers/fleet.ts';
import { ENGINES, parseEngine, type EngineName } from '../../lab/browsers/engines.ts';
import { reportsDir } from '../../lab/report/results.ts';
import { suiteTopology } from '../../lab/topology/topology.ts';
import { judge, loadExpectations, type Judgement, type Participant } from './expectations.ts';

/**
 * What every suite shares in one run: one lab with a LAN host per preset (started on first use),
 * one browser fleet (one launch per engine and host), the expectations, the run's settings.
 * `icelab suite` passes settings through ICELAB_* variables; mocha can run the files directly.
 */
export interface SuiteEnv {
  lab: StartedLab;
  fleet: BrowserFleet;
}

let shared: Promise<SuiteEnv> | null = null;

export function suiteEnv(): Promise<SuiteEnv> {
  shared ??= (async () => {
    const lab = await startLab({ ...suiteTopology(), turn: [{ provider: process.env.ICELAB_TURN_PROVIDER as 'container' | undefined }] }, process.env.ICELAB_LAB_ID ? { id: process.env.ICELAB_LAB_ID } : {});
    return { lab, fleet: new BrowserFleet(lab, { headed: process.env.ICELAB_HEADED === '1' }) };
  })();
  return shared;
}

/** Root hook (suites/support/hooks.ts): browsers first, then the lab. */
export async function closeSuiteEnv(): Promise<void> {
  if (!shared) return;
  const env = await shared.catch(() => null);
  shared = null;
  if (!env) return;
  // Counted in the run's summary (scripts/summary-reporter.cjs): browsers are launched once per engine and host.
  (globalThis as { icelabLaunches?: { engine: string; host: string; launchMs: number }[] }).icelabLaunches = (await env.fleet.launchedBrowsers()).map((b) => ({ engine: b.engine, host: b.host, launchMs: Math.round(b.launchMs) }));
  await env.fleet.close();
  await env.lab.stop();
}

/** Engines this run covers (ICELAB_ENGINES, default all). Missing ones still get tests, reported unavailable. */
export function suiteEngines(): EngineName[] {
  const v = process.env.ICELAB_ENGINES;
  return v ? v.split(',').map((e) => parseEngine(e.trim(), 'ICELAB_ENGINES')) : [...ENGINES];
}
/** Engines whose absence fails the run instead of being reported unavailable (ICELAB_REQUIRE_ENGINES). */
const required = (): string[] => (process.env.ICELAB_REQUIRE_ENGINES ?? '').split(',').filter(Boolean);

/** Each test's evidence goes under evidence/ in the reports directory (ICELAB_REPORTS_DIR, default <cwd>/reports). */
export const evidenceRoot = (env: NodeJS.ProcessEnv = process.env): string => join(reportsDir(env), 'evidence');
export const safeName = (s: string): string => s.replace(/[^a-zA-Z0-9._@-]+/g, '_').slice(0, 120);

/**
 * An engine that cannot run here: the test is reported as "unavailable: <reason>" (mocha pending,
 * Allure skipped with the reason, its own category), never as passed. Other errors propagate:
 * Allure shows them as broken (infrastructure), unlike assertion failures.
 */
export async function unavailable(ctx: Context, e: unknown): Promise<never> {
  if (e instanceof EngineUnavailableError && !required().includes(e.engine)) {
    await allure.label('engineUnavailable', e.engine);
    return skipUnavailable(ctx, 'engine-unavailable', e.reason, e.hint ?? '');
  }
  throw e;
}

/**
 * Reports the current test as "unavailable: <reason>" with the fix (and `more` for the
 * description) and skips it: an engine or a lab feature (netem, say) this machine lacks.
 */
export async function skipUnavailable(ctx: Context, tag: string, reason: string, fix: string, more = ''): Promise<never> {
  const msg = `unavailable: ${reason}`;
  await allure.tag(tag);
  await allure.description(`**${msg}**\n\nTo fix: ${fix}${more ? `\n\n${more}` : ''}`);
  await allure.logStep(msg, allure.Status.SKIPPED);
  // The summary reporter counts these apart from passes and failures.
  (ctx.test as { icelabUnavailable?: string } | undefined)!.icelabUnavailable = msg;
  ctx.skip();
  throw new Error('unreachable: ctx.skip() throws');
}

/** A fresh page at the lab's secure origin in `host`, for API checks. */
export async function apiPage(ctx: Context, engine: EngineName, host = 'open', html = '<!doctype html><title>icelab api</title>'): Promise<{ page: Page; version: string; close: () => Promise<void> }> {
  const { fleet } = await suiteEnv();
  try {
    const { page, context, launched } = await fleet.page(engine, host, html);
    return { page, version: launched.version, close: () => context.close() };
  } catch (e) {
    return unavailable(ctx, e);
  }
}

/**
 * Whether mocha will run a test of this full title, from the --grep / --fgrep / --invert options
 * on mocha's command line (as `icelab suite --grep` passes them): a suite that starts its tests'
 * work in before() starts only what will run. As in mocha, `/re/flags` is a regular expression and
 * any other string a literal substring of the full title.
 */
export function selectedByGrep(argv: readonly string[]): (fullTitle: string) => boolean {
  const value = (names: string[]): string | null => {
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i]!;
      for (const n of names) {
        if (a === n) return argv[i + 1] ?? null;
        if (a.startsWith(`${n}=`)) return a.slice(n.length + 1);
      }
    }
    return null;
  };
  const pattern = value(['--grep', '-g']) ?? value(['--fgrep', '-f']);
  const invert = argv.includes('--invert') || argv.includes('-i');
  if (pattern === null) return () => true;
  const re = /^\/(.*)\/([dgimsuvy]*)$/.exec(pattern);
  const match = re ? (t: string) => new RegExp(re[1]!, re[2]).test(t) : (t: string) => t.includes(pattern);
  return (t) => match(t) !== invert;
}

let expectationsCache: ReturnType<typeof loadExpectations> | null = null;

/**
 * The CI gate. Compares `observed` with the spec result and the known deviations, records the
 * verdict in Allure (parameters, a `known-deviation` tag with the reason) and throws an assertion
 * error for anything unexpected — including a known deviation that no longer happens.
 */
export async function gate(id: string, who: readonly Participant[], observed: string, specResult: string, why = ''): Promise<Judgement> {
  expectationsCache ??= loadExpectations();
  const j = judge(expectationsCache, id, who, observed, specResult);
  await allure.parameter('expected', j.expected);
  await allure.parameter('observed', j.observed);
  if (j.status === 'known') {
    // Counted apart by scripts/summary-reporter.cjs when the test passes.
    (globalThis as { icelabKnownDeviation?: string }).icelabKnownDeviation = j.reason;
    await allure.tag('known-deviation');
    await allure.logStep(`known deviation: ${j.reason}`, allure.Status.PASSED);
  }
  if (j.status === 'unexpected') {
    throw new AssertionError(`${id}: expected ${j.expected}, observed ${j.observed}${j.reason ? ` (listed deviation: ${j.reason})` : ''}${why ? ` — ${why}` : ''}`);
  }
  if (j.status === 'fixed') {
    throw new AssertionError(`${id}: listed deviation no longer happens (now ${j.observed}, as the spec says): remove it from suites/expectations.yaml [${j.reason}]`);
  }
  return j;
}

/**
 * Where each of the lab's services' logs stands now; the function returned writes what they logged
 * since into an evidence directory (`service-<name>.log`, beside a call's turnserver.log), so that
 * `attachDir` attaches them with the rest.
 */
export function serviceLogsFrom(lab: StartedLab): (dir: string) => void {
  const marks = logMarks(lab.services);
  return (dir) => {
    if (lab.services.length === 0) return;
    mkdirSync(dir, { recursive: true });
    writeServiceLogs(dir, lab.services, marks);
  };
}

/** Attaches every file of an evidence directory to the current test. */
export async function attachDir(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  const types: Record<string, string> = { json: 'application/json', pcap: 'application/vnd.tcpdump.pcap', sdp: 'text/plain', log: 'text/plain', txt: 'text/plain', html: 'text/html' };
  // A folder's files are attached as folder/file (a call's direct-retest/).
  for (const f of readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort()) {
    if (statSync(join(dir, f)).isDirectory()) continue;
    const ext = f.split('.').pop() ?? '';
    await allure.attachment(f, readFileSync(join(dir, f)), types[ext] ?? 'text/plain');
  }
}

export { PAGE_ORIGIN };
