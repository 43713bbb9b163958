import { existsSync, readFileSync, statSync } from 'node:fs';

/** A server's log from `fromByte` on ('' before it exists): evidence takes the part written during a test. */
export function logFrom(file: string, fromByte = 0): string {
  try {
    return readFileSync(file).subarray(fromByte).toString();
  } catch {
    return '';
  }
}
/** Where a log ends now (0 before it exists): the mark a test takes its part from. */
export const logSize = (file: string): number => (existsSync(file) ? statSync(file).size : 0);
