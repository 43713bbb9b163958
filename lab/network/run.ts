import { spawn, spawnSync } from 'node:child_process';
import { LabError } from '../topology/errors.ts';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Known cryptic messages from ip/nft/tc rewritten into a next step. */
const HINTS: [RegExp, string][] = [
  [/Operation not permitted|Permission denied/i, 'run as root or with CAP_NET_ADMIN and CAP_SYS_ADMIN (a root shell: npx icelab …; a sudo user: sudo npx icelab …)'],
  [/File exists/i, 'a lab with this id already exists: run `npx icelab down` (or pick another --name)'],
  [/Could not process rule: No such file or directory/i, 'the kernel lacks an nftables module (nf_tables, nft_nat, nft_ct); load it with modprobe'],
  [/Specified qdisc kind is unknown/i, "this kernel has no netem qdisc (CONFIG_NET_SCH_NETEM), which a link's delayMs and jitterMs need (lossPercent and rateKbit do not): remove them, or run on a kernel with sch_netem (modprobe sch_netem)"],
  [/cannot open \/run\/netns\//, "the lab's network namespace is gone (a reboot, or `ip netns del`): remove the lab with `npx icelab down --name <lab>` and start it again"],
  [/command not found|ENOENT|failed to execute \S+: No such file or directory/i, 'install the Debian packages: iproute2 nftables conntrack (scripts/setup does it)'],
];

export function hintFor(text: string): string | undefined {
  return HINTS.find(([re]) => re.test(text))?.[1];
}

/** Runs a shell script; a non-zero exit becomes a LabError carrying the failing line's output and a hint. */
export async function runScript(script: string, what: string, context: Record<string, unknown> = {}): Promise<RunResult> {
  const r = await run(['sh', '-e', '-s'], { input: script });
  if (r.code !== 0) {
    const detail = r.stderr.trim() || r.stdout.trim();
    throw new LabError('ERR_NETWORK_COMMAND', `${what} failed (exit ${r.code}): ${detail}`, {
      hint: hintFor(detail) ?? 'rerun with ICELAB_DEBUG=1 to print the script',
      context: { ...context, script: process.env.ICELAB_DEBUG ? script : undefined },
    });
  }
  return r;
}

export function run(argv: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env });
    let stdout = '';
    let stderr = '';
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: 127, stdout, stderr: stderr + String(e) });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 + 9 : 1), stdout, stderr });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** Synchronous variant for exit and signal handlers, where nothing asynchronous runs any more. */
export function runScriptSync(script: string): void {
  spawnSync('sh', ['-s'], { input: script, stdio: ['pipe', 'ignore', 'ignore'] });
}
