import { readFileSync } from 'node:fs';
import { procNetAddress } from '../turn/coturn.ts';

/** coturn's default relay port range (min-port, max-port): every UDP socket there on the relay address is one allocation. */
export const RELAY_PORTS = { min: 49152, max: 65535 } as const;
/** Linux reports process times in clock ticks of USER_HZ, 100 on every architecture Node runs on. */
const USER_HZ = 100;

/** One reading of the TURN server process and its namespace, all from /proc (no spawn per second). */
export interface ServerReading {
  at: number;
  /** utime + stime of every thread, in seconds. */
  cpuS: number;
  rssBytes: number;
  /** Packets received on the namespace's interfaces other than loopback. */
  rxPackets: number;
  allocations: number;
}

/** What the server did between two readings. */
export interface ServerSample {
  /** Percent of one core (200 = both cores of this machine). */
  cpuPct: number;
  rssMb: number;
  /** Packets in from clients per second: every relayed datagram enters once (consent checks included, they are relayed too). */
  relayedPps: number;
  allocations: number;
}

export function readServer(pid: number, relayIp: string, at = Date.now()): ServerReading {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at field 3; utime and stime are fields 14 and 15.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuS = (Number(f[11]) + Number(f[12])) / USER_HZ;
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { at, cpuS, rssBytes: Number(rss?.[1] ?? 0) * 1024, rxPackets: rxPackets(readFileSync(`/proc/${pid}/net/dev`, 'utf8')), allocations: countAllocations(readFileSync(`/proc/${pid}/net/udp`, 'utf8'), relayIp) };
}

/** /proc/net/dev: the receive packet counter (second number) of every interface but lo, summed. */
export function rxPackets(dev: string): number {
  let sum = 0;
  for (const line of dev.split('\n').slice(2)) {
    const m = /^\s*([^:]+):\s*(.*)$/.exec(line);
    if (!m || m[1] === 'lo') continue;
    sum += Number(m[2]!.trim().split(/\s+/)[1] ?? 0);
  }
  return sum;
}

/**
 * Allocations = UDP sockets bound to the relay address in the relay port range. Exact and cheap:
 * Debian's coturn has no Prometheus, the lab turns its CLI off, and its log says nothing when an
 * allocation times out quietly; the kernel's socket table is the server's own state.
 */
export function countAllocations(udp: string, relayIp: string): number {
  const prefix = procNetAddress(relayIp, 0).slice(0, 8);
  let n = 0;
  for (const line of udp.split('\n').slice(1)) {
    const local = line.trim().split(/\s+/)[1];
    if (!local?.startsWith(`${prefix}:`)) continue;
    const port = parseInt(local.slice(9), 16);
    if (port >= RELAY_PORTS.min && port <= RELAY_PORTS.max) n++;
  }
  return n;
}

export function serverSample(prev: ServerReading, cur: ServerReading): ServerSample {
  const dt = Math.max(0.001, (cur.at - prev.at) / 1000);
  return {
    cpuPct: round1(((cur.cpuS - prev.cpuS) / dt) * 100),
    rssMb: round1(cur.rssBytes / 2 ** 20),
    relayedPps: Math.round((cur.rxPackets - prev.rxPackets) / dt),
    allocations: cur.allocations,
  };
}

const round1 = (x: number) => Math.round(x * 10) / 10;
