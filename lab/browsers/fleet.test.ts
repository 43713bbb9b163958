import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { startLab, type StartedLab } from '../lab.ts';
import { run } from '../network/run.ts';
import { findEngine, type EngineFound, type EngineName } from './engines.ts';
import { BrowserFleet, launchFiles, launchOptions } from './fleet.ts';

const requireEngine = (e: EngineName): EngineFound => {
  const f = findEngine(e);
  if (!f.available) throw new Error(`${f.reason}; to fix: ${f.fix}`);
  return f;
};

describe('browser launch options', function () {
  it('give each launch its own TMPDIR in the browser environment, and leave process.env alone', () => {
    const found = requireEngine('chromium');
    const before = { ...process.env };
    const opts = (host: string) => launchOptions({ found, ns: `ns-${host}`, files: launchFiles('/lab/browsers', 'chromium', host), home: '/lab/home', caFile: null, fleet: {} });
    const [one, two] = [opts('one'), opts('two')];
    expect(one.env?.TMPDIR).to.equal('/lab/browsers/tmp/chromium-one');
    expect(two.env?.TMPDIR).to.equal('/lab/browsers/tmp/chromium-two');
    expect(one.env).to.include({ HOME: '/lab/home', ICELAB_NETNS: 'ns-one' });
    expect(process.env, 'building launch options must not change this process\'s environment').to.deep.equal(before);
  });
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
    expect(await tmpdirsIn(lab!, 'one'), 'TMPDIR of the processes in host "one"').to.deep.equal([join(dir, 'chromium-one')]);
    expect(await tmpdirsIn(lab!, 'two'), 'TMPDIR of the processes in host "two"').to.deep.equal([join(dir, 'firefox-two')]);
  });
});
