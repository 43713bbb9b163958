/**
 * A service from an image, wired into the lab as the container TURN provider is (lab/turn/container.ts):
 * the container starts with no network, the service host's interface moves into its namespace, and
 * that namespace takes over the host's name, so readiness, `lab.exec` and teardown see it like any
 * lab host. The container waits for the wiring before its command runs (a server binding its
 * address would fail before), and appends its output to the service's log, bind-mounted.
 *
 * Started with testcontainers without its reaper (a lab left up by `icelab up` outlives this
 * process; no registry may be reachable for the reaper's image): the lab records the container
 * before it exists, and its teardown removes it by that name.
 */
import { chmodSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { LabError } from '../topology/errors.ts';
import type { PlannedService, ServiceSource } from '../topology/topology.ts';
import { nsName } from '../network/names.ts';
import type { StartedNetwork } from '../network/network.ts';
import { renderHostFirewall, renderUplinkMove, uplinks } from '../network/render.ts';
import { runScript } from '../network/run.ts';
import type { Running } from './ready.ts';

type ImageSource = Extract<ServiceSource, { kind: 'image' }>;
const WIRED = '.wired';

/** Container name: the lab's namespace name of the service's host (leftovers() finds it by the lab prefix). */
export const serviceContainerName = (net: StartedNetwork, svc: PlannedService): string => nsName(net.id, svc.name);

/** The container's entrypoint: wait for the wiring, then run the command with its output in the log. */
function entrypoint(dir: string, logFile: string): string[] {
  const wait = `i=0; until [ -e ${dir}/${WIRED} ]; do i=$((i + 1)); if [ $i -gt 600 ]; then echo "icelab: network not wired within 30 s" >> ${logFile}; exit 3; fi; sleep 0.05; done`;
  return ['/bin/sh', '-c', `${wait}; exec "$@" >> ${logFile} 2>&1`, 'icelab-service'];
}

export async function launchImage(net: StartedNetwork, svc: PlannedService, src: ImageSource, logFile: string, env: Record<string, string>): Promise<Running> {
  const dir = dirname(logFile);
  // The image's user may not be root: it appends to the log and reads the certificate.
  chmodSync(dir, 0o777);
  process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
  const { GenericContainer, getContainerRuntimeClient, ImageName } = await import('testcontainers');
  const client = await getContainerRuntimeClient().catch((e: unknown) => {
    throw new LabError('ERR_DOCKER', `service "${svc.name}" runs image ${src.image}, which needs Docker, and Docker is not reachable: ${message(e)}`, {
      hint: "start it (sh scripts/setup-docker installs and starts Debian's docker.io), or give the service a command instead of an image",
      context: { service: svc.name },
    });
  });
  const present = await client.image.exists(ImageName.fromString(src.image));
  if (!present) throw missingImage(svc, src.image, 'it is not on this machine');
  const command = src.command !== null ? ['/bin/sh', '-c', src.command] : await imageCommand(src.image);
  const name = serviceContainerName(net, svc);
  net.trackContainer(name);
  let container = new GenericContainer(src.image)
    .withName(name)
    .withNetworkMode('none')
    .withEnvironment(env)
    .withEntrypoint(entrypoint(dir, logFile))
    .withCommand(command)
    .withBindMounts([
      { source: dir, target: dir, mode: 'rw' },
      { source: env.ICELAB_CA_FILE!, target: env.ICELAB_CA_FILE!, mode: 'ro' },
      // The lab's names, as `ip netns exec` gives every other lab host.
      { source: `/etc/netns/${net.ns(svc.name)}/hosts`, target: '/etc/hosts', mode: 'ro' },
    ])
    .withLabels({ 'icelab.lab': net.id, 'icelab.service': svc.name });
  if (src.cwd !== null) container = container.withWorkingDir(src.cwd);
  let started;
  try {
    started = await container.start();
  } catch (e) {
    throw new LabError('ERR_SERVICE_CONTAINER', `starting the container ${name} of service "${svc.name}" from ${src.image} failed: ${message(e)}`, {
      hint: `see \`docker logs ${name}\` and ${logFile}; the image needs /bin/sh (the lab waits for its network in it)`,
      context: { service: svc.name },
    });
  }
  const pid = (await client.container.inspect(client.container.getById(started.getId()))).State.Pid;
  await wire(net, svc, pid, dir);
  return { pid, ...endOf(pid) };
}

const missingImage = (svc: PlannedService, image: string, why: string) =>
  new LabError('ERR_SERVICE_IMAGE', `service "${svc.name}": image "${image}" cannot be used: ${why}`, {
    hint: `build or load it first (docker build -t ${image} …, docker load -i …, or docker pull ${image} where a registry is reachable); \`docker images\` lists what is here`,
    context: { service: svc.name, image },
  });

/** The image's own entrypoint and command (the lab's entrypoint goes before them). */
async function imageCommand(image: string): Promise<string[]> {
  const r = await runScript(`docker image inspect --format '{{json .Config.Entrypoint}} {{json .Config.Cmd}}' ${image}`, `reading the command of image ${image}`);
  const [entry, cmd] = r.stdout.trim().split(' ').map((j) => (JSON.parse(j) as string[] | null) ?? []);
  return [...entry!, ...cmd!];
}

/** The service host's interface into the container's namespace, configured as the build script configures a host. */
async function wire(net: StartedNetwork, svc: PlannedService, pid: number, dir: string): Promise<void> {
  const ns = net.ns(svc.name);
  const up = uplinks(net.topology, net.id).find((u) => u.node === svc.name)!;
  const host = net.topology.hosts.find((h) => h.name === svc.name)!;
  const lan = net.topology.routers.find((r) => r.name === host.routers[0])?.lanSubnet ?? null;
  await runScript(
    [
      'set -e',
      ...renderUplinkMove(up, ns, pid),
      ...(host.ownFirewall ? [`nsenter --net=/run/netns/${ns} nft -f - <<'EOF'\n${renderHostFirewall(host.ownFirewall, lan)}EOF`] : []),
      `touch ${join(dir, WIRED)}`,
    ].join('\n'),
    `wiring the container of service "${svc.name}" into its lab host`,
    { lab: net.id, service: svc.name },
  );
}

/** Resolves when the container's first process is gone (it is no child of ours: polled). */
function endOf(pid: number): Pick<Running, 'ended' | 'unwatch'> {
  let timer: NodeJS.Timeout | undefined;
  const ended = new Promise<string>((resolve) => {
    timer = setInterval(() => {
      try {
        if (!readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z')) return;
      } catch {
        // gone
      }
      clearInterval(timer);
      resolve('exited (its container stopped)');
    }, 50);
    timer.unref();
  });
  return { ended, unwatch: () => clearInterval(timer) };
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
