import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { stats, type BenchOptions } from '../bench.ts';

const BIN = fileURLToPath(new URL('../../bin/icelab.js', import.meta.url));
const BASELINE = fileURLToPath(new URL('./five-namespaces.sh', import.meta.url));

/** Wall time of a command, and when its first byte of output (stdout or stderr) came. */
function timed(argv: string[]): Promise<{ ms: number; firstOutputMs: number | null; code: number }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    let first: number | null = null;
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    for (const s of [child.stdout, child.stderr]) s.on('data', () => (first ??= performance.now() - t0));
    child.on('close', (code) => resolve({ ms: performance.now() - t0, firstOutputMs: first, code: code ?? 1 }));
  });
}

async function sample(argv: string[], runs: number): Promise<{ ms: number[]; first: number[] }> {
  const ms: number[] = [];
  const first: number[] = [];
  for (let i = 0; i < runs; i++) {
    const r = await timed(argv);
    if (r.code !== 0) throw new Error(`${argv.join(' ')} exited ${r.code}`);
    ms.push(r.ms);
    if (r.firstOutputMs !== null) first.push(r.firstOutputMs);
  }
  return { ms, first };
}

/**
 * What every command pays before it does anything (`--help`, `status`), `icelab up` + `down` from
 * the shell against a hand-written five-namespace lab with coturn (interleaved, so both see the same
 * load), and `icelab connect` end to end (what an engineer pays per reproduction).
 */
export async function startup({ runs, log }: BenchOptions): Promise<unknown> {
  const node = process.execPath;
  const help = await sample([node, BIN, '--help'], runs);
  const status = await sample([node, BIN, 'status'], runs);
  log(`--help ${stats(help.ms).median} ms, status ${stats(status.ms).median} ms`);
  const upDown: number[] = [];
  const upFirstLine: number[] = [];
  const baseline: number[] = [];
  for (let i = 0; i < runs; i++) {
    const up = await timed([node, BIN, 'up', '--name', `benchup${i}`]);
    const down = await timed([node, BIN, 'down', '--name', `benchup${i}`]);
    if (up.code || down.code) throw new Error(`icelab up/down exited ${up.code}/${down.code}`);
    upDown.push(up.ms + down.ms);
    if (up.firstOutputMs !== null) upFirstLine.push(up.firstOutputMs);
    baseline.push((await sample(['sh', BASELINE], 1)).ms[0]!);
    log(`up+down ${Math.round(upDown.at(-1)!)} ms (first line ${Math.round(up.firstOutputMs ?? NaN)} ms), five-namespace script ${Math.round(baseline.at(-1)!)} ms`);
  }
  const connect = await sample([node, BIN, 'connect', '--a', 'chromium@port-restricted-cone', '--b', 'firefox@symmetric', '--ice', 'stun', '--json'], Math.min(runs, 3));
  log(`connect chromium ↔ firefox over STUN: ${stats(connect.ms).median} ms`);
  const ratio = stats(upDown).median / stats(baseline).median;
  return {
    helpMs: stats(help.ms),
    statusMs: stats(status.ms),
    upFirstLineMs: stats(upFirstLine),
    upDownMs: stats(upDown),
    fiveNamespaceScriptMs: stats(baseline),
    upDownOverScript: Math.round(ratio * 100) / 100,
    targets: { helpMs: 150, upFirstLineMs: 100, upDownOverScript: 0.5, connectMs: 3000 },
    connectMs: stats(connect.ms),
  };
}
