import { availableParallelism } from 'node:os';
import { expect } from 'chai';
import { matrixCases } from '../../suites/connectivity/matrix.ts';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LAB_ID } from '../network/names.ts';
import { planTopology, suiteTopology } from '../topology/topology.ts';
import { planConnect, type ConnectOptions } from './connect.ts';
import { mergeSummaries, planSuiteRun, splitWorkers, type SuiteOptions } from './suite.ts';
import { loadTopology } from './topology-file.ts';
import { testDir } from '../testing/temp-dir.ts';

const suite = (o: Partial<SuiteOptions>): SuiteOptions => ({ suites: [], report: false, json: false, ...o });
const connect = (o: Partial<ConnectOptions>): ConnectOptions => ({ a: 'firefox@symmetric', b: 'chromium@full-cone', ice: 'stun', trickle: true, pcap: false, headed: false, keep: false, json: false, ...o });
const message = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    return `${(e as Error).message} | ${(e as { hint?: string }).hint ?? ''}`;
  }
  throw new Error('expected an error');
};

const API = '/x/suites/api/a.test.ts';
const MATRIX = '/x/suites/connectivity/connectivity.test.ts';
const README_EXAMPLE = '/x/suites/connectivity/readme-example.test.ts';

describe('icelab suite: run planning', () => {
  it('runs every suite by default, each from its own directory', () => {
    const { suites, files } = planSuiteRun(suite({}), {});
    expect(suites).to.deep.equal(['api', 'connectivity', 'turn', 'resilience']);
    for (const s of suites) expect(files.some((f) => f.includes(`/suites/${s}/`))).to.equal(true, s);
  });

  it('names the option and the fix for bad input', () => {
    expect(message(() => planSuiteRun(suite({ suites: ['apii'] }), {}))).to.match(/unknown suite "apii".*api, connectivity/s);
    expect(message(() => planSuiteRun(suite({ engines: 'chromium,safari' }), {}))).to.match(/--engines: unknown browser engine "safari"/s);
    expect(message(() => planSuiteRun(suite({ matrix: 'huge' }), {}))).to.match(/--matrix.*pr.*full/s);
    expect(message(() => planSuiteRun(suite({ shard: '3/2' }), {}))).to.match(/--shard/s);
    expect(message(() => planSuiteRun(suite({ parallel: '0' }), {}))).to.match(/--parallel/s);
    expect(message(() => planSuiteRun(suite({ turn: 'vm' }), {}))).to.match(/--turn.*process.*container/s);
  });

  it('spreads the matrix over processes: together they run every case of the shard exactly once', () => {
    const all = matrixCases({ engines: ['chromium', 'firefox'], selection: 'full', shard: { index: 2, total: 3 } }).map((c) => c.id);
    const workers = splitWorkers([API, MATRIX], { ICELAB_SHARD: '2/3' }, 4);
    expect(workers).to.have.length(4);
    expect(workers.map((w) => w.files)).to.deep.equal([[MATRIX], [MATRIX], [MATRIX], [MATRIX]]);
    const ran = workers.flatMap((w) => {
      const [index, total] = w.env.ICELAB_SHARD!.split('/').map(Number);
      return matrixCases({ engines: ['chromium', 'firefox'], selection: 'full', shard: { index: index!, total: total! } }).map((c) => c.id);
    });
    expect([...ran].sort()).to.deep.equal([...all].sort());
    expect(new Set(workers.map((w) => w.env.ICELAB_SUMMARY_FILE)).size).to.equal(4);
    const named = splitWorkers([MATRIX], { ICELAB_LAB_ID: 'ci', ICELAB_MATRIX: 'full' }, 2);
    expect(named.map((w) => w.env.ICELAB_LAB_ID)).to.deep.equal(['ci1', 'ci2']);
    // What the lab itself accepts as a name: a worker id it refuses would fail every worker at start.
    for (const w of named) expect(LAB_ID.test(w.env.ICELAB_LAB_ID!), w.env.ICELAB_LAB_ID).to.equal(true);
  });

  it('runs the matrix on hosts of the suites\' lab: two per call, udp-blocked cases spread evenly over its two lanes, the same hosts in every shard', () => {
    const hosts = new Set(suiteTopology().hosts.map((h) => h.name));
    const full = matrixCases({ engines: ['chromium', 'firefox'], selection: 'full' });
    for (const c of full) {
      expect(hosts.has(c.spec.a.host) && hosts.has(c.spec.b.host), c.id).to.equal(true);
      expect(c.spec.a.host, c.id).to.not.equal(c.spec.b.host);
    }
    const laneOf = (h: string) => (['udp-blocked', 'udp-blocked-2'].includes(h) ? 0 : ['udp-blocked-3', 'udp-blocked-4'].includes(h) ? 1 : null);
    const blocked = full.filter((c) => c.a.preset === 'udp-blocked' || c.b.preset === 'udp-blocked');
    const perLane = [0, 1].map((l) => blocked.filter((c) => [c.spec.a.host, c.spec.b.host].some((h) => laneOf(h) === l)).length);
    expect(perLane[0]! + perLane[1]!).to.equal(blocked.length);
    expect(Math.abs(perLane[0]! - perLane[1]!)).to.be.at.most(1);
    const both = full.find((c) => c.id === 'connectivity/firefox@udp-blocked--chromium@udp-blocked/stun')!;
    expect([laneOf(both.spec.a.host), laneOf(both.spec.b.host)]).to.satisfy(([x, y]: number[]) => x === y);
    const byId = new Map(full.map((c) => [c.id, c.spec]));
    for (const c of matrixCases({ engines: ['chromium', 'firefox'], selection: 'full', shard: { index: 2, total: 3 } })) expect(c.spec, c.id).to.deep.equal(byId.get(c.id));
    const pr = matrixCases({ engines: ['chromium', 'firefox'], selection: 'pr' });
    expect(pr.find((c) => c.a.preset === 'port-restricted-cone' && c.b.preset === 'port-restricted-cone')!.spec.b.host).to.equal('port-restricted-cone-2');
    expect([...new Set(pr.flatMap((c) => [c.spec.a.host, c.spec.b.host]).filter((h) => h.startsWith('udp-blocked')))], 'the PR selection: one lane').to.deep.equal(['udp-blocked']);
  });

  it('runs every file that is not the matrix once, in shard 1: the longest suites first, each to the least loaded worker', () => {
    const files = [API, MATRIX, README_EXAMPLE];
    expect(splitWorkers(files, { ICELAB_MATRIX: 'full' }, 3).map((w) => w.files)).to.deep.equal([[API, MATRIX], [MATRIX, README_EXAMPLE], [MATRIX]]);
    // The PR matrix is not split (each half took as long as the whole): it is balanced as one unit.
    expect(splitWorkers(files, {}, 3).map((w) => w.files)).to.deep.equal([[MATRIX], [API], [README_EXAMPLE]]);
    expect(splitWorkers(files, { ICELAB_SHARD: '1/4' }, 1).map((w) => w.files)).to.deep.equal([files]);
    expect(splitWorkers(files, { ICELAB_SHARD: '3/4' }, 2).map((w) => w.files)).to.deep.equal([[MATRIX], [MATRIX]]);
    // Without the matrix there is nothing to split: the files run as asked.
    expect(splitWorkers([API], { ICELAB_SHARD: '3/4' }, 2).map((w) => w.files)).to.deep.equal([[API]]);
  });

  it('refuses an ICELAB_LAB_ID the lab (or a worker number after it) cannot use, before anything starts', () => {
    expect(message(() => planSuiteRun(suite({}), { ICELAB_LAB_ID: 'CI-run' }))).to.match(/ICELAB_LAB_ID: "CI-run" is not a lab name.*1-14 lower-case/s);
    expect(message(() => planSuiteRun(suite({}), { ICELAB_LAB_ID: 'a'.repeat(15) }))).to.match(/ICELAB_LAB_ID/s);
    expect(() => planSuiteRun(suite({ parallel: '3' }), { ICELAB_LAB_ID: 'ci' })).not.to.throw();
  });

  it('--headed without a display is bad input naming the fix, not a browser launch failure', () => {
    expect(message(() => planSuiteRun(suite({ headed: true }), {}))).to.match(/--headed: no display.*xvfb-run/s);
    expect(() => planSuiteRun(suite({ headed: true }), { DISPLAY: ':99' })).not.to.throw();
  });

  it('three processes by default on two cores or more, one for the full matrix or a shard', () => {
    const three = availableParallelism() >= 2 ? 3 : 1;
    expect(planSuiteRun(suite({}), {}).workers).to.have.length(three);
    expect(planSuiteRun(suite({ suites: ['api'] }), {}).workers, 'one suite: one process').to.have.length(1);
    expect(planSuiteRun(suite({ suites: ['connectivity'], matrix: 'full' }), {}).workers).to.have.length(1);
    expect(planSuiteRun(suite({ shard: '1/4' }), {}).workers).to.have.length(1);
    expect(planSuiteRun(suite({ parallel: '1' }), {}).workers).to.have.length(1);
  });

  it('one process when nothing is a matrix', () => {
    expect(splitWorkers(['/x/suites/api/a.test.ts'], {}, 3)).to.have.length(1);
  });

  it('three processes for the PR run: resilience; the matrix and the README example; api and turn', () => {
    const [r1, r2, t] = ['/x/suites/resilience/resilience.test.ts', '/x/suites/resilience/mapping-lifetime.test.ts', '/x/suites/turn/turn.test.ts'];
    const workers = splitWorkers([API, MATRIX, README_EXAMPLE, t, r1, r2], {}, 3);
    expect(workers.map((w) => w.files)).to.deep.equal([[r1, r2], [MATRIX, README_EXAMPLE], [API, t]]);
    expect(workers.map((w) => w.env.ICELAB_SHARD)).to.deep.equal([undefined, undefined, undefined]);
    const full = splitWorkers([API, MATRIX, README_EXAMPLE, t, r1, r2], { ICELAB_MATRIX: 'full' }, 2);
    expect(full.map((w) => w.files)).to.deep.equal([[MATRIX, r1, r2], [API, MATRIX, README_EXAMPLE, t]]);
    expect(full.map((w) => w.env.ICELAB_SHARD)).to.deep.equal(['1/2', '2/2']);
  });

  it('adds up summaries; a worker that left none counts as a failure', () => {
    const part = { passed: 3, failed: 1, unavailable: 2, skipped: 0, known: 1, durationMs: 5, browserLaunches: [{ engine: 'chromium', host: 'open', launchMs: 400 }] };
    const sum = mergeSummaries([part, null, part], 99);
    expect(sum).to.include({ passed: 6, failed: 3, unavailable: 4, known: 2, durationMs: 99 });
    expect(sum.browserLaunches).to.have.length(2);
  });
});

