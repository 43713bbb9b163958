import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, LaunchOptions, Page } from 'playwright';
import { LabError } from '../topology/errors.ts';
import { run } from '../network/run.ts';
import { browserType, findEngine, type EngineFound, type EngineName, type EngineSource } from './engines.ts';

/** What the fleet needs of a lab: a namespace per host, a dir for profiles, the lab CA. */
export interface FleetLab {
  readonly id: string;
  readonly dir: string;
  ns(host: string): string;
  readonly caFile?: string;
}

export interface FleetOptions {
  headed?: boolean;
  /** Source order per engine (default: system, then Playwright's builds; WebKit: Playwright's). */
  sources?: Partial<Record<EngineName, readonly EngineSource[]>>;
  /** Calls one shared page hosts before the next call gets a new page (default PAGE_CALLS). */
  callsPerPage?: number;
  /** Extra Playwright launch options, e.g. slowMo. */
  launch?: Pick<LaunchOptions, 'slowMo' | 'timeout'>;
}

/** An engine that cannot run a call here, and why; reports show it as "unavailable: <reason>". */
export class EngineUnavailableError extends LabError {
  readonly engine: EngineName;
  readonly reason: string;
  constructor(engine: EngineName, reason: string, fix: string) {
    super('ERR_ENGINE_UNAVAILABLE', `${engine} unavailable: ${reason}`, { hint: fix });
    this.engine = engine;
    this.reason = reason;
  }
}

/** Every page is served from here through `route().fulfill()`: a secure context (getUserMedia) with no server and no packet out. */
export const PAGE_ORIGIN = 'https://icelab.test';

export interface LaunchedBrowser {
  engine: EngineName;
  host: string;
  browser: Browser;
  found: EngineFound;
  version: string;
  launchMs: number;
}

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  // Real host addresses instead of mDNS names: the lab has no mDNS and reports need addresses.
  '--disable-features=WebRtcHideLocalIpsWithMdns',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
];
const FIREFOX_PREFS = {
  'media.peerconnection.ice.obfuscate_host_addresses': false,
  'media.navigator.streams.fake': true,
  'media.navigator.permission.disabled': true,
};

/** One launch's files, apart from every other launch's: wrapper executable, TMPDIR, CA import report. */
export interface LaunchFiles {
  wrapper: string;
  tmp: string;
  /** Where ns-bridge.cjs writes a failed certutil run (JSON CertutilFailure). */
  caReport: string;
}
/**
 * The files of a fleet's `n`th launch. TMPDIR is named by the number: Chromium makes its singleton
 * socket in it, and a socket path has at most 107 bytes ("Socket path too long" with host names).
 */
/** Chromium's HOME (its NSS database with the lab CA): never a launch's wrapper path, whatever the host is named. */
export const chromiumHomeDir = (dir: string): string => join(dir, 'home', 'chromium');

export const launchFiles = (dir: string, engine: EngineName, host: string, n: number): LaunchFiles => ({
  wrapper: join(dir, `${engine}-${host}`),
  tmp: join(dir, 'tmp', String(n)),
  caReport: join(dir, `${engine}-${host}.ca-error.json`),
});

/** A certutil run that failed: what it was doing, on which NSS database, and what it said. */
export interface CertutilFailure {
  step: string;
  db: string;
  code: number;
  stderr: string;
}

/** Without the lab CA a turns: allocation fails later as an ICE failure: say so at launch instead. */
export function caImportError(engine: EngineName, f: CertutilFailure): LabError {
  const missing = f.code === 127 || /ENOENT/.test(f.stderr);
  return new LabError('ERR_CA_IMPORT', `${engine}: certutil could not ${f.step} in ${f.db} (exit ${f.code}): ${f.stderr.trim() || 'no output'}`, {
    hint: missing ? 'install certutil: apt-get install libnss3-tools' : `check that the lab CA file is a PEM certificate and ${f.db} is writable (certutil comes with libnss3-tools: apt-get install libnss3-tools)`,
    context: { engine, db: f.db },
  });
}

/**
 * Pipe transports (Chromium, Playwright's own builds) pass through `ip netns exec` untouched; a
 * BiDi WebSocket needs the bridge. No sudo here: it closes the pipe fds.
 */
function wrapperScript(found: EngineFound, ns: string): string {
  const bridge = new URL('./ns-bridge.cjs', import.meta.url).pathname;
  return found.channel === 'moz-firefox' ? `#!/bin/sh\nexec "${process.execPath}" "${bridge}" "$@"\n` : `#!/bin/sh\nexec ip netns exec ${ns} "${found.executablePath}" "$@"\n`;
}

/**
 * Playwright options for one launch. The browser's environment is built here and passed to the
 * launch; process.env is never changed, so parallel launches cannot see each other's TMPDIR.
 * (Playwright itself makes its profile dirs in this process's os.tmpdir() and removes them on close.)
 */
