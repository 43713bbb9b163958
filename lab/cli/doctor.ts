import { ENGINES, findEngine } from '../browsers/engines.ts';
import { probeLinkSupport } from '../network/link-support.ts';
import { run } from '../network/run.ts';
import { describeLinkSupport } from '../topology/nat.ts';

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

/** The lab cannot run without these; the rest limit what it can do (each says what). */
const REQUIRED = ['root', 'ip', 'nft', 'conntrack', 'turnserver', 'openssl'];

/** Tools the lab calls, with the version flag and the fix (for an optional one, what is lost without it). */
const TOOLS: { cmd: string; args: string[]; fix: string }[] = [
  { cmd: 'ip', args: ['-V'], fix: 'apt-get install iproute2' },
  { cmd: 'nft', args: ['--version'], fix: 'apt-get install nftables' },
  { cmd: 'conntrack', args: ['--version'], fix: 'apt-get install conntrack' },
  { cmd: 'turnserver', args: ['--version'], fix: 'apt-get install coturn' },
  { cmd: 'openssl', args: ['version'], fix: 'apt-get install openssl (the lab CA and the TURN server certificate)' },
  { cmd: 'certutil', args: ['--version'], fix: 'apt-get install libnss3-tools (browsers trust the lab CA through it: without it TURNS and HTTPS services fail)' },
  { cmd: 'tcpdump', args: ['--version'], fix: 'apt-get install tcpdump (optional: connect --pcap)' },
  { cmd: 'docker', args: ['--version'], fix: 'apt-get install docker.io (optional: container TURN provider)' },
  { cmd: 'java', args: ['-version'], fix: 'apt-get install default-jre-headless (for Allure reports)' },
];

/** A tool's version line, or null when it is not installed (exit 127). */
async function versionOf(cmd: string, args: string[]): Promise<string | null> {
  const r = await run([cmd, ...args]);
  if (r.code === 127) return null;
  return (r.stdout + r.stderr).split('\n').find((l) => /\d+\.\d+/.test(l))?.trim() ?? 'present';
}

async function toolCheck(t: (typeof TOOLS)[number]): Promise<Check> {
  const v = await versionOf(t.cmd, t.args);
  return { name: t.cmd, ok: v !== null, detail: v ?? `not found: ${t.fix}` };
}

/** Each engine as the fleet would find it: which source and binary, its version, or why not and the fix. */
async function engineCheck(engine: (typeof ENGINES)[number]): Promise<Check> {
  const f = findEngine(engine);
  if (!f.available) return { name: engine, ok: false, detail: `unavailable: ${f.reason}; to fix: ${f.fix}` };
  const v = await versionOf(f.executablePath, ['--version']);
  return { name: engine, ok: true, detail: `${f.source}: ${f.executablePath}${v ? ` (${v})` : ''}` };
}

/** What a topology's `link` can ask of this kernel; optional (a link that cannot be produced is refused). */
async function linkCheck(root: boolean): Promise<Check> {
  if (!root) return { name: 'link', ok: false, detail: 'not known: finding out needs root' };
  const support = await probeLinkSupport().catch((e: Error) => e);
  if (support instanceof Error) return { name: 'link', ok: false, detail: support.message };
  return { name: 'link', ok: true, detail: `links can have ${describeLinkSupport(support)}` };
}

export async function doctorCommand(json: boolean): Promise<number> {
  const root = process.getuid?.() === 0;
  const checks: Check[] = [
    { name: 'root', ok: root, detail: root ? 'uid 0' : 'not root: run as root (or sudo)' },
    ...(await Promise.all(TOOLS.map(toolCheck))),
    await linkCheck(root),
    ...(await Promise.all(ENGINES.map(engineCheck))),
  ];
  const ready = checks.filter((c) => REQUIRED.includes(c.name)).every((c) => c.ok);
  if (json) console.log(JSON.stringify({ ready, checks }, null, 2));
  else {
    for (const c of checks) console.log(`${c.ok ? '✓' : '✗'} ${c.name.padEnd(12)} ${c.detail}`);
    console.log(ready ? '\nThe lab can run.' : `\nThe lab cannot run: fix the required items (${REQUIRED.join(', ')}).`);
  }
  return ready ? 0 : 1;
}