describe('icelab connect: call planning', () => {
  it('builds a lab with one host per preset and the call the flags describe', () => {
    const { spec, topology } = planConnect(connect({ ice: 'stun,turn-tcp', policy: 'relay', media: 'data,video' }));
    expect(spec).to.deep.include({ a: { engine: 'firefox', host: 'symmetric' }, b: { engine: 'chromium', host: 'full-cone' }, ice: ['stun', 'turn-tcp'], policy: 'relay', media: ['data', 'video'] });
    expect(topology).to.deep.equal(planTopology({ hosts: [{ name: 'symmetric', nat: 'symmetric' }, { name: 'full-cone', nat: 'full-cone' }] }));
  });

  it('puts B behind its own router when both peers name one preset', () => {
    const { spec, topology } = planConnect(connect({ a: 'chromium@port-restricted-cone', b: 'firefox@port-restricted-cone' }));
    expect(spec.b.host).to.equal('port-restricted-cone-2');
    expect(topology.hosts.map((h) => [h.name, h.preset])).to.deep.equal([['port-restricted-cone', 'port-restricted-cone'], ['port-restricted-cone-2', 'port-restricted-cone']]);
  });

  it('takes the hosts the matrix commands name: a preset host of a further lane, behind its own router of that preset', () => {
    const { topology } = planConnect(connect({ a: 'chromium@udp-blocked-3', b: 'firefox@open' }));
    expect(topology.hosts.map((h) => h.name)).to.deep.equal(['udp-blocked-3', 'open']);
    expect(message(() => planConnect(connect({ a: 'chromium@udp-blocked-x' })))).to.match(/unknown host "udp-blocked-x"/);
  });

  it('both peers on the twin host: A keeps the twin, B gets the preset host', () => {
    const { spec } = planConnect(connect({ a: 'chromium@symmetric-2', b: 'firefox@symmetric-2' }));
    expect([spec.a.host, spec.b.host]).to.deep.equal(['symmetric-2', 'symmetric']);
  });

  it('--turn container gives the lab a container TURN server, with or without a topology file', () => {
    expect(planConnect(connect({ turn: 'container' })).topology.turn.map((t) => t.provider)).to.deep.equal(['container']);
    expect(planConnect(connect({})).topology.turn.map((t) => t.provider)).to.deep.equal(['process']);
  });

  it('--lab: the lab\'s own hosts (two peers on one host share its LAN), and no option that would build another lab', () => {
    const lab = { id: 'mine', topology: planTopology({ hosts: [{ name: 'office', nat: 'symmetric' }, { name: 'home', nat: 'full-cone' }] }) };
    const { spec, topology } = planConnect(connect({ a: 'chromium@office', b: 'firefox@office', lab }));
    expect([spec.a.host, spec.b.host]).to.deep.equal(['office', 'office']);
    expect(topology).to.equal(lab.topology);
    expect(message(() => planConnect(connect({ a: 'chromium@office', b: 'chromium@symmetric', lab })))).to.match(/--b: the topology has no host "symmetric".*office, home/s);
    expect(message(() => planConnect(connect({ a: 'chromium@office', b: 'chromium@home', lab, keep: true, turn: 'container' })))).to.match(/--lab: --turn, --keep cannot be used with it/s);
  });

  it('takes --ice none as no ICE servers', () => {
    expect(planConnect(connect({ ice: 'none' })).spec.ice).to.deep.equal([]);
  });

  it('names the flag and the fix for bad input', () => {
    expect(message(() => planConnect(connect({ a: 'firefox' })))).to.match(/--a: expected <engine>@<host>/s);
    expect(message(() => planConnect(connect({ b: 'safari@open' })))).to.match(/--b: unknown browser engine "safari"/s);
    expect(message(() => planConnect(connect({ b: 'chromium@hotel-wifi' })))).to.match(/--b: unknown host "hotel-wifi".*symmetric/s);
    expect(message(() => planConnect(connect({ ice: 'stun,turn' })))).to.match(/--ice: unknown ICE server "turn".*turns-tcp/s);
    expect(message(() => planConnect(connect({ ice: undefined })))).to.match(/--ice is required/s);
    expect(message(() => planConnect(connect({ policy: 'public' })))).to.match(/--policy/s);
    expect(message(() => planConnect(connect({ media: 'screen' })))).to.match(/--media: unknown kind "screen"/s);
    expect(message(() => planConnect(connect({ a: 'firefox@alice', topology: { topology: planTopology({ hosts: [{ name: 'bob' }] }), file: 'x.yaml' } })))).to.match(/--a: the topology has no host "alice".*bob/s);
    expect(message(() => planConnect(connect({ headed: true })))).to.match(/--headed: no display/s);
  });
});

