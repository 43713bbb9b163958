import type { ChildProcess } from 'node:child_process';
import type { StartedLab } from '../../lab/lab.ts';
import { LINK_TABLE } from '../../lab/network/render.ts';
import { run } from '../../lab/network/run.ts';

/** One UDP NAT mapping as the router's conntrack table holds it. */
export interface NatMapping {
  lan: string;
  remote: string;
  /** The public address and port the router maps `lan` to for `remote`. */
  public: string;
  /** Seconds left before the mapping expires unless a packet refreshes it. */
  ttl: number;
}

/** The UDP mappings a router holds for a LAN address, read from conntrack in its namespace. */
export async function natMappings(lab: StartedLab, router: string, lanIp: string): Promise<NatMapping[]> {
  const r = await lab.exec(router, ['conntrack', '-L', '-p', 'udp', '-s', lanIp], { timeoutMs: 5000 });
  if (r.code !== 0) throw new Error(`conntrack -L in router "${router}" failed (exit ${r.code}): ${r.stderr.trim()}`);
  return r.stdout
    .split('\n')
    .filter((l) => l.startsWith('udp'))
    .map((l) => {
      const f = (k: string) => [...l.matchAll(new RegExp(`\\b${k}=(\\S+)`, 'g'))].map((m) => m[1]!);
      // Original direction first, then the reply, whose destination is the mapped address.
      const [src] = f('src');
      const [dst, rdst] = f('dst');
      const [sport] = f('sport');
      const [dport, rdport] = f('dport');
      return { lan: `${src}:${sport}`, remote: `${dst}:${dport}`, public: `${rdst}:${rdport}`, ttl: Number(l.split(/\s+/)[2]) };
    });
}

/**
 * Streams conntrack DESTROY events of a router (a mapping that expired or was flushed), so a
 * mapping that lapsed and was re-created on the same port between two looks is still seen.
 * Start it before the flows of interest exist: with the default nf_conntrack_events=2 the kernel
 * only reports the end of flows created while a listener was there.
 */
export class ExpiryWatch {
  readonly #child: ChildProcess;
  #out = '';
  private constructor(child: ChildProcess) {
    this.#child = child;
    child.stdout!.on('data', (d: Buffer) => (this.#out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.#out += `stderr: ${d.toString()}`));
  }
  static async start(lab: StartedLab, router: string): Promise<ExpiryWatch> {
    const w = new ExpiryWatch(lab.network.spawn(router, ['conntrack', '-E', '-e', 'DESTROY', '-p', 'udp', '-o', 'timestamp'], { stdio: ['ignore', 'pipe', 'pipe'] }));
    // The netlink subscription exists once the process runs; events before that are lost.
    await new Promise((r) => setTimeout(r, 200));
    return w;
  }
  /** DESTROY events so far of flows from `lanIp` to `remote` (address:port). */
  expiries(lanIp: string, remote: string): string[] {
    const [ip, port] = remote.split(':');
    const flow = new RegExp(`src=${lanIp} dst=${ip!.replaceAll('.', '\\.')} sport=\\d+ dport=${port} `);
    return this.#out.split('\n').filter((l) => flow.test(l));
  }
  /** Everything the watch printed, for the evidence. */
  raw(): string {
    return this.#out;
  }
  stop(): void {
    this.#child.kill('SIGTERM');
  }
}

/**
 * Suspends (SIGSTOP) every process in a lab host's namespace — the browser and its helpers — so the
 * host sends nothing at all, not even ICE consent checks. Returns the resume function.
 * Only for labs this suite started: their hosts run nothing but this suite's browsers.
 */
export async function suspendHost(lab: StartedLab, host: string): Promise<{ pids: number[]; resume: () => void }> {
  const r = await run(['ip', 'netns', 'pids', lab.ns(host)]);
  const listed = r.stdout.split('\n').filter(Boolean).map(Number);
  if (!listed.length) throw new Error(`no process runs in lab host "${host}" (${lab.ns(host)}): nothing to suspend`);
  // Browsers start and reap helpers all the time: a pid listed a moment ago may be gone (ESRCH).
  const pids = listed.filter((p) => {
    try {
      process.kill(p, 'SIGSTOP');
      return true;
    } catch {
      return false;
    }
  });
  return {
    pids,
    resume: () => {
      for (const p of pids) {
        try {
          process.kill(p, 'SIGCONT');
        } catch {
          // gone meanwhile
        }
      }
    },
  };
}

/** Polls `probe` until `done` holds or `timeoutMs` passes; returns the last value and the time taken. */
export async function waitFor<T>(probe: () => Promise<T>, done: (v: T) => boolean, timeoutMs: number, everyMs = 200): Promise<{ value: T; ms: number; met: boolean }> {
  const t0 = performance.now();
  for (;;) {
    const value = await probe();
    const ms = Math.round(performance.now() - t0);
    if (done(value)) return { value, ms, met: true };
    if (ms > timeoutMs) return { value, ms, met: false };
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** What a node's lossy link has seen and dropped, per direction (egress: leaving the node; ingress: arriving). */
export interface LinkDrops {
  egress: { seen: number; dropped: number };
  ingress: { seen: number; dropped: number };
}

/**
 * The counters of the link's nftables table in a node's namespace: each chain counts every
 * packet, then the ones its random draw dropped (lab/network/render.ts, renderLinkNft).
 */
export async function linkDrops(lab: StartedLab, node: string): Promise<LinkDrops> {
  const r = await lab.exec(node, ['nft', '-j', 'list', 'table', 'netdev', LINK_TABLE], { timeoutMs: 5000 });
  if (r.code !== 0) throw new Error(`nft list table netdev ${LINK_TABLE} in "${node}" failed (exit ${r.code}): ${r.stderr.trim()}`);
  type Expr = { counter?: { packets: number } };
  const rules = (JSON.parse(r.stdout) as { nftables: { rule?: { chain: string; expr: Expr[] } }[] }).nftables.flatMap((x) => (x.rule ? [x.rule] : []));
  const counts = (chain: 'egress' | 'ingress') => rules.filter((x) => x.chain === chain).map((x) => x.expr.find((e) => e.counter)?.counter?.packets ?? 0);
  const side = (chain: 'egress' | 'ingress') => {
    const [seen = 0, dropped = 0] = counts(chain);
    return { seen, dropped };
  };
  return { egress: side('egress'), ingress: side('ingress') };
}
