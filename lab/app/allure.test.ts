import { expect } from 'chai';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { run } from '../network/run.ts';
import type { AllureResult } from '../report/results.ts';
import { PACKAGE_ROOT } from '../package-root.ts';

const INDEX = new URL('../index.ts', import.meta.url).pathname;
const APP = new URL('./fixtures/tiny-app.mjs', import.meta.url).pathname;
const MOCHA = createRequire(import.meta.url).resolve('mocha/bin/mocha.js');

/** The library in a team's Mocha suite with allure-mocha, as the project's suites use it: run on a sample spec, read the Allure results. */
describe('app peers in a Mocha suite with Allure @integration', function () {
  this.timeout(300_000);

  it('labels each peer connection with its verdict, describes it and attaches its evidence', async () => {
    // Inside the checkout (.scratch is ignored): the sample spec resolves chai, tsx and allure-mocha as a team's repo does.
    mkdirSync(join(PACKAGE_ROOT, '.scratch'), { recursive: true });
    const dir = mkdtempSync(join(PACKAGE_ROOT, '.scratch', 'mocha-'));
    const results = join(dir, 'allure-results');
    writeFileSync(
      join(dir, 'call.test.ts'),
      `import { expect } from 'chai';
import { startLab, AppSession, reportPeerConnections } from '${INDEX}';
describe('my app', function () {
  this.timeout(240000);
  it('calls from behind a symmetric NAT', async () => {
    await using lab = await startLab({ hosts: [{ name: 'alice', nat: 'symmetric' }, { name: 'bob', nat: 'full-cone' }], services: [{ name: 'web', command: '${process.execPath} ${APP} 8080', port: 8080, tls: true }] });
    await using app = new AppSession(lab, { evidenceDir: '${join(dir, 'evidence')}' });
    await app.openPeer('chromium@alice', 'https://web.lab.test/?room=r&me=a&other=b&ice=stun');
    await app.openPeer('firefox@bob', 'https://web.lab.test/?room=r&me=b&other=a&ice=stun');
    const pages = await app.reports();
    await reportPeerConnections(pages);
    for (const { peerConnections } of pages) expect(peerConnections.every((pc) => pc.matches)).to.equal(true);
  });
});
`,
    );
    const r = await run(['sh', '-c', 'cd "$0" && exec "$@"', dir, process.execPath, MOCHA, '--no-config', '--node-option', 'import=tsx', '--reporter', 'allure-mocha', '--reporter-option', `resultsDir=${results}`, 'call.test.ts'], { timeoutMs: 280_000 });
    const [file] = readdirSync(results).filter((f) => f.endsWith('-result.json'));
    const result = JSON.parse(readFileSync(join(results, file!), 'utf8')) as Omit<AllureResult, 'steps'> & { description?: string; steps: { attachments: { name: string }[] }[] };
    expect(result.status, `${r.stdout}\n${r.stderr}`).to.equal('passed');
    const labels = (result.labels ?? []).map((l) => `${l.name}=${l.value}`);
    expect(labels).to.include.members(['engine=chromium', 'host=alice', 'engine=firefox', 'host=bob', 'verdict=pass']);
    expect(result.description).to.include('chromium@alice pc-0: connected, class prflx ✓ as predicted');
    // Allure 3 keeps each attachment in a step of its own.
    expect(result.steps.flatMap((x) => x.attachments.map((a) => a.name))).to.include.members(['chromium@alice pc-0 result.json', 'firefox@bob pc-0 timeline.txt', 'chromium@alice service-web.log', 'firefox@bob console.log']);
  });
});
