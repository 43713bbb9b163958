import { usage } from './usage.ts';
import { parseArgs } from 'node:util';
import { LabError } from '../topology/errors.ts';
import { PRESET_NAMES } from '../topology/presets.ts';
// Each command loads only what it uses (Playwright, testcontainers and the lab cost tenths of a second).
const labs = () => import('./labs.ts');
const topologyFile = () => import('./topology-file.ts');

const HELP = `icelab — WebRTC NAT/TURN lab

Usage:
  icelab doctor [--json]                      check root, nftables, coturn, browsers, Java
  icelab up [--topology <presets|file>] [--name <lab>] [--turn process|container] [--json]
                                              bring a lab up and leave it up
  icelab status [--json]                      labs that are up, and who holds them
  icelab down [--name <lab>] [--all] [--force] [--json]
                                              remove a lab (idempotent; without --name, the only
                                              one up); --all: every lab nobody holds, and crash
                                              leftovers; --force: also labs a live process holds
  icelab exec [--name <lab>] <host> -- <command…>
                                              run a command inside a lab host (without --name:
                                              the only lab up); its exit code is returned
  icelab suite [api|connectivity|turn|resilience|all] [--engines <list>] [--matrix pr|full]
              [--shard i/n] [--parallel <n>] [--turn process|container] [--grep <text>]
              [--no-report] [--json]
                                              run suites (one lab, browsers reused) into
                                              reports/allure-results, then the Allure report;
                                              exit 1 on any unexpected result; --parallel spreads
                                              the suites over n processes (a lab and browsers each;
                                              default 3 on 2+ cores, 1 for --matrix full or --shard)
  icelab connect --a <engine>@<host> --b <engine>@<host> --ice <list|none> [--policy relay]
              [--bundle-policy balanced|max-bundle|max-compat] [--media data,audio,video] [--no-trickle] [--timeout <ms>] [--topology <file>]
              [--turn process|container] [--pcap] [--headed] [--keep | --lab <name>] [--json]
                                              one call in a lab of its own, with its evidence;
                                              exit 0 when it ends as the oracle predicts;
                                              --lab: in a lab that is up (icelab up, --keep),
                                              its browsers kept warm for the next call
  icelab open <url> --peers <engine>@<host>[,…] [--topology <file>] [--run <module>] [--timeout <ms>]
              [--headed] [--json]
                                              your app's page in each peer ({peer}, {index} in
                                              the URL), lab and services up; exit 0 when every
                                              peer connection settles as the oracle predicts
  icelab load [--calls N] [--ice turn-udp|turn-tcp|turns-tcp] [--traffic data|audio|video]
              [--duration s] [--ramp <calls/s>] [--engines <list>] [--turn lab|service:<name>]
              [--topology <file>] [--allocations M]
              [--turn-config <line,…>] [--max-loss %] [--max-connect-p95 ms] [--json]
                                              relay-only calls through one TURN server, sampled
                                              every second: reports/load/<time>/load.{json,svg,html};
                                              exit 0 within the thresholds, 1 not, 130 on Ctrl-C
  icelab report [--results <dir>] [--out <dir>] [--claims <file>] [--json]
                                              Allure report from reports/allure-results

--topology takes a comma-separated preset list (${PRESET_NAMES.join(', ')})
or a JSON/YAML topology file. Engines: chromium, firefox, webkit. ICE servers (--ice): stun,
turn-udp, turn-tcp, turns-tcp. Hosts for connect: a preset, its twin <preset>-2, or a host of
--topology. Exit codes: 0 ok, 1 failure (or unexpected result / outcome not as predicted),
2 bad input, 3 not root, 4 engine unavailable (connect). With --json, errors are JSON on stdout
too: { "error": { code, message, fix, exitCode } }.`;

const isRoot = (): boolean => process.getuid?.() === 0;

