import { readFileSync } from 'node:fs';

const ICE_STATS = readFileSync(new URL('./ice-stats.js', import.meta.url), 'utf8');

/**
 * An in-page script with the shared getStats readers (ice-stats.js) before it, in one block: the
 * readers' names stay out of the page's globals (the app recorder runs in a team's own pages).
 */
export const withIceStats = (file: URL): string => `{\n${ICE_STATS}\n${readFileSync(file, 'utf8')}\n}`;
