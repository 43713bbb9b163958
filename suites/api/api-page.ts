import { readFileSync } from 'node:fs';
import * as allure from 'allure-js-commons';
import type { Context } from 'mocha';
import type { Page } from 'playwright';
import type { EngineName } from '../../lab/browsers/engines.ts';
import { apiPage, suiteEnv } from '../support/fixture.ts';

const KIT = readFileSync(new URL('./page-kit.js', import.meta.url), 'utf8');
/** The page every API check runs in: the lab's secure origin, with the in-page checks loaded. */
export const API_HTML = `<!doctype html><meta charset="utf-8"><title>icelab api</title><script>${KIT}</script>`;

export type CheckGroup = 'claims' | 'config' | 'state';
export interface Observation {
  observed: string;
  detail: string;
}
export interface EnginePage {
  page: Page;
  version: string;
  close: () => Promise<void>;
}

/**
 * One page per engine for a describe block (the checks close every peer connection they make).
 * An engine that cannot run is not cached: each test asks again and is reported unavailable itself.
 */
export class SharedPages {
  readonly #pages = new Map<EngineName, Promise<EnginePage>>();

  async get(ctx: Context, engine: EngineName): Promise<EnginePage> {
    let p = this.#pages.get(engine);
    // A page that crashed or was closed is replaced, so one bad check does not fail every later one.
    if (p && (await p.then((x) => x.page.isClosed(), () => true))) p = undefined;
    if (!p) {
      p = apiPage(ctx, engine, 'open', API_HTML);
      this.#pages.set(engine, p);
      p.catch(() => this.#pages.delete(engine));
    }
    return p;
  }

  async close(): Promise<void> {
    const all = await Promise.allSettled(this.#pages.values());
    this.#pages.clear();
    await Promise.all(all.map((r) => (r.status === 'fulfilled' ? r.value.close().catch(() => undefined) : undefined)));
  }
}

/**
 * One page per engine for the whole API suite (Firefox takes seconds per new context on a busy
 * machine). Closed by a root-level hook when the run ends; the fleet closing closes it anyway.
 */
export const API_PAGES = new SharedPages();
after(() => API_PAGES.close());

/** Runs a named in-page check (suites/api/page-kit.js) and returns what it observed. */
export function runCheck(page: Page, group: CheckGroup, name: string, arg?: unknown): Promise<Observation> {
  return page.evaluate(([g, n, a]) => (window as unknown as { icelabApi: { run(g: string, n: string, a: unknown): Promise<Observation> } }).icelabApi.run(g, n, a), [group, name, arg] as const);
}

/** What checks get from the lab: fresh STUN/TURN servers and the TURN server's address. */
export interface LabServers {
  stun: { urls: string }[];
  turn: { urls: string; username?: string; credential?: string }[];
  turnIp: string;
}
export async function labServers(): Promise<LabServers> {
  const { lab } = await suiteEnv();
  return { stun: lab.iceServers('stun'), turn: lab.iceServers('turn-udp'), turnIp: lab.turn.info.ips[0]! };
}

/**
 * Allure labels shared by the API suite: parentSuite api, a suite per area, the engine; then the
 * engine's page (its version becomes a parameter). An engine that cannot run ends the test here
 * as unavailable, already labelled.
 */
export async function openApi(ctx: Context, pages: SharedPages, area: string, engine: EngineName): Promise<EnginePage> {
  await allure.parentSuite('api');
  await allure.suite(area);
  await allure.label('engine', engine);
  const p = await pages.get(ctx, engine);
  await allure.parameter('engine', `${engine} ${p.version}`);
  return p;
}
