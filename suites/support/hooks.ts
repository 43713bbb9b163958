import { closeSuiteEnv } from './fixture.ts';

/** Loaded by mocha's `require` for the suites: the shared lab and browsers go when the run ends. */
export const mochaHooks = {
  async afterAll(): Promise<void> {
    await closeSuiteEnv();
  },
};
