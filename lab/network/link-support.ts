import { statSync } from 'node:fs';
import { release } from 'node:os';
import { LabError } from '../topology/errors.ts';
import type { LinkSupport } from '../topology/nat.ts';
import { MACHINE_CACHE, bootId, readCached, writeCached } from './machine-cache.ts';
import { hintFor, run } from './run.ts';

let probed: Promise<LinkSupport> | null = null;

/**
 * What this kernel can do to a link, found once per boot (the probe costs two spawns, ≈0.1 s under
 * load, on every start otherwise). Loss (nftables numgen) and rate (tbf) are taken as given; netem is
 * tried on the loopback of a throwaway network namespace, which also loads sch_netem when it is a
 * module. Needs root, like the lab.
 */
export function probeLinkSupport(): Promise<LinkSupport> {
  probed ??= cachedLinkSupport().catch((e: unknown) => {
    probed = null;
    throw e;
  });
  return probed;
}

/** The answer holds for this boot and these modules: installing a module package rewrites modules.dep. */
export function linkSupportKey(): string {
  const modules = statSync(`/lib/modules/${release()}/modules.dep`, { throwIfNoEntry: false })?.mtimeMs ?? 0;
  return `${bootId()} ${release()} ${modules}`;
}

/** The machine cache's answer for this boot, probed and stored when it has none. */
export async function cachedLinkSupport(root = MACHINE_CACHE): Promise<LinkSupport> {
  const key = linkSupportKey();
  const cached = readCached<LinkSupport>('link-support', key, root);
  if (cached) return cached;
  const support = await probeNetem();
  writeCached('link-support', key, support, root);
  return support;
}

async function probeNetem(): Promise<LinkSupport> {
  const argv = ['unshare', '--net', 'tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms'];
  const r = await run(argv, { timeoutMs: 10_000 });
  if (r.code === 0) return { netem: true };
  if (/Specified qdisc kind is unknown/i.test(r.stderr)) return { netem: false };
  const detail = r.stderr.trim() || `exit ${r.code}`;
  throw new LabError('ERR_LINK_PROBE', `could not find out whether this kernel has the netem qdisc (\`${argv.join(' ')}\`: ${detail})`, {
    hint: hintFor(detail) ?? 'run it as root on a machine with iproute2 and util-linux (unshare)',
  });
}
