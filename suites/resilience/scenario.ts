// What the resilience suite's files share: the engine pairs, a scenario's story and checks, and
// running a call as a scenario (evidence, Allure, gates).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as allure from 'allure-js-commons';
import type { Context } from 'mocha';
import type { StartedLab } from '../../lab/lab.ts';
import type { EngineName } from '../../lab/browsers/engines.ts';
import { Call, type CallSpec } from '../../lab/scenario/call.ts';
import { callStory, labelCall } from '../../lab/report/call-report.ts';
import { attachDir, evidenceRoot, gate, safeName, suiteEngines, unavailable, type SuiteEnv } from '../support/fixture.ts';
import { waitFor, type NatMapping } from './probes.ts';

const engines = suiteEngines();
// Every engine calls Chromium, the reference peer: chromium↔chromium, firefox↔chromium, webkit↔chromium.
const partner: EngineName = engines.includes('chromium') ? 'chromium' : engines[0]!;
export const pairs = engines.map((a) => ({ a, b: partner }));

// Shared-lab hosts. A symmetric NAT picks a new random port for a new mapping, so flushing its
// conntrack really changes the call's public address; symmetric ↔ full cone connects directly.
export const HOST_A = 'symmetric';
export const HOST_B = 'full-cone';

export const UP = (s: string) => s === 'connected' || s === 'completed';
export const DOWN = (s: string) => s === 'disconnected' || s === 'failed' || s === 'closed';
/** How long data may take to flow again after an ICE restart. */
export const RECOVER_MS = 10_000;

/** What a scenario did, step by step, for the report (description and resilience.json). */
export class Story {
  readonly steps: { t: number; step: string }[] = [];
  readonly data: Record<string, unknown> = {};
  readonly #t0 = performance.now();
  readonly #cleanups: (() => Promise<void> | void)[] = [];
  note(step: string, data: Record<string, unknown> = {}): void {
    this.steps.push({ t: Math.round(performance.now() - this.#t0), step });
    Object.assign(this.data, data);
  }
  /** Runs after the call's result is taken (the lab must stay as the scenario left it until then). */
  defer(fn: () => Promise<void> | void): void {
    this.#cleanups.unshift(fn);
  }
  async cleanup(): Promise<void> {
    for (const fn of this.#cleanups.splice(0)) await fn();
  }
  readonly #resultChecks: (() => Check[])[] = [];
  /** Checks that need the call's result (the stats it saves): run once it is taken. */
  checkResult(fn: () => Check[]): void {
    this.#resultChecks.push(fn);
  }
  resultChecks(): Check[] {
    return this.#resultChecks.flatMap((fn) => fn());
  }
  text(): string {
    return this.steps.map((s) => `- ${(s.t / 1000).toFixed(1)} s — ${s.step}`).join('\n');
  }
}

export interface Check {
  id: string;
  observed: string;
  expected: string;
  why?: string;
}
export interface Scenario {
  id: string;
  title: string;
  spec: CallSpec;
  natA: string;
  natB: string;
  iceName: string;
  /** Shown above the call's story in Allure: what is measured and the limits stated. */
  summary: string;
}

/** A change to the shared lab made before a call and undone after its result, whatever happens. */
export interface LabChange {
  apply: () => Promise<void>;
  undo: () => Promise<void>;
}

/**
 * Opens the call (unavailable engine → reported as such), runs the scenario, then always takes the
 * call's result and evidence, attaches it all, and gates each check.
 */
export async function runScenario(ctx: Context, env: SuiteEnv, sc: Scenario, body: (call: Call, story: Story) => Promise<Check[]>, change?: LabChange): Promise<void> {
  await allure.parentSuite('resilience');
  await allure.suite(sc.title);
  await allure.subSuite(`${sc.spec.a.engine} → ${sc.spec.b.engine}`);
  await labelCall(sc.spec, sc.natA, sc.natB, sc.iceName);
  if (change) await change.apply();
  try {
    await callScenario(ctx, env, sc, body);
  } finally {
    await change?.undo();
  }
}

async function callScenario(ctx: Context, env: SuiteEnv, sc: Scenario, body: (call: Call, story: Story) => Promise<Check[]>): Promise<void> {
  const dir = join(evidenceRoot(), safeName(sc.id));
  const call = await Call.open(env.lab, env.fleet, sc.spec, dir).catch((e: unknown) => unavailable(ctx, e));
  const story = new Story();
  let checks: Check[] = [];
  let who: { engine: EngineName; version: string }[] = [];
  try {
    checks = await body(call, story);
  } finally {
    try {
      const r = await call.result();
      checks.push(...story.resultChecks());
      who = [
        { engine: sc.spec.a.engine, version: r.peers.a.version },
        { engine: sc.spec.b.engine, version: r.peers.b.version },
      ];
      await allure.parameter('engine versions', `${sc.spec.a.engine} ${r.peers.a.version} → ${sc.spec.b.engine} ${r.peers.b.version}`);
      writeFileSync(join(dir, 'resilience.json'), JSON.stringify({ id: sc.id, steps: story.steps, measured: story.data, checks }, null, 2));
      await allure.description([sc.summary, '**Scenario:**', story.text(), '**The call at the end:**', callStory(r)].join('\n\n'));
    } finally {
      await call.close();
      await story.cleanup();
      await attachDir(dir);
    }
  }
  for (const c of checks) await gate(c.id, who, c.observed, c.expected, c.why);
}

export const routerOf = (lab: StartedLab, host: string): string => lab.host(host).routers[0]!;
export const publicOf = (ms: NatMapping[]) => [...new Set(ms.map((m) => m.public))].join(', ') || 'none';

/** Polls data-channel echoes until one comes back: the moment data flows again. */
export const dataBack = (call: Call, timeoutMs = RECOVER_MS) => waitFor(() => call.dataRtt(500), (v) => v !== null, timeoutMs, 0);

export const pairId = (a: EngineName, b: EngineName, hostA: string, hostB: string) => `${a}@${hostA}--${b}@${hostB}`;

/**
 * Starts every browser the scenarios will need without waiting: later ones finish launching while
 * earlier calls sit idle. A failed launch is reported by the test that uses it.
 */
export function prelaunch(env: SuiteEnv, hostA: string, hostB: string): void {
  for (const { a, b } of pairs) for (const [e, h] of [[a, hostA], [b, hostB]] as const) env.fleet.browser(e, h).catch(() => undefined);
}

