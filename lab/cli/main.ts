import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { openLab, startLab } from '../lab.ts';
import { LabError, TopologyError } from '../topology/errors.ts';
import { PRESET_NAMES, type PresetName } from '../topology/nat.ts';
import { defaultTopology, planTopology, type Topology, type TopologyInput } from '../topology/topology.ts';
import { knownLabIds, readState, removeLab, removeStaleLabs, isLive } from '../network/network.ts';
import { run } from '../network/run.ts';
import { ENGINES, findEngine } from '../browsers/engines.ts';
import { suiteCommand } from './suite.ts';
import { connectCommand, planConnect } from './connect.ts';

const HELP = `icelab — WebRTC NAT/TURN lab

Usage:
  icelab doctor [--json]                      check root, nftables, coturn, browsers, Java
  icelab up [--topology <presets|file>] [--name <lab>] [--json]
                                              bring a lab up and leave it up
  icelab status [--json]                      labs that are up
  icelab down [--name <lab>] [--all]          remove a lab (idempotent)
  icelab exec [--name <lab>] <host> -- <command…>
                                              run a command inside a lab host; its exit code is returned
  icelab suite [api|connectivity|turn|resilience|all] [--engines <list>] [--matrix pr|full]
              [--shard i/n] [--parallel <n>] [--turn process|container] [--grep <text>]
              [--no-report] [--json]
                                              run suites (one lab, browsers reused) into
                                              reports/allure-results, then the Allure report;
                                              exit 1 on any unexpected result; --parallel spreads
                                              the matrix over n processes (a lab and browsers each)
  icelab connect --a <engine>@<host> --b <engine>@<host> --ice <list|none> [--policy relay]
              [--media data,audio,video] [--no-trickle] [--timeout <ms>] [--topology <file>]
              [--pcap] [--headed] [--keep] [--json]
                                              one call in a lab of its own, with its evidence;
                                              exit 0 when it ends as the oracle predicts
  icelab report [--results <dir>] [--out <dir>] [--claims <file>] [--json]
                                              Allure report from reports/allure-results

--topology takes a comma-separated preset list (${PRESET_NAMES.join(', ')})
or a JSON/YAML topology file. Engines: chromium, firefox, webkit. ICE servers (--ice): stun,
turn-udp, turn-tcp, turns-tcp. Hosts for connect: a preset, its twin <preset>-2, or a host of
--topology. Exit codes: 0 ok, 1 failure (or unexpected result / outcome not as predicted),
2 bad input, 3 not root, 4 engine unavailable (connect).`;

function loadTopology(arg: string | undefined): TopologyInput | Topology {
  if (!arg) return defaultTopology();
  if (existsSync(arg)) {
    const text = readFileSync(arg, 'utf8');
    let input: unknown;
    try {
      input = arg.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
    } catch (e) {
      throw new LabError('ERR_TOPOLOGY_FILE', `--topology: ${arg} is not valid ${arg.endsWith('.json') ? 'JSON' : 'YAML'}: ${(e as Error).message.split('\n')[0]}`, {
        hint: 'fix the syntax error above (README, "Topology files", shows the format)',
      });
    }
    // Validated here so the problems name the file they are in.
    try {
      return planTopology(input);
    } catch (e) {
      throw e instanceof TopologyError ? new TopologyError([...e.problems], arg) : e;
    }
  }
  const names = arg.split(',').map((s) => s.trim());
  const unknown = names.filter((n) => !(PRESET_NAMES as string[]).includes(n));
  if (unknown.length) {
    const looksLikeFile = /[/.]/.test(arg);
    throw new LabError('ERR_UNKNOWN_PRESET', looksLikeFile ? `--topology: no such file ${arg}` : `--topology: unknown preset ${unknown.map((u) => `"${u}"`).join(', ')} (and no such file)`, {
      hint: `use presets from: ${PRESET_NAMES.join(', ')}, or a path to a JSON/YAML topology file`,
    });
  }
  return defaultTopology(names as PresetName[]);
}

function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw Object.assign(new LabError('ERR_NOT_ROOT', 'the lab needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN) to create network namespaces', { hint: 'run it as root: sudo npx icelab …' }), { exitCode: 3 });
  }
}

