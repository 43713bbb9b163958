import { readFileSync } from 'node:fs';
import type { StartedLab } from '../lab.ts';
import { LabError } from '../topology/errors.ts';
import { restCredentials, type IceServer, type IceTransport } from '../turn/coturn.ts';
import type { TurnUnderTest } from './run.ts';

/** Ports a TURN server run as a service is expected on: the standard ones (RFC 8656 §18). */
export const SERVICE_TURN_PORTS = { plain: 3478, tls: 5349 } as const;

/**
 * A service's process is `/bin/sh -c <command>` unless the command execs: the server is the shell's
 * only child. Followed down, three levels at most, so /proc readings are the server's own.
 */
export function serverProcess(pid: number, proc = (p: string) => readFileSync(p, 'utf8')): number {
  let cur = pid;
  for (let i = 0; i < 3; i++) {
    let comm: string;
    let children: string[];
    try {
      comm = proc(`/proc/${cur}/comm`).trim();
      children = proc(`/proc/${cur}/task/${cur}/children`).trim().split(/\s+/).filter(Boolean);
    } catch {
      return cur;
    }
    if (!/^(sh|dash|bash)$/.test(comm) || children.length !== 1) return cur;
    cur = Number(children[0]);
  }
  return cur;
}

/**
 * A TURN server of the team's own, run as a lab service (`services:` in the topology), as the server
 * under test. It is reached at its public address on 3478 (UDP, TCP) and 5349 (TLS, by its lab name,
 * with the certificate the lab issued it) with REST credentials from the lab's secret: run it with
 * `use-auth-secret`, `static-auth-secret=$ICELAB_TURN_SECRET` and `realm=$ICELAB_TURN_REALM`.
 */
export function serviceTurn(lab: StartedLab, name: string): TurnUnderTest {
  const svc = lab.services.find((s) => s.name === name);
  if (!svc) {
    throw new LabError('ERR_UNKNOWN_SERVICE', `--turn service:${name}: the topology has no service "${name}"`, {
      hint: lab.services.length ? `use one of: ${lab.services.map((s) => s.name).join(', ')}` : 'add the TURN server under services: in the --topology file',
    });
  }
  const { publicIp, hostname, ip, pid } = svc.info;
  const secret = lab.turn.info.secret;
  const urls: Record<Exclude<IceTransport, 'stun'>, string> = {
    'turn-udp': `turn:${publicIp}:${SERVICE_TURN_PORTS.plain}?transport=udp`,
    'turn-tcp': `turn:${publicIp}:${SERVICE_TURN_PORTS.plain}?transport=tcp`,
    'turns-tcp': `turns:${hostname}:${SERVICE_TURN_PORTS.tls}?transport=tcp`,
  };
  const iceServers = (t: IceTransport): IceServer[] => (t === 'stun' ? [{ urls: `stun:${publicIp}:${SERVICE_TURN_PORTS.plain}` }] : [{ urls: urls[t], ...restCredentials(secret, 'load') }]);
  const server = serverProcess(pid);
  // Its relayed addresses are on its own interface (private behind a one-to-one NAT).
  return { name: `service ${name} (${hostname}, pid ${server})`, pid: server, relayIp: ip, iceServers };
}

/** Ranges the lab uses for LANs and carrier-grade NAT: a relay to them would be a relay into a LAN. */
const PRIVATE_PEERS = ['10.0.0.0-10.255.255.255', '100.64.0.0-100.127.255.255', '172.16.0.0-172.31.255.255', '192.168.0.0-192.168.255.255'];

/**
 * A coturn of one's own as a lab service, with the lab's REST secret and realm: what `--turn
 * service:<name>` expects. `flags` are extra turnserver options, e.g. `--total-quota=50`.
 */
export function coturnService(name: string, flags: readonly string[] = []): { name: string; command: string; ready: { tcp: number } } {
  const command = [
    'exec turnserver -n --log-file=stdout --simple-log --no-cli --no-tls --no-dtls --fingerprint',
    '--listening-ip=$ICELAB_SERVICE_IP --relay-ip=$ICELAB_SERVICE_IP',
    `--listening-port=${SERVICE_TURN_PORTS.plain}`,
    '--realm=$ICELAB_TURN_REALM --use-auth-secret --static-auth-secret=$ICELAB_TURN_SECRET',
    // coturn's default pidfile is one path for every server on the machine.
    '--pidfile=$ICELAB_SERVICE_DIR/turnserver.pid',
    ...PRIVATE_PEERS.map((r) => `--denied-peer-ip=${r}`),
    ...flags,
  ].join(' ');
  return { name, command, ready: { tcp: SERVICE_TURN_PORTS.plain } };
}
