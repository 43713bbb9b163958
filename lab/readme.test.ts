import { expect } from 'chai';
import { readFileSync } from 'node:fs';

const read = (path: string) => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');

/** The README's scenario examples are a suite file the main job runs: here they are kept the same. */
describe('README', () => {
  it('the scenario examples are suites/connectivity/readme-example.test.ts, line for line', () => {
    const blocks = [...read('README.md').matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
    const file = read('suites/connectivity/readme-example.test.ts');
    const [first, second] = [blocks.find((b) => b.includes('my-scenario.test.ts'))!, blocks.find((b) => b.includes('Call.open('))!];
    const lines = (s: string) => s.split('\n').map((l) => l.replace(/ \/\/ .*$/, '').trim()).filter((l) => l && !l.startsWith('//'));
    const fileLines = new Set(lines(file));
    for (const l of [...lines(first), ...lines(second)]) expect(fileLines.has(l), `README line not in the suite file: ${l}`).to.equal(true);
  });

  it('has the sections its own hints point to', () => {
    const headings = [...read('README.md').matchAll(/^#+ (.+)$/gm)].map((m) => m[1]!.trim());
    // TopologyError and the topology-file errors say: see README, "Topology files".
    expect(headings).to.include('Topology files');
  });
});