async function doctor(json: boolean): Promise<number> {
  const which = async (cmd: string, versionArgs: string[]) => {
    const r = await run([cmd, ...versionArgs]);
    return r.code === 127 ? null : (r.stdout + r.stderr).split('\n').find((l) => /\d+\.\d+/.test(l))?.trim() ?? 'present';
  };
  const checks = [
    { name: 'root', ok: process.getuid?.() === 0, detail: process.getuid?.() === 0 ? 'uid 0' : 'not root: run with sudo' },
    ...(await Promise.all(
      [
        ['ip', ['-V'], 'apt-get install iproute2'],
        ['nft', ['--version'], 'apt-get install nftables'],
        ['conntrack', ['--version'], 'apt-get install conntrack'],
        ['turnserver', ['--version'], 'apt-get install coturn'],
        ['docker', ['--version'], 'apt-get install docker.io (optional: container TURN provider)'],
        ['java', ['-version'], 'apt-get install default-jre-headless (for Allure reports)'],
      ].map(async ([cmd, args, fix]) => {
        const v = await which(cmd as string, args as string[]);
        return { name: cmd as string, ok: v !== null, detail: v ?? `not found: ${fix as string}` };
      }),
    )),
    // Each engine as the fleet would find it: which source and binary, its version, or why not and the fix.
    ...(await Promise.all(
      ENGINES.map(async (engine) => {
        const f = findEngine(engine);
        if (!f.available) return { name: engine, ok: false, detail: `unavailable: ${f.reason}; to fix: ${f.fix}` };
        const v = await which(f.executablePath, ['--version']);
        return { name: engine, ok: true, detail: `${f.source}: ${f.executablePath}${v ? ` (${v})` : ''}` };
      }),
    )),
  ];
  const required = ['root', 'ip', 'nft', 'conntrack', 'turnserver'];
  const ready = checks.filter((c) => required.includes(c.name)).every((c) => c.ok);
  if (json) console.log(JSON.stringify({ ready, checks }, null, 2));
  else {
    for (const c of checks) console.log(`${c.ok ? '✓' : '✗'} ${c.name.padEnd(12)} ${c.detail}`);
    console.log(ready ? '\nThe lab can run.' : '\nThe lab cannot run: fix the required items (root, ip, nft, conntrack, turnserver).');
  }
  return ready ? 0 : 1;
}

