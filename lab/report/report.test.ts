import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { release } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { expect } from 'chai';
import { chromium } from 'playwright';
import { findEngine } from '../browsers/engines.ts';
import { junitXml } from './junit.ts';
import { cellKey, overviewGrid, overviewHtml, overviewSvg, worstOutcome } from './overview.ts';
import { markdownHtml } from './html.ts';
import { buildReport, engineVersions, executorInfo, OVERVIEW_LINK } from './report.ts';
import { CATEGORIES, countOutcomes, liftReason, outcomeOf, readResults, renderDescription, reportsDir, type AllureResult } from './results.ts';
import { testDir } from '../testing/temp-dir.ts';

const CHROMIUM = '156.0.8078.108';
const FIREFOX = '153.8.0';

/**
 * A connectivity result as allure-mocha writes it for suites/connectivity (labels from labelCall,
 * the fixture's tags, steps and parameters), so the report is tested on what the suites produce.
 */
function call(o: {
  a: string;
  b: string;
  natA: string;
  natB: string;
  ice: string;
  status: NonNullable<AllureResult['status']>;
  message?: string;
  tags?: string[];
  steps?: { name: string; status: string }[];
  extraLabels?: { name: string; value: string }[];
  versions?: boolean;
  startOffset?: number;
  description?: string;
  /** The class the call's pair settled on, as suites/connectivity records it. */
  settled?: string;
}): AllureResult {
  const name = `${o.a} behind ${o.natA} ↔ ${o.b} behind ${o.natB}, ${o.ice}`;
  const start = 1_790_000_000_000 + (o.startOffset ?? 0);
  const v = (e: string) => ({ chromium: CHROMIUM, firefox: FIREFOX })[e] ?? '?';
  return {
    uuid: randomUUID(),
    name,
    fullName: `icelab:suites/connectivity/connectivity.test.ts: connectivity matrix (pr) > ${name}`,
    historyId: `h-${name}`,
    status: o.status,
    statusDetails: o.message ? { message: o.message, trace: `${o.status === 'failed' ? 'AssertionError' : 'Error'}: ${o.message}\n    at Context.<anonymous> (suites/connectivity/connectivity.test.ts:31:13)` } : {},
    steps: (o.steps ?? []).map((s) => ({ ...s, stage: 'finished', steps: [], attachments: [], parameters: [] })),
    attachments: [],
    parameters: [
      ...(o.versions === false ? [] : [{ name: 'engine versions', value: `${o.a} ${v(o.a)} → ${o.b} ${v(o.b)}` }]),
      ...(o.settled ? [{ name: 'settled pair class', value: o.settled }] : []),
    ],
    labels: [
      { name: 'language', value: 'javascript' },
      { name: 'framework', value: 'mocha' },
      { name: 'parentSuite', value: 'connectivity' },
      { name: 'suite', value: `${o.a} → ${o.b}` },
      { name: 'subSuite', value: o.ice },
      { name: 'engineA', value: o.a },
      { name: 'engineB', value: o.b },
      { name: 'natA', value: o.natA },
      { name: 'natB', value: o.natB },
      { name: 'iceTransport', value: o.ice },
      { name: 'policy', value: o.ice === 'relay-only' ? 'relay' : 'all' },
      ...(o.tags ?? []).map((t) => ({ name: 'tag', value: t })),
      ...(o.extraLabels ?? []),
    ],
    ...(o.description ? { description: o.description } : {}),
    start,
    stop: start + 1800,
  };
}

/** A description as callStory writes it (lab/report/call-report.ts), with text that looks like markup. */
const STORY = [
  '**Expected:** relay-udp — A is behind a symmetric NAT: only a relay pair can work',
  '**Observed:** fail (failed: no <relay> candidate, TURN 403 & 701)',
  '**Candidates:** A {"host":1,"srflx":1}, B {"host":1}; icecandidateerror A 1, B 0',
  'Reproduce:',
  '```\nnpx icelab connect --a chromium@symmetric --b chromium@port-restricted-cone --ice turn-udp <&>\n```',
].join('\n\n');
const STORY_HTML = [
  '<p><strong>Expected:</strong> relay-udp — A is behind a symmetric NAT: only a relay pair can work</p>',
  '<p><strong>Observed:</strong> fail (failed: no &lt;relay&gt; candidate, TURN 403 &amp; 701)</p>',
  '<p><strong>Candidates:</strong> A {&quot;host&quot;:1,&quot;srflx&quot;:1}, B {&quot;host&quot;:1}; icecandidateerror A 1, B 0</p>',
  '<p>Reproduce:</p>',
  '<pre><code>npx icelab connect --a chromium@symmetric --b chromium@port-restricted-cone --ice turn-udp &lt;&amp;&gt;</code></pre>',
].join('\n');

