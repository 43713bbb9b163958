import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { stats, type BenchOptions } from '../bench.ts';

const BIN = fileURLToPath(new URL('../../bin/icelab.js', import.meta.url));
const BASELINE = fileURLToPath(new URL('./five-namespaces.sh', import.meta.url));

/** Wall time of a command, and when its first byte of output (stdout or stderr) came. */
function timed(argv: string[]): Promise<{ ms: number; firstOutputMs: number | null; code: number; stdout: string }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    let first: number | null = null;
    let stdout = '';
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    for (const s of [child.stdout, child.stderr]) s.on('data', () => (first ??= performance.now() - t0));
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.on('close', (code) => resolve({ ms: performance.now() - t0, firstOutputMs: first, code: code ?? 1, stdout }));
  });
}

/** `icelab connect --json` runs: wall time, and the median of each phase it reports (lab, TURN, browsers, call, down, each launch). */
async function connects(argv: string[], runs: number, log: (m: string) => void): Promise<unknown> {
  const ms: number[] = [];
  const phases: Record<string, number[]> = {};
  for (let i = 0; i < runs; i++) {
    const r = await timed(argv);
    if (r.code !== 0) throw new Error(`${argv.join(' ')} exited ${r.code}: ${r.stdout.slice(0, 500)}`);
    ms.push(r.ms);
    const p = (JSON.parse(r.stdout) as { phases: Record<string, number | Record<string, number>> }).phases;
    const flat = Object.entries(p).flatMap(([k, v]) => (typeof v === 'number' ? [[k, v] as const] : Object.entries(v).map(([e, x]) => [`launch ${e}`, x] as const)));
    for (const [k, v] of flat) (phases[k] ??= []).push(v);
    log(`connect ${Math.round(r.ms)} ms: ${flat.map(([k, v]) => `${k} ${v}`).join(', ')}`);
  }
  return { ...stats(ms), phasesMedianMs: Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, stats(v).median])) };
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
  // What node itself takes to print a line on this machine now: the floor under every figure below.
  const bare = await sample([node, '-e', 'console.log(0)'], runs);
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
  // The first pair is predicted to fail (no TURN): its call lasts until ICE gives up. The second connects.
  const connect = await connects([node, BIN, 'connect', '--a', 'chromium@port-restricted-cone', '--b', 'firefox@symmetric', '--ice', 'stun', '--json'], Math.min(runs, 3), log);
  const connecting = await connects([node, BIN, 'connect', '--a', 'chromium@full-cone', '--b', 'firefox@port-restricted-cone', '--ice', 'stun', '--json'], Math.min(runs, 3), log);
  const warm = await warmConnects(node, Math.max(runs, 3), log);
  const ratio = stats(upDown).median / stats(baseline).median;
  return {
    nodeStartMs: stats(bare.ms),
    helpMs: stats(help.ms),
    statusMs: stats(status.ms),
    upFirstLineMs: stats(upFirstLine),
    upDownMs: stats(upDown),
    fiveNamespaceScriptMs: stats(baseline),
    upDownOverScript: Math.round(ratio * 100) / 100,
    targets: { helpMs: 150, upFirstLineMs: 100, upDownOverScript: 0.5, connectMs: 3000 },
    connectMs: connect,
    connectConnectingPairMs: connecting,
    connectInLabMs: warm,
  };
}

/**
 * `connect --lab` in a lab that is up: the repeated call an engineer makes while iterating. The first
 * starts the lab's call server and launches the browsers; the others are what each repeat costs.
 */
async function warmConnects(node: string, runs: number, log: (m: string) => void): Promise<unknown> {
  const name = `benchwarm${process.pid % 1000}`;
  const up = await timed([node, BIN, 'up', '--name', name, '--topology', 'full-cone,port-restricted-cone,symmetric']);
  if (up.code) throw new Error(`icelab up --name ${name} exited ${up.code}`);
  try {
    const call = (a: string, b: string) => [node, BIN, 'connect', '--lab', name, '--a', a, '--b', b, '--ice', 'stun', '--json'];
    const connecting = call('chromium@full-cone', 'firefox@port-restricted-cone');
    // Predicted to fail: the call lasts until the failure's mechanism has held (FAIL_PROOF_MS).
    const failing = call('chromium@port-restricted-cone', 'firefox@symmetric');
    const first = await connects(connecting, 1, log);
    await connects(failing, 1, log); // launches this pair's browsers
    return { first, repeated: await connects(connecting, runs, log), repeatedFailing: await connects(failing, runs, log) };
  } finally {
    const down = await timed([node, BIN, 'down', '--name', name]);
    if (down.code) throw new Error(`icelab down --name ${name} exited ${down.code}: the lab may be left up`);
  }
}
