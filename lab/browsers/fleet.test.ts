import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { startLab, type StartedLab } from '../lab.ts';
import { run } from '../network/run.ts';
import { LabError } from '../topology/errors.ts';
import { findEngine, type EngineFound, type EngineName } from './engines.ts';
import { BrowserFleet, caImportError, chromiumHomeDir, launchFiles, launchOptions } from './fleet.ts';
import { testDir } from '../testing/temp-dir.ts';

const requireEngine = (e: EngineName): EngineFound => {
  const f = findEngine(e);
  if (!f.available) throw new Error(`${f.reason}; to fix: ${f.fix}`);
  return f;
};

describe('browser launch options', function () {
  it('give each launch its own TMPDIR in the browser environment, and leave process.env alone', () => {
    const found = requireEngine('chromium');
    const before = { ...process.env };
    const opts = (host: string, n: number) => launchOptions({ found, ns: `ns-${host}`, files: launchFiles('/lab/browsers', 'chromium', host, n), home: '/lab/home', caFile: null, fleet: {} });
    const [one, two] = [opts('one', 1), opts('two', 2)];
    expect(one.env?.TMPDIR).to.equal('/lab/browsers/tmp/1');
    expect(two.env?.TMPDIR).to.equal('/lab/browsers/tmp/2');
    expect(one.env).to.include({ HOME: '/lab/home', ICELAB_NETNS: 'ns-one' });
    expect(process.env, 'building launch options must not change this process\'s environment').to.deep.equal(before);
  });

  it('keep TMPDIR short enough for Chromium\'s singleton socket with the longest lab id and host name', () => {
    // A lab dir is /tmp/icelab-<id of up to 16 characters>; a host name has up to 32.
    const { tmp } = launchFiles(`/tmp/icelab-${'x'.repeat(16)}/browsers`, 'chromium', 'h'.repeat(32), 999);
    const socket = `${tmp}/org.chromium.Chromium.XXXXXX/SingletonSocket`;
    expect(Buffer.byteLength(socket), socket).to.be.below(108);
  });

  it('never give a launch the path of Chromium\'s HOME: a lab host named "home" launched Chromium over its own NSS database (ENOTDIR)', () => {
    const dir = '/lab/browsers';
    const home = chromiumHomeDir(dir);
    for (const engine of ['chromium', 'firefox', 'webkit'] as const) {
      for (const host of ['home', 'chromium', 'pki']) {
        const f = launchFiles(dir, engine, host, 1);
        for (const p of [f.wrapper, f.tmp, f.caReport]) expect(home.startsWith(p) || p.startsWith(`${home}/`), `${p} vs ${home}`).to.equal(false);
      }
    }
  });

  it('explain a certutil failure with the engine, the NSS database, its output and the package to install', () => {
    const missing = caImportError('firefox', { step: 'import the lab CA /lab/ca.pem', db: '/tmp/profile', code: 127, stderr: 'Error: spawnSync certutil ENOENT' });
    expect(missing).to.be.instanceOf(LabError).and.include({ code: 'ERR_CA_IMPORT' });
    expect(missing.message).to.equal('firefox: certutil could not import the lab CA /lab/ca.pem in /tmp/profile (exit 127): Error: spawnSync certutil ENOENT\nTo fix: install certutil: apt-get install libnss3-tools');
    const bad = caImportError('chromium', { step: 'import the lab CA /lab/ca.pem', db: '/lab/nssdb', code: 255, stderr: 'certutil: unable to decode certificate\n' });
    expect(bad.hint).to.match(/PEM certificate and \/lab\/nssdb is writable .*apt-get install libnss3-tools/);
  });
});

