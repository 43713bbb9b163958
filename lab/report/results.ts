import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LabError } from '../topology/errors.ts';
import { markdownHtml } from './html.ts';

/**
 * Where reports and evidence go: ICELAB_REPORTS_DIR (`icelab suite` passes it to the suites),
 * else ./reports in the working directory — never the package's own directory.
 */
export const reportsDir = (env: NodeJS.ProcessEnv = process.env): string => resolve(env.ICELAB_REPORTS_DIR ?? 'reports');

/** The parts of an Allure result file (allure-js-commons writes `<uuid>-result.json`) the report reads. */
export interface AllureStep {
  name?: string;
  status?: string;
  steps?: AllureStep[];
}
export interface AllureResult {
  uuid: string;
  name: string;
  fullName?: string;
  historyId?: string;
  status?: 'passed' | 'failed' | 'broken' | 'skipped' | 'unknown';
  statusDetails?: { message?: string; trace?: string };
  labels?: { name: string; value: string }[];
  parameters?: { name: string; value: string }[];
  steps?: AllureStep[];
  attachments?: { name: string; source: string; type?: string }[];
  description?: string;
  descriptionHtml?: string;
  start?: number;
  stop?: number;
}

/**
 * How the report classes a result. `known`: passed as a listed deviation (suites/expectations.yaml);
 * `unavailable`: the engine could not run here (skipped with an "unavailable: <reason>" step);
 * `broken`: the lab or a browser failed, not the engine under test.
 */
export const OUTCOMES = ['passed', 'known', 'failed', 'broken', 'unavailable', 'skipped'] as const;
export type Outcome = (typeof OUTCOMES)[number];

export const label = (r: AllureResult, name: string): string | undefined => r.labels?.find((l) => l.name === name)?.value;
export const parameter = (r: AllureResult, name: string): string | undefined => r.parameters?.find((p) => p.name === name)?.value;

/** The parameter a call's test records the class of its settled pair in (call-report.ts). */
export const SETTLED_PARAMETER = 'settled pair class';
const tags = (r: AllureResult): string[] => (r.labels ?? []).filter((l) => l.name === 'tag').map((l) => l.value);

function findStep(steps: AllureStep[] | undefined, prefix: string): string | undefined {
  for (const s of steps ?? []) {
    if (s.name?.startsWith(prefix)) return s.name;
    const inner = findStep(s.steps, prefix);
    if (inner) return inner;
  }
  return undefined;
}

/** "unavailable: <reason>" for a test an engine could not run, from its message, its step or its tag. */
export function unavailableReason(r: AllureResult): string | undefined {
  if (r.status !== 'skipped') return undefined;
  const msg = r.statusDetails?.message;
  if (msg?.startsWith('unavailable:')) return msg;
  const step = findStep(r.steps, 'unavailable:');
  if (step) return step;
  const engine = label(r, 'engineUnavailable');
  return tags(r).includes('engine-unavailable') || engine ? `unavailable: ${engine ?? 'engine'} cannot run here` : undefined;
}

/** "known deviation: <reason>" for a result that passed as a listed deviation. */
export function knownReason(r: AllureResult): string | undefined {
  if (r.status !== 'passed' || !tags(r).includes('known-deviation')) return undefined;
  const msg = r.statusDetails?.message;
  return msg?.startsWith('known deviation:') ? msg : (findStep(r.steps, 'known deviation:') ?? 'known deviation');
}

export function outcomeOf(r: AllureResult): Outcome {
  switch (r.status) {
    case 'passed':
      return knownReason(r) ? 'known' : 'passed';
    case 'failed':
      return 'failed';
    case 'skipped':
      return unavailableReason(r) ? 'unavailable' : 'skipped';
    default:
      // allure-mocha writes `broken` for non-assertion errors (lab could not start, browser crashed).
      return 'broken';
  }
}

/**
 * Allure categories match on status and message only. The suites record "unavailable: …" and
 * "known deviation: …" as steps (and mocha's skip leaves "Test skipped" as the message), so the
 * reason is lifted into the status message: categories, JUnit and the test page then show it.
 * Returns the updated result, or null when nothing changes.
 */
export function liftReason(r: AllureResult): AllureResult | null {
  const reason = unavailableReason(r) ?? knownReason(r);
  if (!reason || r.statusDetails?.message === reason) return null;
  return { ...r, statusDetails: { ...r.statusDetails, message: reason } };
}

/**
 * The suites write descriptions in Markdown; Allure shows `descriptionHtml` when there is one.
 * Returns the result with the description as HTML, or null when there is nothing to render
 * (no description, or HTML already written).
 */
export function renderDescription(r: AllureResult): AllureResult | null {
  if (!r.description || r.descriptionHtml) return null;
  return { ...r, descriptionHtml: markdownHtml(r.description) };
}

/** The four categories teams sort a run by (Allure `categories.json`). */
export const CATEGORIES = [
  { name: 'Unexpected failure', matchedStatuses: ['failed'], description: 'The engine did not do what the spec (or the oracle) says, and no known deviation covers it.' },
  { name: 'Known deviation', matchedStatuses: ['passed'], messageRegex: 'known deviation:.*', description: 'Listed in suites/expectations.yaml with the reason; passes the CI gate.' },
  { name: 'Engine unavailable', matchedStatuses: ['skipped'], messageRegex: 'unavailable:.*', description: 'The engine cannot run on this machine (not installed, or without RTCPeerConnection); never counted as passed.' },
  { name: 'Lab broken', matchedStatuses: ['broken'], description: 'Infrastructure failed (lab could not start, browser crashed, timeout): not a verdict on the engine.' },
];

export interface ResultFile {
  file: string;
  result: AllureResult;
}

/**
 * Reads every `*-result.json` in `dir`. A retried test (same historyId) counts once: its last run,
 * as Allure shows it.
 */
export function readResults(dir: string): ResultFile[] {
  if (!existsSync(dir)) {
    throw new LabError('ERR_NO_RESULTS', `no Allure results at ${dir}`, { hint: 'run a suite first (as root: npx icelab suite …), or pass --results <dir>' });
  }
  const latest = new Map<string, ResultFile>();
  for (const f of readdirSync(dir).filter((n) => n.endsWith('-result.json')).sort()) {
    const file = join(dir, f);
    let result: AllureResult;
    try {
      result = JSON.parse(readFileSync(file, 'utf8')) as AllureResult;
    } catch (e) {
      throw new LabError('ERR_BAD_RESULT', `${file}: not valid JSON (${(e as Error).message})`, { hint: 'remove the damaged file, or rerun the suite into an empty results directory', cause: e });
    }
    if (typeof result?.name !== 'string' || typeof result.uuid !== 'string') {
      throw new LabError('ERR_BAD_RESULT', `${file}: not an Allure result (no "uuid"/"name")`, { hint: 'only Allure result files (*-result.json) belong in the results directory' });
    }
    const key = result.historyId ?? result.uuid;
    const prev = latest.get(key);
    if (!prev || (result.stop ?? 0) >= (prev.result.stop ?? 0)) latest.set(key, { file, result });
  }
  return [...latest.values()];
}

export function countOutcomes(results: readonly AllureResult[]): Record<string, number> {
  const counts: Record<string, number> = Object.fromEntries(OUTCOMES.map((o) => [o, 0]));
  for (const r of results) counts[outcomeOf(r)]!++;
  counts.total = results.length;
  return counts;
}
