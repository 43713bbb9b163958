import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The icelab package (package.json, suites/), found the same from lab/ (run through tsx) and from
 * dist/lab/ (the build): the nearest directory upwards with a package.json.
 */
export const PACKAGE_ROOT = ((): string => {
  for (let d = dirname(fileURLToPath(import.meta.url)); ; d = dirname(d)) {
    if (existsSync(join(d, 'package.json'))) return d;
    if (dirname(d) === d) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
  }
})();