describe('--topology files', () => {
  let dir: string;
  before(() => (dir = testDir('plans')));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const YAML = 'routers:\n  - name: home\n    nat: restricted-cone-is-not-a-nat-object\nhosts:\n  - name: alice\n    nat: symmetric\n  - name: bob\n    nat: full-cone\n';

  it('a valid file is planned once and connect takes its hosts (it was re-validated as input: "Unrecognized keys: wanIp")', () => {
    const arg = loadTopology(file('ok.yaml', 'hosts:\n  - name: alice\n    nat: symmetric\n  - name: bob\n    nat: full-cone\n'));
    const { spec, topology } = planConnect(connect({ a: 'firefox@alice', b: 'chromium@bob', topology: arg }));
    expect(topology).to.equal(arg.topology);
    expect(spec.b.host).to.equal('bob');
    expect(topology.hosts.map((h) => h.preset)).to.deep.equal(['symmetric', 'full-cone']);
  });

  it('--turn replaces the provider of the file\'s TURN servers', () => {
    const arg = loadTopology(file('turn.json', JSON.stringify({ hosts: [{ name: 'a' }], turn: [{ name: 'turn' }] })), { turn: 'container' });
    expect(arg.topology.turn.map((t) => t.provider)).to.deep.equal(['container']);
  });

  it('a service\'s relative cwd is resolved against the file\'s folder, not the working directory; an absolute one is kept', () => {
    const services = [{ name: 'web', command: 'true', port: 80, cwd: 'app/server' }, { name: 'api', command: 'true', port: 80, cwd: '/srv/api' }];
    const { topology } = loadTopology(file('services.json', JSON.stringify({ hosts: [{ name: 'a' }], services })));
    const cwds = topology.services.map((s) => (s.source.kind === 'command' ? s.source.cwd : null));
    expect(cwds).to.deep.equal([join(dir, 'app/server'), '/srv/api']);
  });

  it('problems name the file; presets and unknown names are told apart', () => {
    const bad = file('bad.yaml', YAML);
    expect(message(() => loadTopology(bad))).to.include(`invalid topology in ${bad}`);
    expect(message(() => loadTopology('symmetric,hotel'))).to.match(/unknown preset "hotel"/);
    expect(message(() => loadTopology('./nope.yaml'))).to.match(/no such file \.\/nope\.yaml/);
    expect(loadTopology('symmetric,open').topology.hosts.map((h) => h.name)).to.deep.equal(['symmetric', 'open']);
  });
});
