import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { expect } from 'chai';

const MODULE = new URL('./temp-dir.ts', import.meta.url).href;
/** A test process: makes a test dir, prints it, then ends as `end` says. */
const child = (end: string) => {
  const script = `const { testDir } = await import(${JSON.stringify(MODULE)}); console.log(testDir('sweep')); ${end}`;
  return spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
};

describe('testDir', () => {
  it('is removed when the test process exits, and after a kill -9 by the next test process', () => {
    const normal = child('').stdout.trim();
    expect(normal).to.match(/icelab-sweep-/);
    expect(existsSync(normal), 'removed on exit').to.equal(false);
    const killed = child("process.kill(process.pid, 'SIGKILL');").stdout.trim();
    expect(existsSync(killed), 'left by the killed process').to.equal(true);
    expect(existsSync(`${killed}.owner`)).to.equal(true);
    execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', `await import(${JSON.stringify(MODULE)})`]);
    expect(existsSync(killed), 'swept by the next process').to.equal(false);
    expect(existsSync(`${killed}.owner`)).to.equal(false);
  });
});
