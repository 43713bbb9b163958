/**
 * The container TURN provider: coturn from an image instead of the machine's turnserver, in the same
 * place of the lab. The lab builds the TURN host's namespace as for the process provider (veth on the
 * public bridge, both addresses, the 443/80 redirects); the container starts with no network, the
 * host's interface moves into the container's namespace, and that namespace takes over the host's
 * name (`ip netns attach`), so `lab.exec(turn, …)`, teardown and readiness see it like any lab host.
 * Configuration, certificates, REST secret and log file are the process provider's own
 * (startCoturn writes them into the lab's dir, bind-mounted at the same path): only the binary differs.
 *
 * Started with testcontainers, without its reaper (Ryuk): a lab left up by `icelab up` must outlive
 * the process that started it, and no registry is reachable for the reaper's image anyway. The lab
 * records the container before it exists; its teardown (also the next `up` after a kill -9) removes it.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { LabError } from '../topology/errors.ts';
import type { PlannedTurn } from '../topology/topology.ts';
import { nsName } from '../network/names.ts';
import type { StartedNetwork } from '../network/network.ts';
import { renderTurnNft, renderUplinkMove, uplinks } from '../network/render.ts';
import { run, runScript } from '../network/run.ts';
import { waitForStun } from './coturn.ts';

/** Default image where a registry is reachable; `turn.image` in the topology or ICELAB_COTURN_IMAGE changes it. */
export const UPSTREAM_COTURN_IMAGE = 'coturn/coturn:4.6.2';
/** What scripts/build-images builds from Debian packages (machines without a registry, like CI here). */
export const LOCAL_COTURN_IMAGE = 'icelab/coturn:bookworm';

export const coturnImage = (turn: PlannedTurn): string => turn.image ?? process.env.ICELAB_COTURN_IMAGE ?? UPSTREAM_COTURN_IMAGE;
/** Container name: the lab's namespace name of the TURN host (leftovers() finds it by the lab prefix). */
export const containerName = (net: StartedNetwork, turn: PlannedTurn): string => nsName(net.id, turn.name);

/** Created by the lab once the container's network is wired; the container waits for it before exec'ing turnserver. */
const WIRED = '.wired';

/**
 * The container's command. The server must find its addresses when it binds (otherwise it retries its
 * TCP/TLS listeners), so it waits for the wiring. Logs go to the lab's file exactly as the process's do.
 */
function containerScript(dir: string, logFile: string): string {
  return [
    `i=0; until [ -e ${dir}/${WIRED} ]; do`,
    `  i=$((i + 1)); if [ $i -gt 600 ]; then echo "icelab: network not wired within 30 s" >> ${logFile}; exit 3; fi`,
    '  sleep 0.05',
    'done',
    `exec turnserver -c ${dir}/turnserver.conf --log-file=stdout --simple-log >> ${logFile} 2>&1`,
  ].join('\n');
}

/**
 * Starts (first time: creates with testcontainers; after `StartedCoturn.restart()`: starts the same
 * container again) coturn in its container, wires it into the lab, and waits for a STUN answer.
 * Returns the server's pid as seen from here. Same signature as the process provider's `launch`.
 */
export async function launchContainer(net: StartedNetwork, turn: PlannedTurn, logFile: string, dir: string): Promise<number> {
  const name = containerName(net, turn);
  rmSync(join(dir, WIRED), { force: true });
  const pid = net.containers.includes(name) ? await startAgain(name) : await create(net, turn, name, dir, logFile);
  await wire(net, turn, pid, dir);
  await waitForStun(net, turn, pid, exitOf(pid), logFile).finally(() => clearInterval(watchers.get(pid)));
  return pid;
}

