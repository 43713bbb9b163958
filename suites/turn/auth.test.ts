import * as allure from 'allure-js-commons';
import { gate } from '../support/fixture.ts';
import { probe } from './turn-client.ts';
import { attachText, turnTest } from './support.ts';

describe('TURN authentication', function () {
  it('answers an Allocate without credentials with 401, REALM and NONCE', async function () {
    const t = await turnTest('authentication');
    const p = await probe<{ code: number; realm: string | null; nonce: boolean }>(t, 'udp', 'no-credentials', { auth: null });
    await attachText('turn-probe transcript', p.transcript);
    await gate('turn/auth/no-credentials', [], `${p.result.code}${p.result.realm ? ' with REALM' : ''}${p.result.nonce ? ' with NONCE' : ''}`, '401 with REALM with NONCE');
  });

  it('refuses a wrong password (401)', async function () {
    const t = await turnTest('authentication');
    const p = await probe<{ code: number }>(t, 'udp', 'authenticate', { auth: t.wrongPassword() });
    await attachText('turn-probe transcript', p.transcript);
    // RFC 8489 §9.2.4: a bad MESSAGE-INTEGRITY is answered 401 (441 is for other credentials on an existing allocation).
    await gate('turn/auth/wrong-password', [], String(p.result.code), '401');
  });

  it('refuses expired REST credentials (timestamp in the past)', async function () {
    const t = await turnTest('authentication');
    const expired = t.expiredCredentials();
    if (!expired) this.skip(); // needs ICELAB_TURN_SECRET
    const p = await probe<{ code: number }>(t, 'udp', 'authenticate', { auth: expired });
    await attachText('turn-probe transcript', p.transcript);
    await gate('turn/auth/expired-rest', [], String(p.result.code), '401');
  });

  it('a nonce issued to another connection: accepted, or 438 with a fresh NONCE that works (RFC 8489 allows both)', async function () {
    const t = await turnTest('authentication');
    const p = await probe<{ allocate: number; stale: number; newNonce: boolean; retryWithNewNonce: number }>(t, 'udp', 'stale-nonce');
    await attachText('turn-probe transcript', p.transcript);
    const r = p.result;
    // RFC 8489 §9.2 does not require a nonce to be bound to its 5-tuple: a server may accept it
    // (0); if it calls it stale (438) it must send a fresh NONCE that works.
    const seen = `${r.stale}${r.newNonce ? ' with NONCE' : ''}, retry ${r.retryWithNewNonce}`;
    await gate('turn/auth/stale-nonce', [], r.stale === 0 || seen === '438 with NONCE, retry 0' ? 'accepted, or 438 with a fresh NONCE that works' : seen, 'accepted, or 438 with a fresh NONCE that works');
    await allure.parameter('nonce from another connection', seen);
  });
});