export function launchOptions(o: { found: EngineFound; ns: string; files: LaunchFiles; home: string | null; caFile: string | null; fleet: FleetOptions }, base: NodeJS.ProcessEnv = process.env): LaunchOptions {
  const engine = o.found.engine;
  const env: Record<string, string> = {
    ...(base as Record<string, string>),
    TMPDIR: o.files.tmp,
    ICELAB_NETNS: o.ns,
    ICELAB_EXECUTABLE: o.found.executablePath,
    ICELAB_CA_REPORT: o.files.caReport,
    ...(o.caFile ? { ICELAB_CA_FILE: o.caFile } : {}),
    ...(o.home ? { HOME: o.home } : {}),
  };
  return {
    executablePath: o.files.wrapper,
    headless: !o.fleet.headed,
    env,
    timeout: 30_000,
    ...o.fleet.launch,
    ...(o.found.channel ? { channel: o.found.channel } : {}),
    ...(engine === 'chromium' ? { args: CHROMIUM_ARGS } : {}),
    ...(engine === 'firefox' ? { firefoxUserPrefs: FIREFOX_PREFS } : {}),
  };
}

/** Calls one shared page hosts before the fleet opens the next: well under Chromium's 500 peer connections per tab. */
export const PAGE_CALLS = 200;

/** A page hosting calls; `release()` when the call on it closed (the last release of a rotated page closes it). */
export interface PeerPage {
  page: Page;
  launched: LaunchedBrowser;
  release(): Promise<void>;
}

/**
 * Browsers running inside lab hosts: one launch per engine and host, reused by every scenario:
 * calls share a long-lived page per engine and host (peerPage), API checks get a fresh context
 * (page). Close the fleet before the lab.
 */
export class BrowserFleet implements AsyncDisposable {
  readonly #lab: FleetLab;
  readonly #opts: FleetOptions;
  readonly #launched = new Map<string, Promise<LaunchedBrowser>>();
  #launches = 0;
  #launching = 0;
  readonly #launchWaiters: (() => void)[] = [];
  #chromiumHomeDir: Promise<string> | null = null;
  readonly #opening = new Map<string, Promise<unknown>>();
  readonly #peerPages = new Map<string, { opened: Promise<{ context: BrowserContext; page: Page; launched: LaunchedBrowser }>; calls: number; leases: number }>();
  constructor(lab: FleetLab, opts: FleetOptions = {}) {
    this.#lab = lab;
    this.#opts = opts;
  }