function requireRoot(): void {
  if (!isRoot()) {
    throw Object.assign(new LabError('ERR_NOT_ROOT', 'the lab needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN) to create network namespaces', { hint: 'run it as root (a root shell: npx icelab …; a sudo user: sudo npx icelab …)' }), { exitCode: 3 });
  }
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
      name: { type: 'string' },
      lab: { type: 'string' },
      all: { type: 'boolean', default: false },
      force: { type: 'boolean', default: false },
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
      'bundle-policy': { type: 'string' },
      media: { type: 'string' },
      'no-trickle': { type: 'boolean', default: false },
      timeout: { type: 'string' },
      pcap: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      results: { type: 'string' },
      out: { type: 'string' },
      claims: { type: 'string' },
      peers: { type: 'string' },
      run: { type: 'string' },
      calls: { type: 'string' },
      traffic: { type: 'string' },
      duration: { type: 'string' },
      ramp: { type: 'string' },
      allocations: { type: 'string' },
      'turn-config': { type: 'string' },
      'max-loss': { type: 'string' },
      'max-connect-p95': { type: 'string' },
    },
  });
  const [cmd, ...rest] = positionals;
  if (values.help || !cmd || cmd === 'help') {
    console.log(HELP);
    return cmd || values.help ? 0 : 2;
  }
  switch (cmd) {
    case 'doctor':
      return (await import('./doctor.ts')).doctorCommand(values.json);
    case 'up': {
      // The first line before any module loads: a person sees at once that something happens
      // (not as a non-root user: the command stops at once, with one message).
      if (!values.json && isRoot()) process.stderr.write(`bringing lab "${values.name ?? 'default'}" up…\n`);
      const { checkMachineLinks, loadTopology, parseTurnProvider } = await topologyFile();
      const arg = loadTopology(values.topology, { turn: parseTurnProvider(values.turn) });
      requireRoot();
      await checkMachineLinks(arg);
      return (await labs()).upCommand(arg.topology, values.name ?? 'default', values.json);
    }
    case 'status':
      return (await labs()).statusCommand(values.json);
    case 'down':
      requireRoot();
      return (await labs()).downCommand({ name: values.name, all: values.all, force: values.force, json: values.json });
    case 'exec':
      requireRoot();
      return (await labs()).execCommand(values.name, rest[0], dash >= 0 ? argv.slice(dash + 1) : []);
    case 'suite':
      requireRoot();
      return (await import('./suite.ts')).suiteCommand({ suites: rest, engines: values.engines, matrix: values.matrix, shard: values.shard, turn: values.turn, grep: values.grep, parallel: values.parallel, headed: values.headed, report: !values['no-report'], json: values.json });
    case 'connect': {
      const [{ checkMachineLinks, loadTopology, parseTurnProvider }, { connectCommand, planConnect }] = await Promise.all([topologyFile(), import('./connect.ts')]);
      const timeoutMs = values.timeout === undefined ? undefined : Number(values.timeout);
      if (timeoutMs !== undefined && !(timeoutMs > 0)) throw usage(`--timeout: "${values.timeout}" is not a number of milliseconds`, 'e.g. --timeout 8000');
      const turn = parseTurnProvider(values.turn);
      const opts = {
        a: values.a, b: values.b, ice: values.ice, policy: values.policy, bundlePolicy: values['bundle-policy'], media: values.media, turn,
        topology: values.topology ? loadTopology(values.topology, { turn }) : undefined,
        lab: values.lab === undefined ? undefined : (await labs()).labArg(values.lab),
        trickle: !values['no-trickle'], pcap: values.pcap, headed: values.headed, keep: values.keep, json: values.json,
        ...(timeoutMs ? { timeoutMs } : {}),
      };
      const plan = planConnect(opts); // bad input before the root check: exit 2 names the option
      requireRoot();
      if (opts.topology) await checkMachineLinks(opts.topology);
      return connectCommand(plan, opts);
    }
    case 'open': {
      const [{ checkMachineLinks, loadTopology }, { openCommand, planOpen }] = await Promise.all([topologyFile(), import('./open.ts')]);
      const timeoutMs = values.timeout === undefined ? undefined : Number(values.timeout);
      if (timeoutMs !== undefined && !(timeoutMs > 0)) throw usage(`--timeout: "${values.timeout}" is not a number of milliseconds`, 'e.g. --timeout 20000');
      const opts = { url: rest[0], peers: values.peers, run: values.run, headed: values.headed, json: values.json, topology: values.topology ? loadTopology(values.topology) : undefined, ...(timeoutMs ? { timeoutMs } : {}) };
      const plan = planOpen(opts);
      requireRoot();
      if (opts.topology) await checkMachineLinks(opts.topology);
      return openCommand(plan, opts);
    }
    case 'load': {
      const { loadCommand, planLoad } = await import('./load.ts');
      const opts = { calls: values.calls, ice: values.ice, traffic: values.traffic, duration: values.duration, ramp: values.ramp, engines: values.engines, turn: values.turn, topology: values.topology, turnConfig: values['turn-config'], allocations: values.allocations, maxLoss: values['max-loss'], maxConnectP95: values['max-connect-p95'], json: values.json };
      const plan = planLoad(opts);
      requireRoot();
      return loadCommand(plan, opts);
    }
    case 'report': {
      const { reportCommand } = await import('./report.ts');
      return reportCommand(argv.slice(argv.indexOf('report') + 1));
    }
    default:
      throw usage(`unknown command "${cmd}"`, 'see icelab --help');
  }
}


/** Error codes that mean "the input was wrong" (exit 2). */
const BAD_INPUT = ['ERR_APP_URL', 'ERR_APP_URL_NOT_IN_LAB', 'ERR_UNKNOWN_ENGINE', 'ERR_BAD_SHARD', 'ERR_TOPOLOGY_INVALID', 'ERR_TOPOLOGY_FILE', 'ERR_UNKNOWN_PRESET', 'ERR_UNKNOWN_HOST', 'ERR_LAB_ID', 'ERR_USAGE'];

/** How a failed command ends: the exit code, the message on stderr, and with --json the same as JSON on stdout. */
function fail(e: unknown, json: boolean): number {
  const err = e as LabError & { exitCode?: number };
  // node:util parseArgs rejects unknown options and missing values with ERR_PARSE_ARGS_*.
  const parse = String(err.code).startsWith('ERR_PARSE_ARGS');
  const hint = err.hint ?? (parse ? 'see icelab --help' : undefined);
  const suffix = `\nTo fix: ${err.hint}`;
  const message = err.hint && err.message.endsWith(suffix) ? err.message.slice(0, -suffix.length) : err.message;
  const exitCode = err.exitCode ?? (parse || BAD_INPUT.includes(err.code) ? 2 : 1);
  console.error(`icelab: ${message}${hint ? `\nTo fix: ${hint}` : ''}`);
  if (json) console.log(JSON.stringify({ error: { code: err.code ?? 'ERR_INTERNAL', message, fix: hint ?? null, exitCode } }, null, 2));
  return exitCode;
}

const argv = process.argv.slice(2);
main(argv).then(
  (code) => process.exit(code),
  (e: unknown) => process.exit(fail(e, argv.includes('--json'))),
);
