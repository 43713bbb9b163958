import { LabError } from '../topology/errors.ts';

/** Bad command-line input: a LabError with the option and its fix, exit code 2. */
export const usage = (message: string, hint: string): LabError & { exitCode: number } => Object.assign(new LabError('ERR_USAGE', message, { hint }), { exitCode: 2 });
