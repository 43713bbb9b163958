import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { BrowserType } from 'playwright';
import { LabError } from '../topology/errors.ts';

export const ENGINES = ['chromium', 'firefox', 'webkit'] as const;
export type EngineName = (typeof ENGINES)[number];

/**
 * Where an engine comes from. `system`: the distribution's browser (Debian `chromium`,
 * `firefox-esr` driven over WebDriver BiDi); `playwright`: the builds `npx playwright install`
 * downloads (the only WebKit with WebRTC).
 */
export type EngineSource = 'system' | 'playwright';
export const DEFAULT_SOURCES: Record<EngineName, readonly EngineSource[]> = {
  chromium: ['system', 'playwright'],
  firefox: ['system', 'playwright'],
  webkit: ['playwright', 'system'],
};

const SYSTEM_PATHS: Record<EngineName, string | null> = {
  chromium: '/usr/bin/chromium',
  firefox: '/usr/bin/firefox-esr',
  // Debian's WebKitGTK and WPE are built without WebRTC (RTCPeerConnection is undefined).
  webkit: null,
};
const INSTALL_HINT: Record<EngineName, Record<EngineSource, string>> = {
  chromium: { system: 'apt-get install chromium', playwright: 'npx playwright install chromium' },
  firefox: { system: 'apt-get install firefox-esr', playwright: 'npx playwright install firefox' },
  webkit: { system: "no distribution WebKit has WebRTC; use Playwright's", playwright: 'npx playwright install --with-deps webkit' },
};

// Playwright takes ~0.4 s to load: only commands that drive or look up a Playwright browser pay it.
const require = createRequire(import.meta.url);
export const browserType = (engine: EngineName): BrowserType => (require('playwright') as Record<EngineName, BrowserType>)[engine];

export interface EngineFound {
  engine: EngineName;
  available: true;
  source: EngineSource;
  executablePath: string;
  /** Playwright launch channel: Debian's Firefox speaks WebDriver BiDi, not Playwright's Juggler. */
  channel?: string;
}
export interface EngineMissing {
  engine: EngineName;
  available: false;
  /** "unavailable: <reason>" in reports. */
  reason: string;
  fix: string;
}
export type EngineLookup = EngineFound | EngineMissing;

export function parseEngine(name: string, field = 'engine'): EngineName {
  if ((ENGINES as readonly string[]).includes(name)) return name as EngineName;
  throw new LabError('ERR_UNKNOWN_ENGINE', `${field}: unknown browser engine "${name}"`, { hint: `use one of: ${ENGINES.join(', ')}` });
}

/** Sources in order; `ICELAB_ENGINE_SOURCES=playwright,system` overrides the default order for every engine. */
export function sourcesFromEnv(engine: EngineName, env = process.env): readonly EngineSource[] {
  const v = env.ICELAB_ENGINE_SOURCES;
  if (!v) return DEFAULT_SOURCES[engine];
  const list = v.split(',').map((s) => s.trim());
  const bad = list.filter((s) => s !== 'system' && s !== 'playwright');
  if (bad.length) throw new LabError('ERR_BAD_ENGINE_SOURCE', `ICELAB_ENGINE_SOURCES: unknown source ${bad.join(', ')}`, { hint: 'use a comma-separated list of: system, playwright' });
  return list as EngineSource[];
}

/** Finds an engine's executable, trying sources in order; explains why when none has it. */
export function findEngine(engine: EngineName, sources: readonly EngineSource[] = sourcesFromEnv(engine)): EngineLookup {
  const tried: string[] = [];
  for (const source of sources) {
    const path = source === 'system' ? SYSTEM_PATHS[engine] : browserType(engine).executablePath();
    if (path && existsSync(path)) {
      return { engine, available: true, source, executablePath: path, ...(source === 'system' && engine === 'firefox' ? { channel: 'moz-firefox' } : {}) };
    }
    tried.push(path ? `${source}: ${path} not found` : `${source}: ${INSTALL_HINT[engine].system}`);
  }
  const fixes = sources.map((s) => INSTALL_HINT[engine][s]).filter((f) => !f.startsWith('no '));
  // Sources that cannot have the engine (WebKit from the system only): the fix is the source that can.
  const fix = fixes.join(' or ') || `${INSTALL_HINT[engine].playwright} (and let ICELAB_ENGINE_SOURCES include playwright)`;
  return { engine, available: false, reason: `${engine} is not installed (${tried.join('; ')})`, fix };
}
