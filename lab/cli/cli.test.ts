import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { probeLinkSupport } from '../network/link-support.ts';
import { leftovers, removeLab } from '../network/network.ts';
import { run, type RunResult } from '../network/run.ts';
import { PRESET_NAMES } from '../topology/nat.ts';
import { testDir } from '../testing/temp-dir.ts';

const CLI = new URL('../../bin/icelab.js', import.meta.url).pathname;
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];

/** The CLI as a user runs it: a child process; `asNobody` drops root first. */
async function icelab(args: string[], { asNobody = false } = {}): Promise<RunResult & { all: string }> {
  const r = await run([...(asNobody ? NOBODY : []), process.execPath, CLI, ...args], { timeoutMs: 60_000 });
  return { ...r, all: `${r.stdout}${r.stderr}` };
}
const show = (r: RunResult) => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

/** Labs this file starts: the only ones it ever removes. */
const mine = new Set<string>();
function labName(): string {
  const id = `cli${randomBytes(3).toString('hex')}`;
  mine.add(id);
  return id;
}

/** Topology files the tests write, in a directory of this file's own. */
const dir = testDir('cli-test');
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe('icelab CLI: bad input gets the field or cause, the fix, and the documented exit code', function () {
  this.timeout(60_000);
  after(async () => {
    for (const id of mine) await removeLab(id);
  });

  it('--help lists every command and the exit codes (exit 0); no command prints it and exits 2', async () => {
    const help = await icelab(['--help']);
    expect(help.code, show(help)).to.equal(0);
    for (const cmd of ['doctor', 'up', 'status', 'down', 'exec']) expect(help.stdout, `--help mentions "icelab ${cmd}"`).to.include(`icelab ${cmd}`);
    expect(help.stdout).to.match(/Exit codes: 0 ok, 1 failure[\s\S]*2 bad input, 3 not root/);
    for (const p of PRESET_NAMES) expect(help.stdout, `--help lists preset ${p}`).to.include(p);
    const none = await icelab([]);
    expect(none.code, show(none)).to.equal(2);
    expect(none.stdout).to.include('Usage:');
  });

  it('an unknown command or option is named, with a pointer to --help (exit 2)', async () => {
    const cmd = await icelab(['frobnicate']);
    expect(cmd.code, show(cmd)).to.equal(2);
    expect(cmd.stderr).to.include('unknown command "frobnicate"').and.to.include('To fix: see icelab --help');
    const opt = await icelab(['up', '--frob']);
    expect(opt.code, show(opt)).to.equal(2);
    expect(opt.stderr).to.include("'--frob'").and.to.include('To fix: see icelab --help');
    const missing = await icelab(['up', '--name']);
    expect(missing.code, show(missing)).to.equal(2);
    expect(missing.stderr).to.include('--name').and.to.include('To fix:');
  });

  it('an unknown preset is named, the valid presets are listed, and nothing is created (exit 2)', async () => {
    const id = labName();
    const r = await icelab(['up', '--name', id, '--topology', 'symmetric,carrier-pigeon']);
    expect(r.code, show(r)).to.equal(2);
    expect(r.stderr).to.include('--topology: unknown preset "carrier-pigeon"');
    expect(r.stderr, 'the fix lists the presets').to.include(`To fix: use presets from: ${PRESET_NAMES.join(', ')}`);
    expect(await leftovers(id)).to.deep.equal([]);
  });

  it('a topology path that does not exist is called a missing file, not a preset (exit 2)', async () => {
    const r = await icelab(['up', '--name', labName(), '--topology', join(dir, 'nope.yaml')]);
    expect(r.code, show(r)).to.equal(2);
    expect(r.stderr).to.include(`no such file ${join(dir, 'nope.yaml')}`).and.to.include('To fix:');
  });

  it('an invalid YAML topology file: every problem listed with its path, the file named, nothing created (exit 2)', async () => {
    const id = labName();
    const path = file(
      'bad.yaml',
      ['routers:', '  - name: home', '    upstream: nowhere', '    nat: { mapping: address-dependent, filtering: address-and-port-dependent, hairpinning: false }',
        'hosts:', '  - name: alice', '    behind: ghost', '  - name: alice', '    nat: symmetric', ''].join('\n'),
    );
    const r = await icelab(['up', '--name', id, '--topology', path]);
    expect(r.code, show(r)).to.equal(2);
    expect(r.stderr).to.include(`invalid topology in ${path}: 4 problems`);
    for (const line of [
      '- routers[0].upstream: no router named "nowhere"',
      '- hosts[0].behind: no router named "ghost"',
      '- hosts[1].name: name "alice" is already used by hosts[0].name',
      'address-dependent mapping is not supported by the lab yet; use "endpoint-independent" or "address-and-port-dependent"',
    ]) expect(r.stderr, `problem listed: ${line}`).to.include(line);
    expect(r.stderr).to.include('To fix: correct the fields listed above');
    expect(await leftovers(id)).to.deep.equal([]);
  });

  it('an invalid JSON topology file: schema problems listed with their paths (exit 2)', async () => {
    const id = labName();
    const path = file('bad.json', JSON.stringify({ hosts: [{ name: 'a', nat: { mapping: 'endpoint-independent', filtering: 'sometimes' } }, { name: 'b', link: { delayMs: -5, lossPercent: 150 } }], bogus: 1 }));
    const r = await icelab(['up', '--name', id, '--topology', path]);
    expect(r.code, show(r)).to.equal(2);
    expect(r.stderr).to.match(new RegExp(`invalid topology in ${path}: \\d+ problems`));
    for (const p of ['hosts[0].nat', 'hosts[1].link.delayMs', 'hosts[1].link.lossPercent', 'bogus: unknown key; allowed here: turn, routers, hosts']) {
      expect(r.stderr, `problem at ${p} listed`).to.include(`- ${p}`);
    }
    expect(await leftovers(id)).to.deep.equal([]);
  });

  it('a link this kernel cannot produce (delay without netem) is refused naming the file and field, nothing created (exit 2)', async function () {
    if ((await probeLinkSupport()).netem) this.skip(); // a kernel with netem produces it: nothing to refuse
    const id = labName();
    const path = file('delay.yaml', 'hosts:\n  - name: far\n    link: { delayMs: 100, lossPercent: 1 }\n');
    const r = await icelab(['up', '--name', id, '--topology', path]);
    expect(r.code, show(r)).to.equal(2);
    expect(r.stderr).to.include(`invalid topology in ${path}`).and.to.include("hosts[0].link.delayMs: needs the kernel's netem qdisc");
    expect(await leftovers(id)).to.deep.equal([]);
  });

  it('a topology file that does not parse: file, syntax error and fix (exit 2)', async () => {
    const json = file('broken.json', '{ "hosts": [ { "name": "a", } ] }');
    const rj = await icelab(['up', '--name', labName(), '--topology', json]);
    expect(rj.code, show(rj)).to.equal(2);
    expect(rj.stderr).to.include(`${json} is not valid JSON`).and.to.include('To fix:');
    const yaml = file('broken.yaml', 'hosts:\n  - name: a\n   nat: symmetric\n');
    const ry = await icelab(['up', '--name', labName(), '--topology', yaml]);
    expect(ry.code, show(ry)).to.equal(2);
    expect(ry.stderr).to.include(`${yaml} is not valid YAML`).and.to.match(/line 3/).and.to.include('To fix:');
  });

  it('an invalid lab name states the rule (exit 2)', async () => {
    const r = await icelab(['up', '--name', 'Not_OK', '--topology', 'open']);
    expect(r.code, show(r)).to.equal(2);
    expect(r.stderr).to.include('invalid lab name "Not_OK"').and.to.include('To fix: use 1-16 lower-case letters or digits');
  });

  for (const args of [['up', '--name', 'nobodylab'], ['down', '--name', 'nobodylab'], ['exec', '--name', 'nobodylab', 'open', '--', 'true']]) {
    it(`icelab ${args[0]} as a non-root user: one message with the sudo fix (exit 3)`, async () => {
      const r = await icelab(args, { asNobody: true });
      expect(r.code, show(r)).to.equal(3);
      // A root shell may have no sudo: the fix names both ways.
      expect(r.stderr).to.include('the lab needs root').and.to.include('To fix: run it as root (a root shell: npx icelab …; a sudo user: sudo npx icelab …)');
      expect(r.stderr.trim().split('\n'), 'one message, no stack trace').to.have.length(2);
    });
  }
  it('icelab doctor as a non-root user says what is missing and how to fix it (exit 1)', async () => {
    const r = await icelab(['doctor', '--json'], { asNobody: true });
    expect(r.code, show(r)).to.equal(1);
    const doc = JSON.parse(r.stdout) as { ready: boolean; checks: { name: string; ok: boolean; detail: string }[] };
    expect(doc.ready).to.equal(false);
    expect(doc.checks.find((c) => c.name === 'root')).to.deep.include({ ok: false, detail: 'not root: run as root (or sudo)' });
    // Every tool the lab calls is checked, not only the required ones: a missing certutil showed up as an ICE failure.
    for (const tool of ['certutil', 'tcpdump', 'openssl']) expect(doc.checks.map((c) => c.name), tool).to.include(tool);
  });

  it('icelab help is --help (it was an unknown command)', async () => {
    const r = await icelab(['help']);
    expect(r.code, show(r)).to.equal(0);
    expect(r.stdout).to.include('Usage:').and.to.include('icelab connect');
  });

  it('with --json, an error is JSON on stdout too (stdout was empty), with its code, the fix and the exit code', async () => {
    const r = await icelab(['up', '--name', labName(), '--topology', 'symmetric,carrier-pigeon', '--json']);
    expect(r.code, show(r)).to.equal(2);
    const out = JSON.parse(r.stdout) as { error: { code: string; message: string; fix: string; exitCode: number } };
    expect(out.error).to.deep.include({ code: 'ERR_UNKNOWN_PRESET', message: '--topology: unknown preset "carrier-pigeon" (and no such file)', exitCode: 2 });
    expect(out.error.fix).to.include('use presets from:');
    const parse = await icelab(['status', '--frob', '--json']);
    expect(parse.code, show(parse)).to.equal(2);
    expect((JSON.parse(parse.stdout) as { error: { code: string; fix: string } }).error).to.deep.include({ code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION', fix: 'see icelab --help' });
  });

  it('connect with an engine that cannot run: exit 4 before any lab or browser starts, the fix said once', async () => {
    // ICELAB_ENGINE_SOURCES=system: no distribution WebKit has WebRTC, so WebKit is unavailable on every machine.
    const t0 = performance.now();
    const r = await run([process.execPath, CLI, 'connect', '--a', 'chromium@open', '--b', 'webkit@symmetric', '--ice', 'stun'], { env: { ...process.env, ICELAB_ENGINE_SOURCES: 'system' }, timeoutMs: 60_000 });
    expect(r.code, show(r)).to.equal(4);
    expect(`${r.stdout}${r.stderr}`).not.to.include('starting a lab');
    expect(r.stdout.match(/To fix:/g), `the fix once: ${r.stdout}`).to.have.length(1);
    expect(r.stdout).to.match(/^webkit unavailable: webkit is not installed/);
    expect(performance.now() - t0, 'no lab, no browser').to.be.below(10_000);
  });

  it('connect --headed without a display: exit 2 naming the fix, before the lab starts', async () => {
    const env = { ...process.env };
    delete env.DISPLAY;
    delete env.WAYLAND_DISPLAY;
    const r = await run([process.execPath, CLI, 'connect', '--a', 'chromium@open', '--b', 'chromium@symmetric', '--ice', 'stun', '--headed'], { env, timeoutMs: 60_000 });
    expect(r.code, show(r)).to.equal(2);
    expect(r.stderr).to.include('--headed: no display').and.to.include('xvfb-run');
  });
});

describe('icelab CLI against a running lab @integration', function () {
  this.timeout(120_000);
  let id: string;
  before(async () => {
    id = labName();
    const r = await icelab(['up', '--name', id, '--topology', 'open,symmetric,udp-blocked']);
    expect(r.code, show(r)).to.equal(0);
    // The hints after `up --name X` must work as printed: they carry --name X.
    expect(r.stdout).to.include(`npx icelab exec --name ${id} open -- <command>`).and.to.include(`npx icelab down --name ${id}`);
  });
  after(async () => {
    const r = await icelab(['down', '--name', id]);
    expect(r.code, show(r)).to.equal(0);
    expect(await leftovers(id), 'nothing left after down').to.deep.equal([]);
  });

  it('up --json shows each host\'s effective NAT, firewall and link, and every router on its path', async () => {
    const topology = file('links.yaml', ['hosts:', '  - name: udp-blocked', '    nat: udp-blocked', '  - name: open', '    nat: open', '    link: { lossPercent: 2, rateKbit: 800 }', ''].join('\n'));
    const r = await icelab(['up', '--name', `${id}j`, '--topology', topology, '--json']);
    mine.add(`${id}j`);
    expect(r.code, show(r)).to.equal(0);
    const hosts = (JSON.parse(r.stdout) as { hosts: { name: string; nat: unknown; firewall: unknown; link: unknown; routers: { name: string; firewall: unknown }[] }[] }).hosts;
    const blocked = hosts.find((h) => h.name === 'udp-blocked')!;
    expect(blocked.firewall).to.deep.equal({ udp: 'block', tcpPorts: [80, 443] });
    expect(blocked).to.have.property('link', null);
    expect(blocked.nat).to.deep.include({ mapping: 'endpoint-independent', filtering: 'address-and-port-dependent' });
    expect(blocked.routers.map((x) => x.name)).to.deep.equal(['udp-blocked-nat']);
    expect(hosts.find((h) => h.name === 'open')).to.deep.include({ nat: null, firewall: null, routers: [] });
    expect(hosts.find((h) => h.name === 'open')!.link).to.deep.include({ lossPercent: 2, rateKbit: 800 });
    expect((await icelab(['down', '--name', `${id}j`])).code).to.equal(0);
  });

  it('exec without --name finds the lab when it is the only one up; with several, the error lists this one', async () => {
    const r = await icelab(['exec', 'open', '--', 'true']);
    if (r.code === 0) return; // the only lab on this machine
    expect(r.code, show(r)).to.equal(2);
    expect(r.stderr).to.match(/labs are up \(.*\): which one\?/).and.to.include(id);
  });

  it('down of a lab that does not exist says so (exit 0: nothing to remove)', async () => {
    const r = await icelab(['down', '--name', `${id}zz`]);
    expect(r.code, show(r)).to.equal(0);
    expect(r.stdout).to.include(`no lab named "${id}zz"`).and.not.to.include('removed lab');
  });

  it('down of a lab a live process holds keeps it without --force (a suite\'s browsers were SIGKILLed), removes it with', async () => {
    const held = labName();
    const code = `import('./lab/lab.ts').then((m) => m.startLab({ hosts: [{ name: 'a', nat: 'open' }] }, { id: '${held}' })).then(() => { console.log('up'); setInterval(() => {}, 1000); })`;
    const owner = spawn(process.execPath, ['--import', 'tsx', '-e', code], { cwd: new URL('../../', import.meta.url).pathname, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        owner.stdout!.on('data', (d: Buffer) => d.toString().includes('up') && resolve());
        owner.once('exit', (c) => reject(new Error(`owner exited ${c}`)));
      });
      const kept = await icelab(['down', '--name', held]);
      expect(kept.code, show(kept)).to.equal(1);
      expect(kept.stdout).to.include(`kept lab "${held}": in use by process ${owner.pid}`).and.to.include('--force');
      expect(await leftovers(held), 'the held lab is intact').not.to.deep.equal([]);
      expect(owner.exitCode, 'its owner still runs').to.equal(null);
      const forced = await icelab(['down', '--name', held, '--force']);
      expect(forced.code, show(forced)).to.equal(0);
      expect(forced.stdout).to.include(`removed lab "${held}" (was in use by process ${owner.pid})`);
    } finally {
      owner.kill('SIGKILL');
    }
  });

  it('exec into an unknown host names it and lists the lab\'s hosts (exit 2)', async () => {
    const r = await icelab(['exec', '--name', id, 'mallory', '--', 'true']);
    expect(r.code, show(r)).to.equal(2);
    expect(r.stderr).to.include(`no host named "mallory" in lab "${id}"`).and.to.match(/To fix: use one of: .*\bopen\b.*\bsymmetric\b/);
  });

  it('exec forwards the command\'s exit code and output', async () => {
    const r = await icelab(['exec', '--name', id, 'symmetric', '--', 'sh', '-c', 'ip -4 -o addr show scope global; exit 7']);
    expect(r.code, show(r)).to.equal(7);
    expect(r.stdout, 'ran inside the lab host').to.match(/inet 10\./);
  });

  it('exec without a command shows the usage (exit 2)', async () => {
    const r = await icelab(['exec', '--name', id, 'open']);
    expect(r.code, show(r)).to.equal(2);
    expect(r.stderr).to.include('exec needs a host and a command').and.to.include('To fix: icelab exec [--name <lab>] <host> -- <command…>');
  });

  it('exec into a lab that is not up names the lab and points to status (exit 1)', async () => {
    const r = await icelab(['exec', '--name', `${id}x`, 'open', '--', 'true']);
    expect(r.code, show(r)).to.equal(1);
    expect(r.stderr).to.include(`no lab named "${id}x" is up`).and.to.include('icelab status');
  });

  it('up with the name of a lab that is up refuses and says how to proceed (exit 1), leaving that lab up', async () => {
    const r = await icelab(['up', '--name', id, '--topology', 'open']);
    expect(r.code, show(r)).to.equal(1);
    expect(r.stderr).to.include(`a lab named "${id}" is already up`).and.to.include(`npx icelab down --name ${id}`);
    const ok = await icelab(['exec', '--name', id, 'open', '--', 'true']);
    expect(ok.code, `the first lab still works: ${show(ok)}`).to.equal(0);
  });

  // A TURN port in use cannot happen through the CLI: coturn runs in the lab's own TURN namespace,
  // created by the same `up`, where nothing else can have bound 3478/5349/443 first.
});