/** One of each outcome the report must tell apart. */
function fixtures(): Record<'pass' | 'failure' | 'known' | 'unavailable' | 'broken', AllureResult> {
  return {
    pass: call({ a: 'chromium', b: 'firefox', natA: 'port-restricted-cone', natB: 'port-restricted-cone', ice: 'stun', status: 'passed', settled: 'srflx' }),
    failure: call({
      a: 'chromium',
      b: 'chromium',
      natA: 'symmetric',
      natB: 'port-restricted-cone',
      ice: 'turn-udp',
      status: 'failed',
      message: 'connectivity/chromium@symmetric--chromium@port-restricted-cone/turn-udp: expected relay-udp, observed fail — <TURN 403 & no relay>',
      startOffset: 2000,
      description: STORY,
      settled: 'fail',
    }),
    known: call({
      a: 'firefox',
      b: 'chromium',
      natA: 'symmetric',
      natB: 'full-cone',
      ice: 'stun',
      status: 'passed',
      tags: ['known-deviation'],
      steps: [{ name: 'known deviation: Firefox 153 nominates the relay pair before the prflx pair succeeds', status: 'passed' }],
      startOffset: 4000,
      settled: 'relay-udp',
    }),
    unavailable: call({
      a: 'webkit',
      b: 'chromium',
      natA: 'port-restricted-cone',
      natB: 'port-restricted-cone',
      ice: 'stun',
      status: 'skipped',
      message: 'Test skipped',
      tags: ['engine-unavailable'],
      extraLabels: [{ name: 'engineUnavailable', value: 'webkit' }],
      steps: [{ name: 'unavailable: webkit is not installed (playwright: /root/.cache/ms-playwright/webkit-2215/pw_run.sh not found)', status: 'skipped' }],
      versions: false,
      startOffset: 6000,
    }),
    broken: call({
      a: 'chromium',
      b: 'firefox',
      natA: 'udp-blocked',
      natB: 'open',
      ice: 'turn-tcp',
      status: 'broken',
      message: 'lab could not start: coturn did not answer a STUN binding on 198.18.0.10:3478 within 10000 ms',
      startOffset: 8000,
    }),
  };
}

const CLAIMS = {
  generated: '2026-01-05T10:00:00.000Z',
  engines: { chromium: CHROMIUM, firefox: FIREFOX, webkit: null },
  claims: [
    {
      id: 'api/peerconnection-exposed',
      claim: 'RTCPeerConnection is exposed on window',
      source: 'seed/webrtc-guide.md:12',
      verdicts: {
        chromium: { verdict: 'true', detail: 'typeof RTCPeerConnection === "function"' },
        firefox: { verdict: 'true', detail: 'typeof RTCPeerConnection === "function"' },
        webkit: { verdict: 'unavailable', detail: 'unavailable: webkit is not installed' },
      },
    },
    {
      id: 'api/webkit-prefix',
      claim: 'webkitRTCPeerConnection is not exposed',
      source: 'seed/webrtc-guide.md:40',
      verdicts: {
        chromium: { verdict: 'false', detail: 'webkitRTCPeerConnection === RTCPeerConnection' },
        firefox: { verdict: 'true', detail: 'undefined' },
        webkit: { verdict: 'unavailable', detail: 'unavailable: webkit is not installed' },
      },
    },
  ],
};

// Allure matches a category's messageRegex against the whole message (Java's Matcher.matches, DOTALL).
const javaMatches = (regex: string, s: string) => new RegExp(`^(?:${regex})$`, 's').test(s);
const categoriesOf = (r: AllureResult) =>
  CATEGORIES.filter((c) => c.matchedStatuses.includes(r.status ?? '') && (!c.messageRegex || javaMatches(c.messageRegex, r.statusDetails?.message ?? ''))).map((c) => c.name);

