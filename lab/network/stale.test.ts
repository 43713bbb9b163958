import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeStaleLabs } from './network.ts';

describe('crash leftovers outside the lab: browser profiles', () => {
  it('the next start removes a Playwright profile no process uses (a kill -9 left it), and keeps one in use', async () => {
    const orphan = mkdtempSync(join(tmpdir(), 'playwright_chromiumdev_profile-'));
    const held = mkdtempSync(join(tmpdir(), 'playwright_firefoxdev_profile-'));
    const hour = (Date.now() - 3_600_000) / 1000;
    for (const d of [orphan, held]) utimesSync(d, hour, hour);
    // A process whose command line names the profile, as a browser's --user-data-dir / --profile does.
    const user = spawn('sh', ['-c', 'sleep 30', held], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 200));
      await removeStaleLabs();
      expect(existsSync(orphan), 'orphan removed').to.equal(false);
      expect(existsSync(held), 'profile in use kept').to.equal(true);
    } finally {
      user.kill('SIGKILL');
    }
    const young = mkdtempSync(join(tmpdir(), 'playwright_chromiumdev_profile-'));
    await removeStaleLabs();
    expect(existsSync(young), 'a profile made moments ago may belong to a launch under way').to.equal(true);
    for (const d of [young, held]) rmSync(d, { recursive: true, force: true });
  });
});