  /** The browser of `engine` in `host`, launched on first use. Rejects with EngineUnavailableError. */
  browser(engine: EngineName, host: string): Promise<LaunchedBrowser> {
    const key = `${engine}@${host}`;
    let p = this.#launched.get(key);
    if (!p) {
      const launching = this.#launchSlot(() => this.#launch(engine, host));
      this.#launched.set(key, launching);
      // A browser that crashed or was killed is launched again on next use, with fresh pages.
      void launching.then((l) => l.browser.once('disconnected', () => this.#forget(key, launching)), () => undefined);
      p = launching;
    }
    return p;
  }

  #forget(key: string, launched: Promise<LaunchedBrowser>): void {
    if (this.#launched.get(key) !== launched) return;
    this.#launched.delete(key);
    this.#peerPages.delete(key);
  }

  launchedBrowsers(): Promise<LaunchedBrowser[]> {
    return Promise.allSettled([...this.#launched.values()]).then((r) => r.flatMap((x) => (x.status === 'fulfilled' ? [x.value] : [])));
  }

  /**
   * The long-lived page of `engine` in `host` that hosts calls as peer connections (one per call
   * and side), opened on first use. A lease counts one call; after `callsPerPage` leases the next call
   * gets a new page, and the old one closes when its last call releases it (Chromium allows 500
   * RTCPeerConnections per tab over the tab's lifetime). A page that crashed or closed is replaced.
   */
  async peerPage(engine: EngineName, host: string, html: string): Promise<PeerPage> {
    const key = `${engine}@${host}`;
    let shared = this.#peerPages.get(key);
    if (!shared || shared.calls >= (this.#opts.callsPerPage ?? PAGE_CALLS) || (await shared.opened.then((o) => o.page.isClosed(), () => true))) {
      const opened = this.page(engine, host, html);
      shared = { opened, calls: 0, leases: 0 };
      const mine = shared;
      opened.catch(() => this.#peerPages.get(key) === mine && this.#peerPages.delete(key));
      this.#peerPages.set(key, shared);
    }
    const lease = shared;
    lease.calls++;
    lease.leases++;
    const { page, context, launched } = await lease.opened.catch((e: unknown) => {
      lease.leases--;
      throw e;
    });
    let released = false;
    const release = async () => {
      if (released) return;
      released = true;
      lease.leases--;
      if (lease.leases === 0 && this.#peerPages.get(key) !== lease) await context.close().catch(() => undefined);
    };
    return { page, launched, release };
  }

  /** A fresh context and page at PAGE_ORIGIN serving `html`, checked to have RTCPeerConnection: for tests whose point is isolation (API checks, a tampered page). */
  async page(engine: EngineName, host: string, html: string): Promise<{ context: BrowserContext; page: Page; launched: LaunchedBrowser }> {
    const launched = await this.browser(engine, host);
    // Firefox's BiDi fails ("TabManager.getTabBrowser(...) is undefined") when two contexts open
    // their first page at once, so page creation is serialised per browser.
    const key = `${engine}@${host}`;
    const opened = (this.#opening.get(key) ?? Promise.resolve()).then(async () => {
      const context = await launched.browser.newContext({ ignoreHTTPSErrors: true });
      return { context, page: await context.newPage().catch(async (e: unknown) => { await context.close().catch(() => undefined); throw e; }) };
    });
    this.#opening.set(key, opened.catch(() => undefined));
    const { context, page } = await opened;
    try {
      await context.route(`${PAGE_ORIGIN}/**`, (route) => route.fulfill({ contentType: 'text/html', body: html }));
      await page.goto(`${PAGE_ORIGIN}/peer.html`);
      const has = await page.evaluate(() => typeof RTCPeerConnection === 'function');
      if (!has) throw new EngineUnavailableError(engine, `${launched.found.executablePath} (${launched.version}) has no RTCPeerConnection`, 'use a build with WebRTC');
      return { context, page, launched };
    } catch (e) {
      await context.close().catch(() => undefined);
      throw e;
    }
  }

  /**
   * Runs a launch once fewer than one per core are under way. A launch is CPU-bound: with calls
   * started at once from a pool, 16 at once on 2 cores under load pushed Firefox past its 30 s
   * launch timeout, and every call in that host failed.
   */
  async #launchSlot<T>(launch: () => Promise<T>): Promise<T> {
    while (this.#launching >= availableParallelism()) await new Promise<void>((r) => this.#launchWaiters.push(r));
    this.#launching++;
    try {
      return await launch();
    } finally {
      this.#launching--;
      this.#launchWaiters.shift()?.();
    }
  }

  async #launch(engine: EngineName, host: string): Promise<LaunchedBrowser> {
    const found = findEngine(engine, this.#opts.sources?.[engine]);
    if (!found.available) throw new EngineUnavailableError(engine, found.reason, found.fix);
    const dir = join(this.#lab.dir, 'browsers');
    const files = launchFiles(dir, engine, host, ++this.#launches);
    mkdirSync(files.tmp, { recursive: true });
    rmSync(files.caReport, { force: true });
    const ns = this.#lab.ns(host);
    writeFileSync(files.wrapper, wrapperScript(found, ns));
    chmodSync(files.wrapper, 0o755);
    // Once per fleet: parallel launches must not race on creating one NSS database.
    const home = engine === 'chromium' ? await (this.#chromiumHomeDir ??= this.#chromiumHome(dir)) : null;
    const options = launchOptions({ found, ns, files, home, caFile: this.#lab.caFile ?? null, fleet: this.#opts });
    const t0 = performance.now();
    try {
      const browser = await browserType(engine).launch(options);
      return { engine, host, browser, found, version: browser.version(), launchMs: Math.round(performance.now() - t0) };
    } catch (e) {
      // The bridge imports the lab CA into Firefox's profile before Firefox starts; it reports a failure here.
      if (existsSync(files.caReport)) throw caImportError(engine, JSON.parse(readFileSync(files.caReport, 'utf8')) as CertutilFailure);
      throw new LabError('ERR_BROWSER_LAUNCH', `${engine} (${found.executablePath}) did not start in lab host "${host}": ${(e as Error).message.split('\n')[0]}`, {
        cause: e,
        hint: `run \`icelab doctor\`; try it outside the lab: ${found.executablePath} --headless --version`,
        context: { host, netns: ns },
      });
    }
  }

  /** Chromium trusts certificates from $HOME/.pki/nssdb: a lab-owned HOME with the lab CA in it. */
  async #chromiumHome(dir: string): Promise<string> {
    const home = chromiumHomeDir(dir);
    const db = join(home, '.pki', 'nssdb');
    mkdirSync(db, { recursive: true });
    // certutil prompts on a terminal when something is off: never let it wait.
    const certutil = async (step: string, args: string[]) => {
      const r = await run(['certutil', ...args], { timeoutMs: 10_000 });
      if (r.code !== 0) throw caImportError('chromium', { step, db, code: r.code, stderr: r.stderr });
    };
    if (!existsSync(join(db, 'cert9.db'))) await certutil('create the NSS database', ['-N', '-d', `sql:${db}`, '--empty-password']);
    if (this.#lab.caFile) await certutil(`import the lab CA ${this.#lab.caFile}`, ['-A', '-d', `sql:${db}`, '-t', 'C,,', '-n', 'icelab-lab-ca', '-i', this.#lab.caFile]);
    return home;
  }

  async close(): Promise<void> {
    const all = await this.launchedBrowsers();
    this.#launched.clear();
    this.#peerPages.clear();
    await Promise.all(all.map((b) => b.browser.close().catch(() => undefined)));
  }
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
