import * as allure from 'allure-js-commons';
import { gate, suiteEngines } from '../support/fixture.ts';
import { API_PAGES, openApi, runCheck } from './api-page.ts';

/** Legacy vendor-prefixed constructors. The WebRTC spec defines none, so "undefined" is the spec result. */
const PREFIXED = ['webkitRTCPeerConnection', 'mozRTCPeerConnection'] as const;

describe('api: vendor-prefixed constructors', function () {

  for (const name of PREFIXED) {
    describe(name, function () {
      for (const engine of suiteEngines()) {
        it(engine, async function () {
          await allure.subSuite(name);
          await allure.description(`Is \`${name}\` defined, and is it the same object as \`RTCPeerConnection\`? The spec defines no prefixed names: expected \`undefined\`.`);
          const { page, version } = await openApi(this, API_PAGES, 'vendor prefixes', engine);
          const o = await runCheck(page, 'config', 'prefix', name);
          await gate(`api/prefixes/${name}`, [{ engine, version }], o.observed, 'undefined');
        });
      }
    });
  }
});
