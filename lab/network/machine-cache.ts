import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { STATE_ROOT } from './names.ts';

/**
 * Facts and files every lab on this machine can share (the lab CA, what the kernel can do), so a
 * start does not pay a spawn for them each time. On tmpfs beside the labs' state: a reboot clears it.
 * The "-" keeps it from being taken for a lab id; `icelab down --all` removes it.
 */
export const MACHINE_CACHE = join(STATE_ROOT, 'machine-cache');

/** This boot's id: a fact about the kernel holds until the next boot. */
export function bootId(): string {
  return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
}

/** The cached JSON value under `name` if it was stored with this `key`; null otherwise. */
export function readCached<T>(name: string, key: string, root = MACHINE_CACHE): T | null {
  try {
    const entry = JSON.parse(readFileSync(join(root, `${name}.json`), 'utf8')) as { key: string; value: T };
    return entry.key === key ? entry.value : null;
  } catch {
    return null;
  }
}

/** Stores a value in one rename, so a concurrent reader sees the old entry or the new one, never half. */
export function writeCached(name: string, key: string, value: unknown, root = MACHINE_CACHE): void {
  mkdirSync(root, { recursive: true, mode: 0o700 });
  const tmp = join(root, `.${name}-${process.pid}-${randomBytes(4).toString('hex')}`);
  writeFileSync(tmp, JSON.stringify({ key, value }));
  renameSync(tmp, join(root, `${name}.json`));
}

/** `icelab down --all`: labs that are up keep working (each copied what it uses into its own dir). */
export function removeMachineCache(root = MACHINE_CACHE): void {
  rmSync(root, { recursive: true, force: true });
}
