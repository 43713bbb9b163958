/**
 * Bench section `turn`: TURN ready time, process vs container provider, in one run. Each sample
 * builds a small lab network, then times `startCoturn` — certificates, configuration, the server
 * (turnserver in the TURN host, or the coturn image via testcontainers, wired into that host) — until
 * a STUN binding answers; then `restart()` (server killed, started again, STUN answered), and the
 * lab is removed. The container image is the provider's own choice (ICELAB_COTURN_IMAGE, else
 * upstream coturn/coturn); a missing image or Docker makes that half "unavailable", not a failure.
 */
import type { BenchOptions } from '../bench.ts';
import { stats, time } from '../bench.ts';
import { startNetwork } from '../../lab/network/network.ts';
import { run } from '../../lab/network/run.ts';
import { planTopology } from '../../lab/topology/topology.ts';
import { startCoturn } from '../../lab/turn/coturn.ts';
import { coturnImage, imagePresent } from '../../lab/turn/container.ts';

export async function turn({ runs, log }: BenchOptions): Promise<unknown> {
  const out: Record<string, unknown> = {};
  for (const provider of ['process', 'container'] as const) {
    const plan = planTopology({ hosts: [{ name: 'open', nat: 'open' }], turn: [{ provider }] });
    const image = coturnImage(plan.turn[0]!);
    if (provider === 'container') {
      if ((await run(['docker', 'info'])).code !== 0) {
        out[provider] = 'unavailable: docker not running (sh scripts/setup-docker)';
        continue;
      }
      if (!(await imagePresent(image))) {
        out[provider] = `unavailable: image ${image} missing (sh scripts/build-images; ICELAB_COTURN_IMAGE=icelab/coturn:bookworm)`;
        continue;
      }
    }
    const ready: number[] = [];
    const restart: number[] = [];
    for (let i = 0; i < runs; i++) {
      const net = await startNetwork(plan, { id: `benchturn${i}` });
      try {
        const [readyMs, coturn] = await time(() => startCoturn(net, plan.turn[0]!));
        const [restartMs] = await time(() => coturn.restart());
        ready.push(readyMs);
        restart.push(restartMs);
        log(`turn ${provider} run ${i + 1}/${runs}: ready ${readyMs.toFixed(0)} ms, restart ${restartMs.toFixed(0)} ms`);
      } finally {
        await net.stop();
      }
    }
    out[provider] = { ...(provider === 'container' ? { image } : {}), readyMs: stats(ready), restartMs: stats(restart) };
  }
  return { runs, what: 'startCoturn until a STUN binding answers (certificates, config, server); restart = kill and start again', ...out };
}
