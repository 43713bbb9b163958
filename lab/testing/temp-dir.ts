import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Beside each test dir, `<dir>.owner` holds the pid of the test process that made it. */
const OWNER = '.owner';
const made: string[] = [];
const remove = (dir: string) => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(dir + OWNER, { force: true });
};
// Synchronous on purpose: 'exit' handlers cannot wait. Runs after mocha's last hook.
process.once('exit', () => made.forEach(remove));

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Test dirs left by a test process that was killed (no 'exit' handler ran): removed by the next one. */
function sweep(): void {
  for (const f of readdirSync(tmpdir())) {
    if (!f.startsWith('icelab-') || !f.endsWith(OWNER)) continue;
    const pid = Number(readFileSync(join(tmpdir(), f), 'utf8'));
    if (Number.isInteger(pid) && pid > 0 && !alive(pid)) remove(join(tmpdir(), f.slice(0, -OWNER.length)));
  }
}
sweep();

/** A temp dir for one test (an app directory, evidence, a tarball), removed when the test process exits. */
export function testDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `icelab-${prefix}-`));
  writeFileSync(dir + OWNER, String(process.pid));
  made.push(dir);
  return dir;
}