describe('report: outcomes and categories', function () {
  it('classes each fixture, lifting the unavailable and known-deviation reasons into the message', function () {
    const f = fixtures();
    const lifted = Object.fromEntries(Object.entries(f).map(([k, r]) => [k, liftReason(r) ?? r])) as typeof f;
    expect(Object.fromEntries(Object.entries(lifted).map(([k, r]) => [k, outcomeOf(r)]))).to.deep.equal({
      pass: 'passed',
      failure: 'failed',
      known: 'known',
      unavailable: 'unavailable',
      broken: 'broken',
    });
    expect(lifted.unavailable.statusDetails?.message).to.match(/^unavailable: webkit is not installed/);
    expect(lifted.known.statusDetails?.message).to.match(/^known deviation: Firefox 153/);
    expect(liftReason(f.pass), 'a plain pass is left as it is').to.equal(null);
    expect(liftReason(lifted.unavailable), 'lifting twice changes nothing').to.equal(null);
  });

  it('puts each outcome in exactly its category', function () {
    const f = fixtures();
    const cats = Object.fromEntries(Object.entries(f).map(([k, r]) => [k, categoriesOf(liftReason(r) ?? r)]));
    expect(cats).to.deep.equal({
      pass: [],
      failure: ['Unexpected failure'],
      known: ['Known deviation'],
      unavailable: ['Engine unavailable'],
      broken: ['Lab broken'],
    });
    // A skip that is not an engine being unavailable stays out of that category.
    const plainSkip = { ...f.pass, status: 'skipped' as const, statusDetails: { message: 'Test skipped' } };
    expect(outcomeOf(plainSkip)).to.equal('skipped');
    expect(categoriesOf(plainSkip)).to.deep.equal([]);
  });

  it('counts outcomes, and reads engine versions from the results', function () {
    const list = Object.values(fixtures());
    expect(countOutcomes(list)).to.deep.equal({ passed: 1, known: 1, failed: 1, broken: 1, unavailable: 1, skipped: 0, total: 5 });
    expect(engineVersions(list)).to.deep.equal({ chromium: CHROMIUM, firefox: FIREFOX, webkit: 'unavailable' });
    expect(engineVersions([], { chromium: '150.1' })).to.deep.equal({ chromium: '150.1', firefox: 'not run', webkit: 'not run' });
  });

  it('reads a results directory: the last run of a retried test counts, a damaged file is named', function () {
    const dir = testDir('results');
    try {
      const f = fixtures();
      const retry = { ...f.failure, uuid: randomUUID(), status: 'passed' as const, statusDetails: {}, start: f.failure.stop! + 10, stop: f.failure.stop! + 900 };
      for (const r of [...Object.values(f), retry]) writeFileSync(join(dir, `${r.uuid}-result.json`), JSON.stringify(r));
      const read = readResults(dir).map((x) => x.result);
      expect(read).to.have.length(5);
      expect(read.find((r) => r.historyId === f.failure.historyId)?.status).to.equal('passed');
      writeFileSync(join(dir, 'bad-result.json'), '{"uuid":');
      expect(() => readResults(dir)).to.throw(/bad-result\.json: not valid JSON/);
      expect(() => readResults(join(dir, 'missing'))).to.throw(/no Allure results at .*missing[\s\S]*To fix: run a suite first/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('report: descriptions as HTML', function () {
  it('renders the Markdown the suites write (bold, code, fences, lists), escaping every text', function () {
    expect(markdownHtml(STORY)).to.equal(STORY_HTML);
    expect(markdownHtml('**Scenario:**\n\n- 0.0 s — `offer` <b>sent</b>\n- 1.2 s — connected\n\nplain **bold** and `**not bold**`')).to.equal(
      '<p><strong>Scenario:</strong></p>\n<ul><li>0.0 s — <code>offer</code> &lt;b&gt;sent&lt;/b&gt;</li><li>1.2 s — connected</li></ul>\n<p>plain <strong>bold</strong> and <code>**not bold**</code></p>',
    );
    expect(markdownHtml('<script>alert(1)</script>')).to.equal('<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>');
  });

  it('adds descriptionHtml to a result with a description, and leaves others as they are', function () {
    const f = fixtures();
    expect(renderDescription(f.failure)?.descriptionHtml).to.equal(STORY_HTML);
    expect(renderDescription(f.pass), 'no description').to.equal(null);
    expect(renderDescription({ ...f.failure, descriptionHtml: '<p>own</p>' }), 'HTML a suite wrote itself').to.equal(null);
  });
});

describe('report: JUnit XML', function () {
  const xml = () => junitXml(Object.values(fixtures()).map((r) => liftReason(r) ?? r));

  it('maps known deviations to passes, unavailable to skipped with the reason, broken to error', function () {
    const out = xml();
    expect(out).to.match(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<testsuites name="icelab" tests="5" failures="1" errors="1" skipped="1" time="9.000">/);
    const testcase = (nat: string) => out.split('\n').find((l) => l.includes('<testcase') && l.includes(nat)) ?? '';
    expect(testcase('full-cone')).to.include('<system-out>known deviation: Firefox 153').and.not.include('<failure');
    expect(testcase('webkit')).to.match(/<skipped message="unavailable: webkit is not installed/);
    expect(testcase('udp-blocked')).to.match(/<error message="lab could not start: coturn did not answer[^"]*" type="LabBroken">/);
    expect(testcase('chromium behind port-restricted-cone ↔ firefox behind port-restricted-cone, stun')).to.match(/time="1.800"\/>$/);
  });

  it('escapes messages and groups test cases by Allure suite', function () {
    const out = xml();
    expect(out).to.include('observed fail — &lt;TURN 403 &amp; no relay&gt;"');
    expect(out).not.to.match(/<TURN 403/);
    expect(out).to.include('<testsuite name="connectivity / chromium → chromium / turn-udp" tests="1" failures="1" errors="0" skipped="0"');
    expect(out.match(/<testsuite /g)).to.have.length(5);
  });
});

describe('report: matrix overview', function () {
  it('builds the NAT pair × engine pair grid in preset and engine order', function () {
    const f = fixtures();
    const extra = call({ a: 'chromium', b: 'firefox', natA: 'port-restricted-cone', natB: 'port-restricted-cone', ice: 'relay-only', status: 'failed', message: 'expected relay-udp, observed fail', settled: 'fail' });
    const grid = overviewGrid([...Object.values(f), extra, { uuid: 'x', name: 'api: RTCPeerConnection exists', status: 'passed' as const, labels: [] }].map((r) => liftReason(r) ?? r));
    // Presets in their table order (full-cone before port-restricted-cone), A side first.
    expect(grid.natPairs).to.deep.equal(['port-restricted-cone ↔ port-restricted-cone', 'symmetric ↔ full-cone', 'symmetric ↔ port-restricted-cone', 'udp-blocked ↔ open']);
    expect(grid.enginePairs).to.deep.equal(['chromium → chromium', 'chromium → firefox', 'firefox → chromium', 'webkit → chromium']);
    const cell = grid.cells[cellKey('port-restricted-cone ↔ port-restricted-cone', 'chromium → firefox')]!;
    expect(cell.map((e) => [e.ice, e.settled, e.outcome])).to.deep.equal([
      ['relay-only', 'fail', 'failed'],
      ['stun', 'srflx', 'passed'],
    ]);
    expect(worstOutcome(cell)).to.equal('failed');
    expect(grid.cells[cellKey('symmetric ↔ full-cone', 'firefox → chromium')]![0]).to.include({ outcome: 'known' });
    expect(grid.cells[cellKey('port-restricted-cone ↔ port-restricted-cone', 'webkit → chromium')]![0]).to.deep.include({ settled: null }).and.have.property('detail').that.matches(/^unavailable: webkit/);
    expect(grid.cells[cellKey('udp-blocked ↔ open', 'chromium → chromium')], 'a pair not run has no cell').to.equal(undefined);
  });

  const grid = () => overviewGrid(Object.values(fixtures()).map((r) => liftReason(r) ?? r));
  // What each chip says: the ICE configuration, then the settled class where the call got that far.
  const CHIPS = ['stun', 'stun → relay-udp', 'stun → srflx', 'turn-tcp', 'turn-udp → fail'];

  it('draws one coloured chip per result in the SVG, each naming its settled class', function () {
    const svg = overviewSvg(grid());
    expect(svg).to.match(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="\d+" height="\d+"/);
    // Chips carry a <title> tooltip each; the legend's six swatches do not.
    expect(svg.match(/<g><title>/g)).to.have.length(5);
    for (const fill of ['#2e9d4f', '#c98f00', '#d0342c', '#7d3c98', '#8a9096']) expect(svg).to.include(`rx="4" fill="${fill}"`);
    expect(svg).to.include('&lt;TURN 403 &amp; no relay&gt;');
    const texts = [...svg.matchAll(/<g><title>[^<]*<\/title><rect [^>]*\/><text [^>]*>([^<]*)<\/text><\/g>/g)].map((m) => m[1]!.replace(/&gt;/g, '>'));
    expect(texts.sort()).to.deep.equal(CHIPS);
    // The widest chip fits its cell: the picture grows with the labels.
    const chipWidths = [...svg.matchAll(/<rect x="[\d.]+" y="[\d.]+" width="(\d+)" height="18" rx="4"/g)].map((m) => Number(m[1]));
    const cellWidth = Number(/<rect x="[\d.]+" y="[\d.]+" width="(\d+)" height="26"/.exec(svg)?.[1]);
    expect(Math.max(...chipWidths)).to.be.lessThan(cellWidth);
  });

  it('shows the settled class on each chip in the HTML', function () {
    const html = overviewHtml({ grid: grid(), counts: {}, environment: {}, claimsHtml: '', generated: '2026-01-05T10:00:00.000Z' });
    const texts = [...html.matchAll(/<span class="chip" data-outcome="\w+"[^>]*>([^<]*)<\/span>/g)].map((m) => m[1]!.replace(/&gt;/g, '>'));
    expect(texts.sort()).to.deep.equal(CHIPS);
  });
});

describe('report: the overview link on the front page', function () {
  it('links the Executors widget to the overview in the report; on GitHub Actions it also names the run', function () {
    expect(executorInfo({})).to.deep.equal({ name: 'icelab', type: 'icelab', buildName: OVERVIEW_LINK, buildUrl: 'overview.html' });
    const gh = { GITHUB_RUN_ID: '42', GITHUB_SERVER_URL: 'https://github.com', GITHUB_REPOSITORY: 'o/icelab', GITHUB_WORKFLOW: 'ci', GITHUB_RUN_NUMBER: '7' };
    expect(executorInfo(gh)).to.deep.equal({
      name: 'GitHub Actions: ci #7',
      type: 'github',
      buildName: OVERVIEW_LINK,
      buildUrl: 'overview.html',
      reportName: 'ci #7',
      reportUrl: 'https://github.com/o/icelab/actions/runs/42',
    });
  });
});

/** Serves a directory on 127.0.0.1 (Allure's page loads its data over http). */
async function serve(root: string): Promise<{ url: string; server: Server }> {
  const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json', '.svg': 'image/svg+xml', '.ico': 'image/x-icon', '.txt': 'text/plain' };
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    const file = join(root, path.endsWith('/') ? `${path}index.html` : path);
    if (!file.startsWith(root) || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const addr = server.address();
  if (!addr || typeof addr === 'string') throw new Error('no port');
  return { url: `http://127.0.0.1:${addr.port}`, server };
}

describe('report: without Java @integration', function () {
  it('says Java is missing and how to install it, after writing JUnit and the overview into ICELAB_REPORTS_DIR', async function () {
    const dir = testDir('nojava');
    const saved = { PATH: process.env.PATH, JAVA_HOME: process.env.JAVA_HOME, ICELAB_REPORTS_DIR: process.env.ICELAB_REPORTS_DIR };
    try {
      mkdirSync(join(dir, 'allure-results'));
      const r = fixtures().pass;
      writeFileSync(join(dir, 'allure-results', `${r.uuid}-result.json`), JSON.stringify(r));
      process.env.PATH = join(dir, 'no-bin');
      delete process.env.JAVA_HOME;
      // No directories given: results, report and claims are looked for in the reports directory.
      process.env.ICELAB_REPORTS_DIR = dir;
      const err = await buildReport().then(
        () => null,
        (e: unknown) => e as Error & { code?: string },
      );
      expect(err?.code).to.equal('ERR_NO_JAVA');
      expect(err?.message).to.match(/needs Java[\s\S]*`java` was not found on PATH[\s\S]*To fix: apt-get install default-jre-headless/);
      expect(existsSync(join(dir, 'junit.xml')) && existsSync(join(dir, 'overview.html'))).to.equal(true);
      expect(readFileSync(join(dir, 'overview.html'), 'utf8'), 'claims looked for in the reports directory').to.include(`No claims table at ${join(dir, 'claims.json')}`);
    } finally {
      process.env.PATH = saved.PATH;
      if (saved.JAVA_HOME !== undefined) process.env.JAVA_HOME = saved.JAVA_HOME;
      if (saved.ICELAB_REPORTS_DIR === undefined) delete process.env.ICELAB_REPORTS_DIR;
      else process.env.ICELAB_REPORTS_DIR = saved.ICELAB_REPORTS_DIR;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('report: npm run report end to end @integration', function () {
  this.timeout(240_000);
  let dir = '';
  before(function () {
    dir = testDir('report');
  });
  after(function () {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('builds the Allure report with environment, categories, history, overview and JUnit, and it renders in Chromium', async function () {
    const resultsDir = join(dir, 'allure-results');
    const reportDir = join(dir, 'allure-report');
    const claimsFile = join(dir, 'claims.json');
    mkdirSync(resultsDir);
    const f = fixtures();
    for (const r of Object.values(f)) writeFileSync(join(resultsDir, `${r.uuid}-result.json`), JSON.stringify(r));
    writeFileSync(claimsFile, JSON.stringify(CLAIMS));

    const first = await buildReport({ resultsDir, reportDir, claimsFile });
    expect(first.counts).to.deep.equal({ passed: 1, known: 1, failed: 1, broken: 1, unavailable: 1, skipped: 0, total: 5 });
    expect(existsSync(join(reportDir, 'index.html'))).to.equal(true);
    const env = readFileSync(join(resultsDir, 'environment.properties'), 'utf8');
    expect(env).to.include(`chromium=${CHROMIUM}\n`).and.include(`firefox=${FIREFOX}\n`).and.include('webkit=unavailable\n');
    expect(env).to.include(`kernel=${release()}\n`).and.include(`node=${process.version}\n`).and.match(/^icelab=\d+\.\d+\.\d+$/m).and.match(/^coturn=\S+/m);
    expect(readFileSync(first.junit, 'utf8')).to.include('tests="5" failures="1" errors="1" skipped="1"');
    expect(readFileSync(join(dir, 'overview.svg'), 'utf8')).to.include('<svg');
    const written = JSON.parse(readFileSync(join(resultsDir, `${f.failure.uuid}-result.json`), 'utf8')) as AllureResult;
    expect(written.descriptionHtml, 'the result file carries the description as HTML').to.equal(STORY_HTML);
    expect(written.description, 'the Markdown stays for other readers').to.equal(STORY);

    // Allure's own categorisation of the generated report, not only our input file.
    type Node = { name: string; children?: Node[] };
    const categories = JSON.parse(readFileSync(join(reportDir, 'data', 'categories.json'), 'utf8')) as Node;
    expect(Object.fromEntries((categories.children ?? []).map((c) => [c.name, c.children?.length ?? 0]))).to.deep.equal({
      'Unexpected failure': 1,
      'Known deviation': 1,
      'Engine unavailable': 1,
      'Lab broken': 1,
    });

    // A second run over the same results picks up the first report's history: the trend has two points.
    const second = await buildReport({ resultsDir, reportDir, claimsFile });
    expect(existsSync(join(resultsDir, 'history', 'history.json'))).to.equal(true);
    const trend = JSON.parse(readFileSync(join(reportDir, 'widgets', 'history-trend.json'), 'utf8')) as { data: { total: number } }[];
    expect(trend.map((t) => t.data.total), 'history-trend.json after two builds: the five tests each time').to.deep.equal([5, 5]);

    // Only the real tests are results: nothing else is written as one, and Allure counts five.
    expect(readdirSync(resultsDir).filter((n) => n.endsWith('-result.json')).sort()).to.deep.equal(Object.values(f).map((r) => `${r.uuid}-result.json`).sort());
    const statistic = (JSON.parse(readFileSync(join(reportDir, 'widgets', 'summary.json'), 'utf8')) as { statistic: Record<string, number> }).statistic;
    expect(statistic).to.deep.equal({ failed: 1, broken: 1, skipped: 1, passed: 2, unknown: 0, total: 5 });
    expect(readdirSync(join(reportDir, 'data', 'test-cases')), 'test cases in the report').to.have.length(5);

    const { url, server } = await serve(dir);
    const found = findEngine('chromium');
    if (!found.available) throw new Error(`this test needs Chromium: ${found.reason}. To fix: ${found.fix}`);
    const browser = await chromium.launch({ executablePath: found.executablePath, args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--no-first-run'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));

      await page.goto(`${url}/allure-report/index.html#categories`);
      for (const name of ['Unexpected failure', 'Known deviation', 'Engine unavailable', 'Lab broken']) {
        await page.getByText(name, { exact: true }).first().waitFor({ timeout: 30_000 });
      }
      mkdirSync(join(reportsDir(), 'screenshots'), { recursive: true });
      await page.screenshot({ path: join(reportsDir(), 'screenshots', 'report-categories.png') });

      // The failure's description reads as formatted text: no Markdown marks, the reason as written.
      const cases = readdirSync(join(reportDir, 'data', 'test-cases')).map((n) => JSON.parse(readFileSync(join(reportDir, 'data', 'test-cases', n), 'utf8')) as { uid: string; name: string });
      const failureCase = cases.find((c) => c.name === f.failure.name)!;
      await page.goto(`${url}/allure-report/index.html#testresult/${failureCase.uid}`);
      const description = page.locator('.description__text');
      await description.waitFor({ timeout: 30_000 });
      expect(await description.locator('strong').allTextContents()).to.deep.equal(['Expected:', 'Observed:', 'Candidates:']);
      const shown = await description.innerText();
      expect(shown).to.include('fail (failed: no <relay> candidate, TURN 403 & 701)').and.include('--ice turn-udp <&>').and.not.include('**');
      expect(await description.locator('pre code').count(), 'the command as a code block').to.equal(1);

      // The front page: the real tests only, and the overview one click away (Executors widget).
      await page.goto(`${url}/allure-report/index.html`);
      const link = page.locator('[data-id="executors"]').getByRole('link', { name: OVERVIEW_LINK });
      await link.waitFor({ timeout: 30_000 });
      const total = await page.locator('[data-id="summary"] .summary-widget__stats').innerText();
      expect(total.replace(/\s+/g, ' '), 'the front page counts the five tests').to.equal('5 test cases');
      await page.screenshot({ path: join(reportsDir(), 'screenshots', 'report-front.png') });
      const [overviewPage] = await Promise.all([page.context().waitForEvent('page'), link.click()]);
      const matrix = overviewPage!.locator('table#matrix');
      await matrix.waitFor({ timeout: 30_000 });
      expect(overviewPage!.url()).to.equal(`${url}/allure-report/overview.html`);
      expect(await matrix.locator('tbody tr').count(), 'NAT pair rows').to.equal(4);
      expect(await matrix.locator('thead th[scope=col]').allTextContents()).to.deep.equal(['chromium → chromium', 'chromium → firefox', 'firefox → chromium', 'webkit → chromium']);
      const chips = await matrix.locator('.chip').evaluateAll((els) => els.map((e) => [e.getAttribute('data-outcome'), getComputedStyle(e).backgroundColor, e.textContent]));
      expect(chips.sort()).to.deep.equal([
        ['broken', 'rgb(125, 60, 152)', 'turn-tcp'],
        ['failed', 'rgb(208, 52, 44)', 'turn-udp → fail'],
        ['known', 'rgb(201, 143, 0)', 'stun → relay-udp'],
        ['passed', 'rgb(46, 157, 79)', 'stun → srflx'],
        ['unavailable', 'rgb(138, 144, 150)', 'stun'],
      ]);
      const claims = overviewPage!.locator('#claims');
      await claims.getByText('RTCPeerConnection is exposed on window').waitFor({ timeout: 10_000 });
      await claims.getByText('webkitRTCPeerConnection is not exposed').waitFor({ timeout: 10_000 });
      expect(await claims.locator('tr[data-claim]').count(), 'claim rows').to.equal(2);
      expect(await claims.locator('tr[data-claim="api/webkit-prefix"] td').allTextContents()).to.include.members(['falsewebkitRTCPeerConnection === RTCPeerConnection']);
      await overviewPage!.screenshot({ path: join(reportsDir(), 'screenshots', 'report-overview.png') });

      // The SVG picture renders as an image of the size it declares.
      await page.goto(`${url}/overview.svg`);
      const size = await page.locator('svg').evaluate((s) => [s.getBoundingClientRect().width, s.querySelectorAll('g > title').length]);
      expect(size[0]).to.be.greaterThan(300);
      expect(size[1]).to.equal(5);
      await page.screenshot({ path: join(reportsDir(), 'screenshots', 'report-matrix-svg.png') });
      expect(errors, 'page errors').to.deep.equal([]);
    } finally {
      await browser.close();
      server.close();
    }
    expect(second.reportDir).to.equal(reportDir);
  });
});
