#!/usr/bin/env node
// Runs the built JavaScript in dist/ (npm's prepare step builds it). When a file under lab/ is newer
// than the build (an edit in a checkout; tests are not built), runs the TypeScript through tsx
// instead: a stale build never shadows an edit. An installed package always runs its build. The check is one stat per source file, about a millisecond.
import { readdirSync, statSync } from 'node:fs';

const root = new URL('../', import.meta.url);
const builtAt = (() => {
  try {
    return statSync(new URL('dist/.built', root)).mtimeMs;
  } catch {
    return -1;
  }
})();
// An installed copy is never edited, and unpacking gives lab/ newer times than dist/.built.
const installed = root.pathname.includes('/node_modules/');
const built = (f) => /\.(ts|c?js)$/.test(f) && !/\.test\.ts$/.test(f);
const fresh =
  builtAt > 0 &&
  (installed || readdirSync(new URL('lab/', root), { recursive: true, encoding: 'utf8' }).every((f) => !built(f) || statSync(new URL(`lab/${f}`, root)).mtimeMs <= builtAt));

if (fresh) await import('../dist/lab/cli/main.js');
else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../lab/cli/main.ts');
}