export async function main(argv: string[]): Promise<number> {
  const dash = argv.indexOf('--');
  const { values, positionals } = parseArgs({
    args: dash >= 0 ? argv.slice(0, dash) : argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
      topology: { type: 'string' },
      name: { type: 'string', default: 'default' },
      all: { type: 'boolean', default: false },
      engines: { type: 'string' },
      matrix: { type: 'string' },
      shard: { type: 'string' },
      turn: { type: 'string' },
      grep: { type: 'string' },
      parallel: { type: 'string' },
      'no-report': { type: 'boolean', default: false },
      headed: { type: 'boolean', default: false },
      a: { type: 'string' },
      b: { type: 'string' },
      ice: { type: 'string' },
      policy: { type: 'string' },
      media: { type: 'string' },
      'no-trickle': { type: 'boolean', default: false },
      timeout: { type: 'string' },
      pcap: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      results: { type: 'string' },
      out: { type: 'string' },
      claims: { type: 'string' },
    },
  });
  const [cmd, ...rest] = positionals;
  if (values.help || !cmd) {
    console.log(HELP);
    return cmd || values.help ? 0 : 2;
  }
  switch (cmd) {
    case 'doctor':
      return doctor(values.json);
    case 'up': {
      requireRoot();
      const topology = loadTopology(values.topology);
      if (!values.json) process.stderr.write(`bringing lab "${values.name}" up…\n`);
      const t0 = performance.now();
      const lab = await startLab(topology, { id: values.name });
      lab.network.markComplete({ detach: true });
      const summary = lab.summary();
      if (values.json) console.log(JSON.stringify(summary, null, 2));
      else {
        console.log(`lab "${lab.id}" up in ${Math.round(performance.now() - t0)} ms; TURN ${summary.turn.ips.join(', ')}`);
        for (const h of summary.hosts) console.log(`  ${h.name.padEnd(22)} ${h.ip.padEnd(14)} ${h.nat ? `${h.nat.mapping} mapping, ${h.nat.filtering} filtering` : 'public, no NAT'}`);
        console.log(`run a command in a host: npx icelab exec ${summary.hosts[0]?.name} -- <command>; remove it: npx icelab down`);
      }
      return 0;
    }
    case 'status': {
      const labs = knownLabIds().map((id) => ({ id, live: isLive(readState(id)), hosts: readState(id)?.topology.hosts.map((h) => h.name) ?? [] }));
      if (values.json) console.log(JSON.stringify({ labs }, null, 2));
      else if (!labs.length) console.log('no lab is up');
      else for (const l of labs) console.log(`${l.id}: ${l.live ? 'up' : 'stale (removed by the next up or down)'} — ${l.hosts.join(', ')}`);
      return 0;
    }
    case 'down': {
      requireRoot();
      const ids = values.all ? knownLabIds() : [values.name];
      for (const id of ids) await removeLab(id);
      const stale = await removeStaleLabs();
      if (!values.json) console.log(`removed ${[...new Set([...ids, ...stale])].filter(Boolean).join(', ') || 'nothing'}`);
      return 0;
    }
    case 'exec': {
      requireRoot();
      const host = rest[0];
      const command = dash >= 0 ? argv.slice(dash + 1) : [];
      if (!host || command.length === 0) throw Object.assign(new LabError('ERR_USAGE', 'exec needs a host and a command', { hint: 'icelab exec <host> -- <command…>' }), { exitCode: 2 });
      const lab = openLab(values.name);
      const child = lab.network.spawn(host, command, { stdio: 'inherit' });
      return await new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)));
    }
    case 'suite':
      requireRoot();
      return suiteCommand({ suites: rest, engines: values.engines, matrix: values.matrix, shard: values.shard, turn: values.turn, grep: values.grep, parallel: values.parallel, headed: values.headed, report: !values['no-report'], json: values.json });
    case 'connect': {
      const timeoutMs = values.timeout === undefined ? undefined : Number(values.timeout);
      if (timeoutMs !== undefined && !(timeoutMs > 0)) throw Object.assign(new LabError('ERR_USAGE', `--timeout: "${values.timeout}" is not a number of milliseconds`, { hint: 'e.g. --timeout 8000' }), { exitCode: 2 });
      const opts = { a: values.a, b: values.b, ice: values.ice, policy: values.policy, media: values.media, topology: values.topology ? loadTopology(values.topology) : undefined, trickle: !values['no-trickle'], pcap: values.pcap, headed: values.headed, keep: values.keep, json: values.json, ...(timeoutMs ? { timeoutMs } : {}) };
      planConnect(opts); // bad input before the root check: exit 2 names the option
      requireRoot();
      return connectCommand(opts);
    }
    case 'report': {
      const { reportCommand } = await import('./report.ts');
      return reportCommand(argv.slice(argv.indexOf('report') + 1));
    }
    default:
      throw Object.assign(new LabError('ERR_USAGE', `unknown command "${cmd}"`, { hint: 'see icelab --help' }), { exitCode: 2 });
  }
}

/** Error codes that mean "the input was wrong" (exit 2). */
const BAD_INPUT = ['ERR_UNKNOWN_ENGINE', 'ERR_BAD_SHARD', 'ERR_TOPOLOGY_INVALID', 'ERR_TOPOLOGY_FILE', 'ERR_UNKNOWN_PRESET', 'ERR_UNKNOWN_HOST', 'ERR_LAB_ID', 'ERR_USAGE'];

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    const err = e as LabError & { exitCode?: number };
    // node:util parseArgs rejects unknown options and missing values with ERR_PARSE_ARGS_*.
    const usage = String(err.code).startsWith('ERR_PARSE_ARGS');
    console.error(`icelab: ${err.message}${usage ? '\nTo fix: see icelab --help' : ''}`);
    process.exit(err.exitCode ?? (usage || BAD_INPUT.includes(err.code) ? 2 : 1));
  },
);
