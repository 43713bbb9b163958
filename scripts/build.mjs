// Builds the CLI and library into dist/ (npm runs it as `prepare`, so `npm ci` and `npm pack` build):
// tsc for the TypeScript, a copy of the plain JavaScript files the lab loads at run time, then a
// stamp bin/icelab.js compares with the sources' times (an edit after the build runs from source).
import { execFileSync } from 'node:child_process';
import { cpSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const dist = join(root, 'dist');
rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
for (const f of readdirSync(join(root, 'lab'), { recursive: true, encoding: 'utf8' })) {
  if (/\.(c?js)$/.test(f)) cpSync(join(root, 'lab', f), join(dist, 'lab', f));
}
writeFileSync(join(dist, '.built'), `${new Date().toISOString()}\n`);
