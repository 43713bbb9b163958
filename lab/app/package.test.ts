import { expect } from 'chai';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../network/run.ts';
import { PACKAGE_ROOT } from '../package-root.ts';
import { testDir } from '../testing/temp-dir.ts';

const APP = new URL('./fixtures/tiny-app.mjs', import.meta.url).pathname;

/** The package as an app's repo gets it: packed, installed from the tarball into a directory of its own. */
describe('icelab installed into an app\'s repo @integration', function () {
  this.timeout(900_000);
  let app: string;
  // run() has no cwd: a shell changes into the app's directory first.
  const sh = (cmd: string[], timeoutMs = 300_000) => run(['sh', '-c', 'cd "$0" && exec "$@"', app, ...cmd], { timeoutMs });
  before(async () => {
    const out = testDir('pack');
    const packed = await run(['npm', 'pack', '--pack-destination', out, PACKAGE_ROOT], { timeoutMs: 300_000 });
    expect(packed.code, packed.stderr).to.equal(0);
    const tarball = join(out, packed.stdout.trim().split('\n').at(-1)!);
    app = testDir('app-repo');
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'my-webrtc-app', private: true, type: 'module' }));
    const pinned = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')).devDependencies['@playwright/test'] as string;
    const installed = await sh(['npm', 'i', '-D', '--prefer-offline', '--no-audit', '--no-fund', tarball, `@playwright/test@${pinned}`], 600_000);
    expect(installed.code, installed.stderr).to.equal(0);
  });

  it('npx icelab --help, import from "icelab" and "icelab/playwright" work from the app\'s directory, on the built JavaScript', async () => {
    const help = await sh(['npx', 'icelab', '--help']);
    expect(help.code, help.stderr).to.equal(0);
    expect(help.stdout).to.include('icelab open <url> --peers');
    // Without tsx the CLI can only have run dist/ (unpacking makes lab/ look newer than the build).
    const tsx = join(app, 'node_modules', 'tsx');
    renameSync(tsx, `${tsx}.off`);
    const built = await sh(['npx', 'icelab', '--help']).finally(() => renameSync(`${tsx}.off`, tsx));
    expect(built.code, built.stderr).to.equal(0);
    const probe = `
      const lab = await import('icelab');
      const pw = await import('icelab/playwright');
      console.log(JSON.stringify({ from: import.meta.resolve('icelab'), startLab: typeof lab.startLab, AppSession: typeof lab.AppSession, test: typeof pw.test?.extend, expect: typeof pw.expect }));`;
    const r = await sh(['node', '--input-type=module', '-e', probe]);
    expect(r.code, r.stderr).to.equal(0);
    const seen = JSON.parse(r.stdout) as Record<string, string>;
    expect(seen.from).to.match(/node_modules\/icelab\/dist\/lab\/index\.js$/);
    expect({ ...seen, from: undefined }).to.deep.equal({ from: undefined, startLab: 'function', AppSession: 'function', test: 'function', expect: 'function' });
  });

  it('a Playwright Test spec in the app uses openPeer: both pages connect as predicted, evidence and the trace attached, under the app\'s directory', async () => {
    writeFileSync(join(app, 'playwright.config.mjs'), `export default { testDir: 'e2e', timeout: 180000, workers: 1, reporter: [['json', { outputFile: 'results.json' }]] };\n`);
    await sh(['mkdir', '-p', join(app, 'e2e')]);
    writeFileSync(
      join(app, 'e2e', 'call.spec.ts'),
      `import { test, expect } from 'icelab/playwright';
test.use({ labTopology: { hosts: [{ name: 'alice', nat: 'full-cone' }, { name: 'bob', nat: 'symmetric' }], services: [{ name: 'web', command: '${process.execPath} ${APP} 8080', port: 8080, tls: true }] } });
test('two browsers behind NATs call through the app', async ({ openPeer }) => {
  const a = await openPeer('chromium@alice', 'https://web.lab.test/?room=r&me=a&other=b&ice=stun');
  const b = await openPeer('firefox@bob', 'https://web.lab.test/?room=r&me=b&other=a&ice=stun');
  for (const p of [a, b]) {
    const [pc] = await p.report();
    expect(pc.expected?.outcome).toBe('prflx');
    expect(pc.matches, pc.verdict.reason).toBe(true);
  }
});
`,
    );
    const r = await sh(['npx', 'playwright', 'test'], 600_000);
    const results = JSON.parse(readFileSync(join(app, 'results.json'), 'utf8')) as { suites: { specs: { tests: { results: { status: string; attachments: { name: string; path?: string }[] }[] }[] }[] }[] };
    const result = results.suites[0]!.specs[0]!.tests[0]!.results[0]!;
    expect(result.status, `${r.stdout}\n${r.stderr}`).to.equal('passed');
    const names = result.attachments.map((x) => x.name);
    expect(names.filter((n) => n === 'trace')).to.have.length(2);
    expect(names).to.include.members(['chromium@alice/pc-0/result.json', 'firefox@bob/pc-0/ice-checks.json', 'chromium@alice/service-web.log']);
    expect(result.attachments.every((x) => !x.path || x.path.startsWith(app))).to.equal(true);
  });
});