async function create(net: StartedNetwork, turn: PlannedTurn, name: string, dir: string, logFile: string): Promise<number> {
  // Read when testcontainers first needs a reaper; it must never run for a lab (see top of file).
  process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
  const { GenericContainer, getContainerRuntimeClient, ImageName } = await import('testcontainers');
  const image = coturnImage(turn);
  const client = await getContainerRuntimeClient().catch((e: unknown) => {
    throw new LabError('ERR_DOCKER', `the container TURN provider needs Docker, which is not reachable: ${message(e)}`, {
      hint: 'start it (sh scripts/setup-docker installs and starts Debian\'s docker.io), or use turn provider "process"',
    });
  });
  const present = await client.image.exists(ImageName.fromString(image));
  net.trackContainer(name);
  let started;
  try {
    started = await new GenericContainer(image)
      .withName(name)
      .withNetworkMode('none')
      // The upstream image runs as nobody; the lab's key and log file are root's, as for the process provider.
      .withUser('0:0')
      .withEntrypoint(['/bin/sh', '-c'])
      .withCommand([containerScript(dir, logFile)])
      .withBindMounts([{ source: dir, target: dir, mode: 'rw' }])
      .withLabels({ 'icelab.lab': net.id, 'icelab.host': turn.name })
      .start();
  } catch (e) {
    throw present
      ? new LabError('ERR_TURN_CONTAINER', `starting the coturn container ${name} from ${image} failed: ${message(e)}`, { hint: 'see `docker logs ' + name + '` and ' + logFile })
      : new LabError('ERR_TURN_IMAGE', `the coturn image "${image}" is not on this machine and could not be pulled: ${message(e)}`, {
          hint: `without a registry build it: sh scripts/build-images, then set ICELAB_COTURN_IMAGE=${LOCAL_COTURN_IMAGE} (or turn.image in the topology)`,
        });
  }
  const info = await client.container.inspect(client.container.getById(started.getId()));
  return info.State.Pid;
}

/** After a restart's kill: the same container (same mounts, same name) started again. */
async function startAgain(name: string): Promise<number> {
  await runScript(`docker wait ${name} >/dev/null\ndocker start ${name} >/dev/null`, `starting the coturn container ${name} again`);
  const r = await run(['docker', 'inspect', '--format', '{{.State.Pid}}', name]);
  const pid = Number(r.stdout.trim());
  if (!(pid > 0)) throw new LabError('ERR_TURN_CONTAINER', `container ${name} is not running after docker start: ${r.stderr.trim()}`, { hint: `docker logs ${name}` });
  return pid;
}

/**
 * Moves the TURN host's interface into the container's namespace, gives that namespace the host's
 * name, and configures it as the lab's build script configures the host (addresses, route, nftables).
 */
async function wire(net: StartedNetwork, turn: PlannedTurn, pid: number, dir: string): Promise<void> {
  const ns = net.ns(turn.name);
  const up = uplinks(net.topology, net.id).find((u) => u.node === turn.name)!;
  await runScript(
    [
      'set -e',
      ...renderUplinkMove(up, ns, pid),
      `nsenter --net=/run/netns/${ns} nft -f - <<'EOF'\n${renderTurnNft()}EOF`,
      `touch ${dir}/${WIRED}`,
    ].join('\n'),
    `wiring the coturn container into lab host "${turn.name}"`,
    { lab: net.id, host: turn.name },
  );
}

const watchers = new Map<number, NodeJS.Timeout>();
/** Resolves when the container's process is gone (a bad image or config), so readiness fails fast. */
function exitOf(pid: number): Promise<number> {
  return new Promise((resolve) => {
    const t = setInterval(() => {
      if (!running(pid)) {
        clearInterval(t);
        resolve(-1);
      }
    }, 50);
    t.unref();
    watchers.set(pid, t);
  });
}

function running(pid: number): boolean {
  try {
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z');
  } catch {
    return false;
  }
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0]!;

/** For tests and the bench: the image is on this machine (no pull). */
export async function imagePresent(image: string): Promise<boolean> {
  return (await run(['docker', 'image', 'inspect', image])).code === 0;
}
