import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made: string[] = [];
// Synchronous on purpose: 'exit' handlers cannot wait. Runs after mocha's last hook.
process.once('exit', () => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** A temp dir for one test (an app directory, evidence, a tarball), removed when the test process exits. */
export function testDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `icelab-${prefix}-`));
  made.push(dir);
  return dir;
}