/** A lab CA certutil cannot read: the import fails as it would with a broken or missing CA file. */
describe('browser launch: the lab CA import @integration', function () {
  this.timeout(60_000);
  let dir = '';
  before(() => {
    dir = testDir('fleet-test');
    writeFileSync(join(dir, 'ca.pem'), 'not a certificate\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  // The CA import comes before the browser enters its namespace, so no lab is needed.
  const fleet = () => new BrowserFleet({ id: 'catest', dir, ns: () => 'icelab-no-such-ns', caFile: join(dir, 'ca.pem') });

  for (const engine of ['chromium', 'firefox'] as const) {
    it(`${engine}: a failed import stops the launch with ERR_CA_IMPORT naming the NSS database and certutil's message`, async () => {
      requireEngine(engine);
      const f = fleet();
      const err = await f.browser(engine, 'h').then(
        () => null,
        (e: unknown) => e,
      );
      await f.close();
      expect(err).to.be.instanceOf(LabError);
      expect((err as LabError).code, (err as Error).message).to.equal('ERR_CA_IMPORT');
      const db = engine === 'chromium' ? join(chromiumHomeDir(join(dir, 'browsers')), '.pki', 'nssdb') : 'playwright_firefox';
      expect((err as Error).message).to.include(`${engine}: certutil could not import the lab CA ${join(dir, 'ca.pem')} in `).and.include(db).and.match(/\(exit \d+\): certutil: .+/);
      expect((err as LabError).hint).to.include('apt-get install libnss3-tools');
    });
  }
});

/**
 * TMPDIR of the processes in a lab host's namespace that still hold the environment the launch
 * passed (Chromium's zygote and GPU processes overwrite theirs with their process titles).
 */
async function tmpdirsIn(lab: StartedLab, host: string): Promise<string[]> {
  const pids = (await run(['ip', 'netns', 'pids', lab.ns(host)])).stdout.split('\n').filter(Boolean);
  const environ = (pid: string) => {
    try {
      return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    } catch {
      return []; // exited meanwhile
    }
  };
  const launched = pids.map(environ).filter((env) => env.includes(`ICELAB_NETNS=${lab.ns(host)}`));
  return [...new Set(launched.map((env) => env.find((v) => v.startsWith('TMPDIR='))?.slice(7) ?? '(none)'))];
}

describe('browser launch: parallel launches @integration', function () {
  this.timeout(90_000);
  let lab: StartedLab | undefined;
  let fleet: BrowserFleet | undefined;
  before(async () => {
    requireEngine('chromium');
    requireEngine('firefox');
    lab = await startLab({ hosts: [{ name: 'one', nat: 'open' }, { name: 'two', nat: 'open' }] });
    fleet = new BrowserFleet(lab);
  });
  after(async () => {
    await fleet?.close();
    await lab?.stop();
  });

  it('two browsers launched at once each see their own TMPDIR, and this process\'s TMPDIR never changes', async () => {
    const mine = process.env.TMPDIR;
    const launches = [fleet!.browser('chromium', 'one'), fleet!.browser('firefox', 'two')];
    expect(process.env.TMPDIR, 'TMPDIR while the launches run').to.equal(mine);
    await Promise.all(launches);
    expect(process.env.TMPDIR, 'TMPDIR after the launches').to.equal(mine);
    const dir = join(lab!.dir, 'browsers', 'tmp');
    const [one, two] = [await tmpdirsIn(lab!, 'one'), await tmpdirsIn(lab!, 'two')];
    expect(one, 'TMPDIR of the processes in host "one"').to.have.length(1);
    expect(two, 'TMPDIR of the processes in host "two"').to.have.length(1);
    expect([...one, ...two].every((t) => t.startsWith(`${dir}/`)), `${one} and ${two} in ${dir}`).to.equal(true);
    expect(one[0], 'each launch its own TMPDIR').to.not.equal(two[0]);
  });
});

describe('browser fleet: shared call pages @integration', function () {
  this.timeout(90_000);
  let lab: StartedLab | undefined;
  let fleet: BrowserFleet | undefined;
  const HTML = '<!doctype html><title>calls</title>';
  before(async () => {
    requireEngine('chromium');
    lab = await startLab({ hosts: [{ name: 'one', nat: 'open' }] });
    fleet = new BrowserFleet(lab, { callsPerPage: 2 });
  });
  after(async () => {
    await fleet?.close();
    await lab?.stop();
  });

  it('leases one page to many calls, moves to a new page after callsPerPage, and closes the old one with its last release', async () => {
    const [first, second] = [await fleet!.peerPage('chromium', 'one', HTML), await fleet!.peerPage('chromium', 'one', HTML)];
    expect(second.page, 'the second call shares the first call\'s page').to.equal(first.page);
    const third = await fleet!.peerPage('chromium', 'one', HTML);
    expect(third.page, 'the third call gets a new page').to.not.equal(first.page);
    await first.release();
    expect(first.page.isClosed(), 'closed while a call still holds it').to.equal(false);
    await second.release();
    expect(first.page.isClosed(), 'closed after its last call released it').to.equal(true);
    await third.release();
    expect(third.page.isClosed(), 'the current page stays open for the next call').to.equal(false);
  });

  it('replaces a page that closed under its calls', async () => {
    const one = await fleet!.peerPage('chromium', 'one', HTML);
    await one.page.close();
    const next = await fleet!.peerPage('chromium', 'one', HTML);
    expect(next.page.isClosed()).to.equal(false);
    await Promise.all([one.release(), next.release()]);
  });
});
